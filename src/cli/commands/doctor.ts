import { execFile } from 'node:child_process';
import { checkCapture, checkPlayback, missingProgram } from '../../audio/alsa.js';
import { detectEchoCancellation } from '../../audio/echo-cancel.js';
import { keywordOf } from '../../audio/detectors.js';
import { configSchema, loadConfig, type Config } from '../../config/index.js';
import { describeError } from '../../errors.js';
import { kindLabel } from '../../models/manifest.js';
import { listModels, resolveModel, resolveModelsDir } from '../../models/store.js';
import { parseCommandArgs, type Command } from '../command.js';
import { configOption } from '../context.js';

type Level = 'ok' | 'warn' | 'fail';

interface Check {
  level: Level;
  name: string;
  detail: string;
}

export const command: Command = {
  name: 'doctor',
  summary: 'check programs, audio devices, models and config, with fixes',
  usage: `Usage: kai doctor [--json] [--config FILE]

Checks everything the assistant needs, one line per check (ok / warn / fail) with the fix:
Node.js, the recorder program, espeak-ng, ALSA capture and playback, each model, the config.
Exits 1 when any check fails.`,

  async run(argv, io) {
    const { values } = parseCommandArgs('doctor', argv, { json: { type: 'boolean', default: false }, ...configOption });
    const checks: Check[] = [];
    const report = (check: Check) => {
      checks.push(check);
      io.stdout.write(values.json ? `${JSON.stringify(check)}\n` : `${check.level.padEnd(4)}  ${check.name}: ${check.detail}\n`);
    };

    let config: Config;
    try {
      config = loadConfig({ file: values.config, env: io.env });
      report({ level: 'ok', name: 'config', detail: 'valid' });
    } catch (err) {
      config = configSchema.parse({});
      report({ level: 'fail', name: 'config', detail: `${describeError(err)}; the checks below use the defaults` });
    }

    const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
    report(
      major > 20 || (major === 20 && minor >= 19)
        ? { level: 'ok', name: 'node', detail: process.version }
        : { level: 'fail', name: 'node', detail: `${process.version} is too old; install Node.js 20.19 or newer` },
    );

    const recorder = config.audio.recorder;
    report((await hasProgram(recorder)) ? { level: 'ok', name: 'recorder', detail: `${recorder} found` } : { level: 'fail', name: 'recorder', detail: missingProgram(recorder) });
    report(
      (await hasProgram('espeak-ng'))
        ? { level: 'ok', name: 'espeak-ng', detail: 'found (offline speech)' }
        : { level: 'warn', name: 'espeak-ng', detail: `${missingProgram('espeak-ng')} (needed to speak without a TTS server)` },
    );

    const [capture, playback] = await Promise.all([
      checkCapture(config.audio.captureDevice, recorder, { timeoutMs: 3000 }),
      checkPlayback(config.audio.playbackDevice, { timeoutMs: 5000 }),
    ]);
    report(capture.ok ? { level: 'ok', name: 'capture', detail: `${config.audio.captureDevice} records` } : { level: 'fail', name: 'capture', detail: capture.reason });
    const echo = await detectEchoCancellation(config.audio.captureDevice);
    const setting = config.conversation.echoCancellation;
    const ownCanceller = config.conversation.aec !== 'off';
    report(
      echo.active || setting === 'on'
        ? { level: 'ok', name: 'echo cancellation', detail: setting === 'on' ? 'on (conversation.echoCancellation)' : echo.detail }
        : ownCanceller
          ? { level: 'ok', name: 'echo cancellation', detail: `${echo.detail}; kai's own echo canceller takes its voice out of the microphone (conversation.aec)` }
          : {
              level: 'warn',
              name: 'echo cancellation',
              detail: `${echo.detail}; to interrupt the assistant you must be clearly louder than its voice — set conversation.aec to auto, enable PipeWire/PulseAudio echo-cancel (README: Barge-in and echo) or use a headset`,
            },
    );
    report(playback.ok ? { level: 'ok', name: 'playback', detail: `${config.audio.playbackDevice} plays` } : { level: 'fail', name: 'playback', detail: playback.reason });

    const modelsDir = resolveModelsDir(config.models.dir, io.env, io.cwd);
    const configured = new Set(config.wakeword.models.map(keywordOf));
    for (const { entry, status } of await listModels(modelsDir)) {
      const needed = entry.kind !== 'wakeword-head' || configured.has(entry.name);
      const name = `model ${entry.name}`;
      if (status === 'installed' || status === 'bundled') report({ level: 'ok', name, detail: `${status}, checksum verified` });
      else if (!needed) report({ level: 'ok', name, detail: `not installed (not in wakeword.models; kai models pull ${entry.name} to add it)` });
      else {
        const problem = status === 'missing' ? 'not installed' : 'corrupt (checksum mismatch)';
        report({ level: 'fail', name, detail: `${kindLabel(entry.kind)} ${problem}; run: kai models pull ${entry.name}` });
      }
    }
    for (const custom of config.wakeword.models.filter((m) => m.toLowerCase().endsWith('.onnx'))) {
      try {
        report({ level: 'ok', name: `model ${keywordOf(custom)}`, detail: `custom head ${await resolveModel(custom, modelsDir, { cwd: io.cwd })}` });
      } catch (err) {
        report({ level: 'fail', name: `model ${keywordOf(custom)}`, detail: describeError(err) });
      }
    }

    const failed = checks.filter((c) => c.level === 'fail').length;
    const warned = checks.filter((c) => c.level === 'warn').length;
    const warnings = warned === 1 ? '1 warning' : `${warned} warnings`;
    if (!values.json) io.stdout.write(failed ? `${failed} failed, ${warnings}\n` : `all checks passed${warned ? `, ${warnings}` : ''}\n`);
    return failed > 0 ? 1 : 0;
  },
};

function hasProgram(program: string): Promise<boolean> {
  return new Promise((resolve) => execFile('sh', ['-c', `command -v ${program}`], (err) => resolve(!err)));
}
