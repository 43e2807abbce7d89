import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A HOME whose ~/.asoundrc turns ALSA's default devices into files (TESTING.md): playback is
 * written raw to `outRaw`, capture reads raw 16-bit samples from `inRaw`.
 */
export function fileDeviceHome(home: string, files: { inRaw: string; outRaw: string }): string {
  mkdirSync(home, { recursive: true });
  writeFileSync(
    join(home, '.asoundrc'),
    `pcm.!default { type asym; playback.pcm "playfile"; capture.pcm "capfile" }
pcm.playfile { type file; slave.pcm "null"; file "${files.outRaw}"; format "raw" }
pcm.capfile  { type file; slave.pcm "nullcap"; file "/dev/null"; infile "${files.inRaw}"; format "raw" }
pcm.nullcap  { type null }
`,
  );
  return home;
}

/** A HOME whose ALSA default points at a sound card that does not exist: nothing plays or records. */
export function noDeviceHome(home: string): string {
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, '.asoundrc'), 'pcm.!default { type hw; card 99 }\n');
  return home;
}
