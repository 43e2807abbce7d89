import { execFile, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { AudioDeviceError } from '../errors.js';
import { startRecorder, type RecorderName } from './sources/recorder.js';

/*
 * ALSA device discovery and probing. Nothing here loads the `speaker` native module: with no
 * usable ALSA "default" playback device, merely loading it aborts the process (SIGABRT, an
 * assertion inside alsa-lib), so every probe that could touch a device runs in a child process.
 * Children inherit process.env, exactly like the in-process speaker and recorder will.
 */

export type Direction = 'playback' | 'capture';

/** A PCM name from `aplay -L` / `arecord -L` (what audio.playbackDevice / captureDevice take). */
export interface PcmDevice {
  name: string;
  description: string;
}

/** A hardware device from `aplay -l` / `arecord -l`. */
export interface SoundCardDevice {
  card: number;
  cardId: string;
  cardName: string;
  device: number;
  deviceName: string;
  /** A PCM name that opens this device through ALSA's format/rate conversion. */
  pcm: string;
}

export interface DeviceList {
  direction: Direction;
  pcms: PcmDevice[];
  cards: SoundCardDevice[];
}

export type DeviceCheck = { ok: true } | { ok: false; reason: string };

export interface CheckOptions {
  /** Give up on a device that neither works nor fails within this time. Default 5000. */
  timeoutMs?: number;
}

/** Debian packages that provide the programs we run. */
export const debianPackages: Readonly<Record<string, string>> = {
  aplay: 'alsa-utils',
  arecord: 'alsa-utils',
  sox: 'sox',
  rec: 'sox',
};

export function missingProgram(program: string): string {
  const pkg = debianPackages[program];
  return pkg
    ? `${program} is not installed; install the Debian package ${pkg} (sudo apt-get install ${pkg})`
    : `${program} is not installed or not on PATH`;
}

const configKey: Record<Direction, string> = { playback: 'audio.playbackDevice', capture: 'audio.captureDevice' };
const gadget: Record<Direction, string> = { playback: 'a speaker', capture: 'a microphone' };

/** Turns what ALSA printed when a device would not open into one sentence with a fix. */
export function explainOpenFailure(direction: Direction, device: string, stderr: string): string {
  const key = configKey[direction];
  if (/Device or resource busy/i.test(stderr)) {
    const fix = device === 'default' ? 'close that program' : `close that program or set ${key} to a shared device such as "default"`;
    return `the ALSA ${direction} device "${device}" is busy (another program is using it); ${fix}`;
  }
  if (device === 'default') {
    return `no ALSA ${direction} device is available (no sound card?); connect ${gadget[direction]} or set ${key}, see kai devices`;
  }
  if (new RegExp(`Unknown PCM ${escapeRegExp(device)}\\b`).test(stderr)) {
    return `ALSA has no ${direction} device named "${device}"; set ${key} to a device listed by kai devices`;
  }
  if (/Cannot get card index|cannot find card|No such device/i.test(stderr)) {
    return `the sound card of ALSA ${direction} device "${device}" is not present (unplugged?); connect it or set ${key}, see kai devices`;
  }
  const detail = alsaDetail(stderr);
  return `the ALSA ${direction} device "${device}" cannot be opened${detail ? ` (${detail})` : ''}; set ${key} to a device listed by kai devices`;
}

function alsaDetail(stderr: string): string {
  const open = /audio open error: (.+)/.exec(stderr);
  if (open?.[1]) return open[1].trim();
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('KAI_PROBE'));
  return (lines.at(-1) ?? '').slice(0, 160);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// ---------------------------------------------------------------------------------------------
// Listing

/** Parses `aplay -L` / `arecord -L`: a name at column 0, its description on indented lines. */
export function parsePcmList(text: string): PcmDevice[] {
  const devices: PcmDevice[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    if (!/^\s/.test(line)) {
      devices.push({ name: line.trim(), description: '' });
      continue;
    }
    const last = devices.at(-1);
    if (last) last.description = last.description ? `${last.description} — ${line.trim()}` : line.trim();
  }
  return devices;
}

const CARD_LINE = /^card (\d+): (\S+) \[(.*)\], device (\d+): (.*?)(?: \[(.*)\])?\s*$/;

/** Parses `aplay -l` / `arecord -l` ("card 0: PCH [HDA Intel PCH], device 0: ALC892 Analog [ALC892 Analog]"). */
export function parseCardList(text: string): SoundCardDevice[] {
  const devices: SoundCardDevice[] = [];
  for (const line of text.split('\n')) {
    const m = CARD_LINE.exec(line.trim());
    if (!m) continue;
    const [, card, cardId, cardName, device, deviceId, deviceName] = m;
    devices.push({
      card: Number(card),
      cardId: cardId ?? '',
      cardName: cardName ?? '',
      device: Number(device),
      deviceName: deviceName ?? deviceId ?? '',
      pcm: `plughw:CARD=${cardId},DEV=${device}`,
    });
  }
  return devices;
}

/** Lists the PCM names and sound-card devices ALSA knows for one direction (aplay/arecord -L and -l). */
export async function listDevices(direction: Direction, options: CheckOptions = {}): Promise<DeviceList> {
  const program = direction === 'playback' ? 'aplay' : 'arecord';
  const timeoutMs = options.timeoutMs ?? 5000;
  const [names, cards] = await Promise.all([run(program, ['-L'], timeoutMs), run(program, ['-l'], timeoutMs)]);
  return { direction, pcms: parsePcmList(names), cards: parseCardList(cards) };
}

function run(program: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(program, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return reject(new AudioDeviceError(missingProgram(program), { cause: err }));
      const why = err.killed ? `did not answer within ${timeoutMs} ms` : alsaDetail(stderr) || `failed (${err.message})`;
      reject(new AudioDeviceError(`${program} ${args.join(' ')} ${why}; check the ALSA configuration (~/.asoundrc)`, { cause: err }));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Probing

/*
 * Runs in a child node: loads `speaker` (which opens ALSA "default" on load), opens the device
 * at the rate the sink will use and plays 10 ms of silence. Markers on stderr tell the parent
 * how far it got; a SIGABRT before the load marker means "default" is unusable.
 */
const PLAYBACK_PROBE = `
const fail = (code, message) => { process.stderr.write('\\nKAI_PROBE_FAILED ' + message + '\\n'); process.exit(code); };
let Speaker;
try { Speaker = require(process.env.KAI_PROBE_SPEAKER); }
catch (err) { fail(10, String((err && err.message) || err).split('\\n')[0]); }
process.stderr.write('\\nKAI_PROBE_LOADED\\n');
const device = process.env.KAI_PROBE_DEVICE;
const rate = Number(process.env.KAI_PROBE_RATE);
const speaker = new Speaker({ channels: 1, bitDepth: 16, sampleRate: rate, device: device === 'default' ? undefined : device });
speaker.on('error', (err) => fail(11, err.message));
speaker.write(Buffer.alloc(2 * Math.ceil(rate / 100)), (err) => {
  if (err) fail(11, err.message);
  try { speaker.close(true); } catch {}
  process.exit(0);
});
`;

/** Where `speaker` resolves from here; undefined when the package is not installed. */
export function speakerModulePath(): string | undefined {
  try {
    return createRequire(import.meta.url).resolve('speaker');
  } catch {
    return undefined;
  }
}

/**
 * Finds out whether the `speaker` module can be loaded and can open `device` for 16-bit mono
 * playback at `sampleRate`, by doing exactly that in a child process.
 */
export async function checkPlayback(
  device: string,
  options: CheckOptions & { sampleRate?: number } = {},
): Promise<DeviceCheck> {
  const speakerPath = speakerModulePath();
  if (!speakerPath) {
    return { ok: false, reason: 'the speaker package is not installed; run npm install in the kai directory' };
  }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KAI_PROBE_SPEAKER: speakerPath,
    KAI_PROBE_DEVICE: device,
    KAI_PROBE_RATE: String(options.sampleRate ?? 16_000),
  };
  // The parent's loader hooks (test runners, debuggers) are not wanted in a bare probe.
  delete env.NODE_OPTIONS;
  const result = await runChild(process.execPath, ['-e', PLAYBACK_PROBE], env, options.timeoutMs ?? 5000);
  if (result.code === 0) return { ok: true };
  if (result.timedOut) {
    return { ok: false, reason: timeoutReason('playback', device, options.timeoutMs ?? 5000) };
  }
  if (result.code === 10) {
    const detail = /KAI_PROBE_FAILED (.*)/.exec(result.stderr)?.[1] ?? 'unknown error';
    return {
      ok: false,
      reason: `the speaker module cannot be loaded (${detail}); install the Debian package libasound2-dev and run: npm rebuild speaker`,
    };
  }
  if (!result.stderr.includes('KAI_PROBE_LOADED')) {
    // alsa-lib asserted (SIGABRT) while `speaker` probed "default" on load.
    if (device === 'default') return { ok: false, reason: explainOpenFailure('playback', 'default', result.stderr) };
    return {
      ok: false,
      reason:
        `the ALSA default playback device is unusable (no sound card?), and the speaker module needs it even when ` +
        `audio.playbackDevice is "${device}"; make ALSA's default a working device (pcm.!default in ~/.asoundrc), see kai devices`,
    };
  }
  return { ok: false, reason: explainOpenFailure('playback', device, result.stderr) };
}

/** Starts the configured recorder on `device` and waits for its first 10 ms of audio. */
export async function checkCapture(device: string, recorder: RecorderName, options: CheckOptions = {}): Promise<DeviceCheck> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const sampleRate = 16_000;
  const wanted = (2 * sampleRate) / 100;
  const proc = startRecorder({ recorder, device, sampleRate });
  try {
    let timer: NodeJS.Timeout | undefined;
    const outcome = await new Promise<'audio' | 'exit' | 'timeout'>((resolve) => {
      let got = 0;
      proc.stdout.on('data', (chunk: Buffer) => {
        got += chunk.length;
        if (got >= wanted) resolve('audio');
      });
      void proc.exited.then(() => resolve('exit'));
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    clearTimeout(timer);
    if (outcome === 'audio') return { ok: true };
    if (outcome === 'timeout') return { ok: false, reason: timeoutReason('capture', device, timeoutMs) };
    return { ok: false, reason: explainRecorderExit(await proc.exited, recorder, device) };
  } finally {
    proc.stop();
    proc.stdout.resume();
    // A hardware device is exclusive: the recorder that follows must not find the probe still holding it.
    await proc.exited;
  }
}

/** One sentence for a recorder that would not start or stopped. */
export function explainRecorderExit(
  exit: { code: number | null; signal: string | null; stderr: string; spawnError?: NodeJS.ErrnoException },
  recorder: RecorderName,
  device: string,
): string {
  if (exit.spawnError) {
    if (exit.spawnError.code === 'ENOENT') return missingProgram(recorder);
    return `${recorder} could not be started (${exit.spawnError.message}); check that it is installed and executable`;
  }
  if (exit.code !== 0 && exit.signal === null && /audio open error|snd_pcm_open|Unknown PCM|no default audio device|ALSA lib/i.test(exit.stderr)) {
    return explainOpenFailure('capture', device, exit.stderr);
  }
  const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
  const detail = alsaDetail(exit.stderr);
  return `the microphone recorder ${recorder} ${how}${detail ? ` (${detail})` : ''}; check ${configKey.capture} and audio.recorder, see kai devices`;
}

function timeoutReason(direction: Direction, device: string, timeoutMs: number): string {
  return `the ALSA ${direction} device "${device}" neither worked nor failed within ${timeoutMs / 1000} s (busy or hung?); try another device, see kai devices`;
}

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  timedOut: boolean;
}

function runChild(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<ChildResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let timedOut = false;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-8192);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, stderr: `${stderr}\n${err.message}`, timedOut });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr, timedOut });
    });
  });
}
