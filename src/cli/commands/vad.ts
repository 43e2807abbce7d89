import { loadVoiceActivityDetector } from '../../audio/detectors.js';
import { speechSegments } from '../../audio/vad/index.js';
import { readWav } from '../../audio/wav.js';
import { UsageError } from '../../errors.js';
import { parseCommandArgs, type Command } from '../command.js';
import { commandContext, configOption } from '../context.js';

export const command: Command = {
  name: 'vad',
  summary: 'list the speech segments of a WAV file',
  usage: `Usage: kai vad FILE [--json] [--config FILE]

Runs the Silero voice activity detector over FILE and prints each speech segment.
  --json   one JSON object per segment: {"file","startMs","endMs"}
Thresholds, minimum speech/silence and padding come from config (vad.*).`,

  async run(argv, io) {
    const { values, positionals } = parseCommandArgs('vad', argv, { json: { type: 'boolean', default: false }, ...configOption });
    const [file, ...extra] = positionals;
    if (file === undefined) throw new UsageError('give a WAV file; run: kai vad --help');
    if (extra.length > 0) throw new UsageError('kai vad takes one file; run it once per file');
    const { config, modelsDir } = commandContext(io, values.config);
    const audio = await readWav(file);
    const vad = await loadVoiceActivityDetector(config.vad, modelsDir);
    const segments = await speechSegments(vad, audio.samples);
    for (const { startMs, endMs } of segments) {
      io.stdout.write(
        values.json
          ? `${JSON.stringify({ file, startMs: Math.round(startMs), endMs: Math.round(endMs) })}\n`
          : `${(startMs / 1000).toFixed(2)}–${(endMs / 1000).toFixed(2)} s  (${((endMs - startMs) / 1000).toFixed(2)} s)\n`,
      );
    }
    if (!values.json) {
      const speechMs = segments.reduce((sum, s) => sum + s.endMs - s.startMs, 0);
      const n = segments.length;
      io.stdout.write(`${n} speech segment${n === 1 ? '' : 's'}, ${(speechMs / 1000).toFixed(2)} s of speech in ${(audio.samples.length / 16_000).toFixed(2)} s\n`);
    }
    return 0;
  },
};
