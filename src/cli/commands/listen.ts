import { loadVoiceActivityDetector, loadWakeWordDetector } from '../../audio/detectors.js';
import type { AudioSource } from '../../audio/frame.js';
import { levelDbfs, meterBar } from '../../audio/level.js';
import { MicSource } from '../../audio/sources/mic.js';
import { stdinSource } from '../../audio/sources/stdin.js';
import { parseCommandArgs, parseNumberFlag, type Command, type CommandIo } from '../command.js';
import { commandContext, configOption } from '../context.js';

export const command: Command = {
  name: 'listen',
  summary: 'live microphone: wake words, speech segments and a level meter',
  usage: `Usage: kai listen [--model NAME]... [--threshold X] [--stdin] [--seconds N] [--json] [--config FILE]

Listens to the microphone (audio.recorder on audio.captureDevice) and prints each wake-word
detection and speech segment as it happens, with a level meter on the terminal. Ctrl+C stops.
  --model NAME    wake-word head(s) to run (default from config: hey_jarvis)
  --threshold X   wake-word score 0..1 (default from config: 0.5)
  --stdin         read raw 16 kHz 16-bit mono PCM from standard input instead of the microphone
  --seconds N     stop after N seconds of audio
  --json          one JSON object per event: {"t","type":"wake"|"speech_start"|"speech_end",…}`,

  async run(argv, io) {
    const { values } = parseCommandArgs('listen', argv, {
      model: { type: 'string', multiple: true },
      threshold: { type: 'string' },
      stdin: { type: 'boolean', default: false },
      seconds: { type: 'string' },
      json: { type: 'boolean', default: false },
      ...configOption,
    });
    const threshold = parseNumberFlag('threshold', values.threshold, 0, 1);
    const limitMs = (parseNumberFlag('seconds', values.seconds, 0.1, 1e7) ?? Infinity) * 1000;
    const overrides: Record<string, unknown> = {};
    if (values.model?.length) overrides['wakeword.models'] = values.model;
    if (threshold !== undefined) Object.assign(overrides, { 'wakeword.threshold': threshold, 'wakeword.thresholds': {} });
    const { config, modelsDir } = commandContext(io, values.config, overrides);

    const wake = await loadWakeWordDetector(config.wakeword, modelsDir, { cwd: io.cwd });
    const vad = await loadVoiceActivityDetector(config.vad, modelsDir);
    const source: AudioSource = values.stdin
      ? stdinSource({ stdin: io.stdin, frameSamples: 320 })
      : MicSource.fromConfig(config, { frameSamples: 320 });
    const meter = !values.json && (io.stderr as NodeJS.WriteStream).isTTY === true;
    const print = printer(io, values.json, meter);
    const banner = `listening for ${wake.keywords.join(', ')} on ${values.stdin ? 'standard input' : `${config.audio.recorder}:${config.audio.captureDevice}`}; Ctrl+C stops\n`;

    const stop = new AbortController();
    const onAbort = () => stop.abort();
    io.signal.addEventListener('abort', onAbort, { once: true });
    let endMs = 0;
    let lastMeter = 0;
    try {
      for await (const frame of source.frames(stop.signal)) {
        if (endMs === 0 && !values.json) io.stderr.write(banner); // once the device really delivers
        endMs = frame.timestampMs + (frame.samples.length * 1000) / frame.sampleRate;
        for (const hit of await wake.process(frame)) {
          print(hit.endMs, { type: 'wake', keyword: hit.keyword, score: Math.round(hit.score * 1e4) / 1e4, startMs: hit.startMs, endMs: hit.endMs });
        }
        for (const event of await vad.process(frame)) {
          if (event.type === 'speech_start') print(event.timestampMs, { type: 'speech_start' });
          else print(event.timestampMs, { type: 'speech_end', startMs: event.startMs, endMs: event.timestampMs });
        }
        if (meter && endMs - lastMeter >= 100) {
          lastMeter = endMs;
          io.stderr.write(`\r${meterBar(levelDbfs(frame.samples))} ${levelDbfs(frame.samples).toFixed(0).padStart(4)} dBFS  speech ${vad.lastProbability.toFixed(2)}\x1b[K`);
        }
        if (endMs >= limitMs) break;
      }
    } finally {
      io.signal.removeEventListener('abort', onAbort);
      stop.abort();
      if (meter) io.stderr.write('\r\x1b[K');
    }
    for (const event of vad.flush()) {
      if (event.type === 'speech_end') print(event.timestampMs, { type: 'speech_end', startMs: event.startMs, endMs: event.timestampMs });
    }
    if (!values.json) io.stderr.write(`stopped after ${(endMs / 1000).toFixed(1)} s\n`);
    return 0;
  },
};

type ListenEvent =
  | { type: 'wake'; keyword: string; score: number; startMs: number; endMs: number }
  | { type: 'speech_start' }
  | { type: 'speech_end'; startMs: number; endMs: number };

function printer(io: CommandIo, json: boolean, clearMeter: boolean) {
  return (t: number, event: ListenEvent) => {
    const at = Math.round(t);
    if (json) {
      io.stdout.write(`${JSON.stringify({ t: at, ...event })}\n`);
      return;
    }
    const clock = `${(at / 1000).toFixed(2).padStart(8)} s`;
    const text =
      event.type === 'wake'
        ? `wake ${event.keyword} (score ${event.score.toFixed(2)})`
        : event.type === 'speech_start'
          ? 'speech started'
          : `speech ended (${((event.endMs - event.startMs) / 1000).toFixed(2)} s)`;
    io.stdout.write(`${clearMeter ? '\r\x1b[K' : ''}${clock}  ${text}\n`);
  };
}
