import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readWav } from '../../src/audio/wav.js';
import { negativeCorpus } from '../helpers/corpus.js';
import { concat, phrase, sharedModelsDir, silence } from '../helpers/fixtures.js';
import { noStackTrace, runKai } from '../helpers/cli.js';

const env = { KAI_MODELS_DIR: sharedModelsDir, XDG_CONFIG_HOME: mkdtempSync(join(tmpdir(), 'kai-cfg-')) };
let positive: string;
let positiveStartMs: number;
let twoUtterances: string;

beforeAll(() => {
  positive = concat('cli-positive', [silence(1.2), phrase('hey jarvis', { engine: 'flite', voice: 'slt' }), silence(0.6), phrase('run the tests', { engine: 'flite', voice: 'slt' }), silence(1)]);
  positiveStartMs = 1200;
  twoUtterances = concat('cli-vad', [silence(1), phrase('what is the git status', { engine: 'espeak', voice: 'en-us' }), silence(1.5), phrase('thank you', { engine: 'espeak', voice: 'en-gb' }), silence(1)]);
});

function jsonLines(text: string): Record<string, unknown>[] {
  return text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('kai --help', () => {
  it('lists every command with one line each', async () => {
    const { code, stdout } = await runKai(['--help']);
    expect(code).toBe(0);
    for (const name of ['wakeword', 'vad', 'listen', 'play', 'devices', 'models', 'doctor', 'simulate', 'transcribe', 'say']) {
      expect(stdout).toMatch(new RegExp(`^  ${name}\\s+\\S.+$`, 'm'));
    }
  });

  it('answers an unknown command with one line and exit 2', async () => {
    const { code, stderr } = await runKai(['frobnicate']);
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('kai wakeword', () => {
  it('prints one JSON object per detection with the exact fields', async () => {
    const { code, stdout, stderr } = await runKai(['wakeword', positive, negativeCorpus(), '--json'], { env });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = jsonLines(stdout);
    expect(lines).toHaveLength(1);
    const [hit] = lines;
    expect(Object.keys(hit!)).toEqual(['file', 'keyword', 'score', 'startMs', 'endMs']);
    expect(hit).toMatchObject({ file: positive, keyword: 'hey_jarvis' });
    expect(hit!.score as number).toBeGreaterThan(0.5);
    expect(Math.abs((hit!.startMs as number) - positiveStartMs)).toBeLessThanOrEqual(250);
    expect(hit!.endMs as number).toBeGreaterThan(hit!.startMs as number);
  });

  it('prints readable lines and a summary, and takes several models and a threshold', async () => {
    const { code, stdout } = await runKai(['wakeword', positive, '--model', 'hey_jarvis', '--model', 'alexa', '--threshold', '0.6'], { env });
    expect(code).toBe(0);
    expect(stdout).toMatch(/cli-positive.*: hey_jarvis at \d+\.\d\d–\d+\.\d\d s \(score 0\.\d\d\)/);
    expect(stdout).toMatch(/^1 detection in 1 file \(hey_jarvis: 1, alexa: 0\)$/m);
  });

  it('accepts a path to a custom .onnx head', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kai-head-'));
    const head = join(dir, 'my_word_v0.3.onnx');
    copyFileSync(join(sharedModelsDir, 'hey_jarvis_v0.1.onnx'), head);
    const { code, stdout } = await runKai(['wakeword', positive, '--model', head, '--json'], { env });
    expect(code).toBe(0);
    expect(jsonLines(stdout).map((l) => l.keyword)).toEqual(['my_word']);
  });

  it('says in one line what to do when a file is missing or not a WAV', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kai-bad-'));
    const text = join(dir, 'notes.txt');
    writeFileSync(text, 'this is not audio at all, just some words in a file');
    for (const file of [join(dir, 'missing.wav'), text]) {
      const { code, stdout, stderr } = await runKai(['wakeword', file], { env });
      expect(code).toBe(2);
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stderr).toContain(file.endsWith('.txt') ? 'notes.txt' : 'missing.wav');
      expect(noStackTrace(stderr)).toBe(true);
      expect(stdout).toMatch(/^0 detections in 0 files/m);
    }
  });

  it('says which model to pull when it is missing or corrupt', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kai-models-'));
    for (const f of ['melspectrogram.onnx', 'embedding_model.onnx']) copyFileSync(join(sharedModelsDir, f), join(dir, f));
    const missing = await runKai(['wakeword', positive], { env: { ...env, KAI_MODELS_DIR: dir } });
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim()).toBe('kai wakeword: wake-word model hey_jarvis is not installed; run: kai models pull hey_jarvis');
    writeFileSync(join(dir, 'hey_jarvis_v0.1.onnx'), readFileSync(join(sharedModelsDir, 'hey_jarvis_v0.1.onnx')).subarray(0, 5000));
    const corrupt = await runKai(['wakeword', positive], { env: { ...env, KAI_MODELS_DIR: dir } });
    expect(corrupt.code).toBe(2);
    expect(corrupt.stderr.trim()).toBe('kai wakeword: wake-word model hey_jarvis is corrupt (checksum mismatch); run: kai models pull hey_jarvis');
    const unknown = await runKai(['wakeword', positive, '--model', 'hey_nobody'], { env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/hey_nobody/);
    expect(noStackTrace(unknown.stderr)).toBe(true);
  });

  it('rejects a bad threshold and a broken config file in one line', async () => {
    const badFlag = await runKai(['wakeword', positive, '--threshold', '7'], { env });
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toMatch(/--threshold must be a number from 0 to 1/);
    const dir = mkdtempSync(join(tmpdir(), 'kai-conf-'));
    const broken = join(dir, 'config.yaml');
    writeFileSync(broken, 'wakeword:\n  threshold: loud\n');
    const badConfig = await runKai(['wakeword', positive, '--config', broken], { env });
    expect(badConfig.code).toBe(2);
    expect(badConfig.stderr).toMatch(/invalid configuration at wakeword\.threshold/);
    writeFileSync(broken, 'wakeword: [unclosed\n');
    const badYaml = await runKai(['vad', positive, '--config', broken], { env });
    expect(badYaml.code).toBe(2);
    expect(badYaml.stderr).toMatch(/is not valid YAML/);
    expect(noStackTrace(badYaml.stderr)).toBe(true);
  });
});

describe('kai vad', () => {
  it('prints one JSON line per speech segment', async () => {
    const { code, stdout } = await runKai(['vad', twoUtterances, '--json'], { env });
    expect(code).toBe(0);
    const lines = jsonLines(stdout);
    expect(lines).toHaveLength(2);
    expect(Object.keys(lines[0]!)).toEqual(['file', 'startMs', 'endMs']);
    // default padding is 100 ms on each side
    expect(Math.abs((lines[0]!.startMs as number) - 900)).toBeLessThanOrEqual(120);
  });

  it('prints readable segments and a summary', async () => {
    const { code, stdout } = await runKai(['vad', twoUtterances], { env });
    expect(code).toBe(0);
    expect(stdout).toMatch(/^\d+\.\d\d–\d+\.\d\d s {2}\(\d+\.\d\d s\)$/m);
    expect(stdout).toMatch(/^2 speech segments, /m);
  });
});

describe('kai listen', () => {
  it('prints wake words and speech segments as they happen from raw audio on stdin', async () => {
    const { samples } = await readWav(positive);
    const raw = Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
    const { code, stdout, stderr } = await runKai(['listen', '--stdin', '--json'], { env, input: raw });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const events = jsonLines(stdout);
    // "hey jarvis", a 600 ms pause (longer than vad.minSilenceMs), then "run the tests"
    expect(events.map((e) => e.type)).toEqual(['speech_start', 'wake', 'speech_end', 'speech_start', 'speech_end']);
    expect(events[1]).toMatchObject({ type: 'wake', keyword: 'hey_jarvis' });
    for (const e of events) expect(typeof e.t).toBe('number');
  });

  it('stops after --seconds', async () => {
    const { samples } = await readWav(twoUtterances);
    const raw = Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
    const { code, stderr } = await runKai(['listen', '--stdin', '--seconds', '1.5'], { env, input: raw });
    expect(code).toBe(0);
    expect(stderr).toMatch(/stopped after 1\.\d s/);
  });
});

describe('kai doctor', () => {
  it('prints one line per check with ok/warn/fail and a fix', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kai-doc-'));
    mkdirSync(join(dir, 'models'));
    const { code, stdout } = await runKai(['doctor'], { env: { ...env, KAI_MODELS_DIR: join(dir, 'models') } });
    const lines = stdout.trim().split('\n');
    for (const line of lines.slice(0, -1)) expect(line).toMatch(/^(ok|warn|fail) {2}[\w -]+: \S/);
    expect(stdout).toMatch(/^fail  model hey_jarvis: .*run: kai models pull hey_jarvis$/m);
    expect(stdout).toMatch(/^ok {4}model silero_vad: bundled/m);
    expect(stdout).toMatch(/^ok {4}config: valid$/m);
    expect(code).toBe(1);
  });
});
