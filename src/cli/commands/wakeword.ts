import { relative } from 'node:path';
import { loadWakeWordDetector } from '../../audio/detectors.js';
import { readWav } from '../../audio/wav.js';
import { detectInRecording, type WakeHit } from '../../audio/wakeword/index.js';
import { describeError, UsageError } from '../../errors.js';
import { configOption, commandContext } from '../context.js';
import { parseCommandArgs, parseNumberFlag, type Command } from '../command.js';

export const command: Command = {
  name: 'wakeword',
  summary: 'detect wake words in WAV files',
  usage: `Usage: kai wakeword FILE... [--model NAME]... [--threshold X] [--json] [--config FILE]

Runs the openWakeWord heads over each WAV file and prints every detection.
  --model NAME     a head from models/manifest.json or a path to an .onnx head (repeatable;
                   default from config wakeword.models: hey_jarvis)
  --threshold X    score 0..1 a head must reach (default from config: 0.5)
  --json           one JSON object per detection: {"file","keyword","score","startMs","endMs"}`,

  async run(argv, io) {
    const { values, positionals } = parseCommandArgs('wakeword', argv, {
      model: { type: 'string', multiple: true },
      threshold: { type: 'string' },
      json: { type: 'boolean', default: false },
      ...configOption,
    });
    if (positionals.length === 0) throw new UsageError('give at least one WAV file; run: kai wakeword --help');
    const threshold = parseNumberFlag('threshold', values.threshold, 0, 1);
    const overrides: Record<string, unknown> = {};
    if (values.model?.length) overrides['wakeword.models'] = values.model;
    if (threshold !== undefined) {
      overrides['wakeword.threshold'] = threshold;
      overrides['wakeword.thresholds'] = {};
    }
    const { config, modelsDir } = commandContext(io, values.config, overrides);
    const detector = await loadWakeWordDetector(config.wakeword, modelsDir, { cwd: io.cwd });

    const counts = new Map<string, number>(detector.keywords.map((k) => [k, 0]));
    let failed = 0;
    for (const file of positionals) {
      if (io.signal.aborted) break;
      let hits: WakeHit[];
      let durationMs: number;
      try {
        const audio = await readWav(file);
        durationMs = (audio.samples.length * 1000) / 16_000;
        hits = await detectInRecording(detector, audio.samples);
      } catch (err) {
        failed += 1;
        io.stderr.write(`kai wakeword: ${describeError(err)}\n`);
        continue;
      }
      for (const hit of hits) {
        counts.set(hit.keyword, (counts.get(hit.keyword) ?? 0) + 1);
        const endMs = Math.min(hit.endMs, durationMs);
        const startMs = Math.min(hit.startMs, endMs);
        if (values.json) {
          io.stdout.write(`${JSON.stringify({ file, keyword: hit.keyword, score: round(hit.score, 4), startMs, endMs })}\n`);
        } else {
          io.stdout.write(
            `${relative(io.cwd, file) || file}: ${hit.keyword} at ${seconds(startMs)}–${seconds(endMs)} s (score ${hit.score.toFixed(2)})\n`,
          );
        }
      }
    }
    if (!values.json) {
      const total = [...counts.values()].reduce((a, b) => a + b, 0);
      const byKeyword = [...counts].map(([k, n]) => `${k}: ${n}`).join(', ');
      const files = positionals.length - failed;
      io.stdout.write(`${total} detection${total === 1 ? '' : 's'} in ${files} file${files === 1 ? '' : 's'} (${byKeyword})\n`);
    }
    return failed > 0 ? 2 : 0;
  },
};

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;
const seconds = (ms: number) => (ms / 1000).toFixed(2);
