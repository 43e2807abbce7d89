import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { packageRoot } from '../../src/paths.js';

export const projectRoot = packageRoot;
export const cacheDir = join(projectRoot, 'tests', '.cache');
/** The wake-word models mirrored beside the project for tests and CI. */
export const sharedModelsDir = resolve(projectRoot, '..', 'shared', 'models', 'openwakeword');

export interface Voice {
  engine: 'espeak' | 'flite';
  /** espeak-ng voice (en-us, en-gb+f3, …) or flite voice (slt, rms, awb, kal16). */
  voice: string;
  /** espeak words per minute. */
  speed?: number;
  /** espeak pitch 0..99. */
  pitch?: number;
}

/** Deterministic synthesized speech as a 16 kHz mono 16-bit WAV, cached by content. */
export function synth(text: string, voice: Voice = { engine: 'espeak', voice: 'en-us' }): string {
  const key = createHash('sha1').update(JSON.stringify({ text, voice })).digest('hex').slice(0, 16);
  const out = join(cacheDir, 'speech', `${key}.wav`);
  if (existsSync(out)) return out;
  mkdirSync(dirname(out), { recursive: true });
  const raw = `${out}.${process.pid}.raw.wav`;
  if (voice.engine === 'espeak') {
    const args = ['-v', voice.voice, '-w', raw];
    if (voice.speed !== undefined) args.push('-s', String(voice.speed));
    if (voice.pitch !== undefined) args.push('-p', String(voice.pitch));
    execFileSync('espeak-ng', [...args, text]);
  } else {
    execFileSync('flite', ['-voice', voice.voice, '-t', text, '-o', raw]);
  }
  const tmp = `${out}.${process.pid}.tmp.wav`;
  // -R: repeatable dither (a fixed seed), so every fresh checkout synthesizes the same fixtures
  execFileSync('sox', ['-R', raw, '-r', '16000', '-c', '1', '-b', '16', tmp]);
  execFileSync('rm', ['-f', raw]);
  renameSync(tmp, out);
  return out;
}

/** Runs sox with the given arguments and output file (cached by arguments), returning the output path. */
export function soxCached(name: string, args: string[]): string {
  const key = createHash('sha1').update(JSON.stringify(args)).digest('hex').slice(0, 16);
  const out = join(cacheDir, 'sox', `${name}-${key}.wav`);
  if (existsSync(out)) return out;
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp.wav`;
  execFileSync('sox', ['-R', ...args.map((a) => (a === '$OUT' ? tmp : a))]);
  renameSync(tmp, out);
  return out;
}

/** Silence of the given length, 16 kHz mono. */
export function silence(seconds: number): string {
  return soxCached('silence', ['-n', '-r', '16000', '-c', '1', '-b', '16', '$OUT', 'trim', '0', String(seconds)]);
}

/** Concatenates WAV files (all 16 kHz mono) in order. */
export function concat(name: string, parts: string[]): string {
  return soxCached(name, [...parts, '$OUT']);
}

/** Synthesized speech with leading and trailing silence trimmed, so its boundaries are known. */
export function phrase(text: string, voice: Voice = { engine: 'espeak', voice: 'en-us' }): string {
  return soxCached('phrase', [synth(text, voice), '$OUT', 'silence', '1', '0.01', '0.5%', 'reverse', 'silence', '1', '0.01', '0.5%', 'reverse']);
}
