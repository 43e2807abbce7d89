import { resolve } from 'node:path';
import { loadConfig } from '../../config/index.js';
import { UsageError } from '../../errors.js';
import { PIPELINE_RATE } from '../../audio/frame.js';
import { openSpeakerSink } from '../../audio/sinks/speaker.js';
import { DEFAULT_FRAME_SAMPLES } from '../../audio/sources/stdin.js';
import { readWav } from '../../audio/wav.js';
import { parseCommandArgs, parseNumberFlag, type Command } from '../command.js';

const usage = `Usage: kai play FILE [--device NAME] [--rate HZ]

Plays a WAV file (PCM or float, any rate and channel count; played as 16 kHz mono)
through the speaker, and says how much was played.

Options:
  --device NAME  ALSA playback device (default: audio.playbackDevice; see kai devices)
  --rate HZ      open the device at this rate and resample to it (default 16000,
                 which ALSA's plug layer converts for the card)
  -h, --help     show this help
`;

export const command: Command = {
  name: 'play',
  summary: 'play a WAV file through the speaker',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs('play', argv, {
      device: { type: 'string' },
      rate: { type: 'string' },
    });
    const [file, ...extra] = positionals;
    if (file === undefined || extra.length > 0) throw new UsageError('expected one WAV file; run: kai play --help');
    const deviceRate = parseNumberFlag('rate', values.rate, 8000, 192_000);
    // The file is checked before the device, so a bad path never waits for the device probe.
    const { samples } = await readWav(resolve(io.cwd, file));
    const config = loadConfig({ env: io.env });
    const sink = await openSpeakerSink({
      device: values.device ?? config.audio.playbackDevice,
      ...(deviceRate !== undefined ? { deviceRate } : {}),
    });
    try {
      for (let i = 0; i < samples.length && !io.signal.aborted; i += DEFAULT_FRAME_SAMPLES) {
        await sink.write({
          samples: samples.subarray(i, i + DEFAULT_FRAME_SAMPLES),
          sampleRate: PIPELINE_RATE,
          timestampMs: (i * 1000) / PIPELINE_RATE,
        });
      }
      await sink.drain(io.signal);
    } finally {
      await sink.close();
    }
    const seconds = (sink.playedMs / 1000).toFixed(1);
    if (io.signal.aborted) {
      io.stderr.write(`stopped after ${seconds} s of ${file}\n`);
      return 130;
    }
    io.stdout.write(`played ${seconds} s of ${file}\n`);
    return 0;
  },
};
