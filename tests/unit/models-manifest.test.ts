import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import {
  findModel,
  isDownloadable,
  kindLabel,
  loadManifest,
  lookupModel,
  parseManifest,
  type Manifest,
} from '../../src/models/manifest.js';
import { bundledPath, resolveModelsDir } from '../../src/models/store.js';
import { sharedModelsDir } from '../helpers/fixtures.js';

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const upstream = 'https://github.com/dscripka/openWakeWord/releases/download/v0.5.1/';

describe('models/manifest.json', () => {
  const manifest = loadManifest();

  it('lists the six openWakeWord v0.5.1 files and the bundled Silero VAD', () => {
    expect(manifest.models.map((m) => m.name)).toEqual([
      'melspectrogram',
      'embedding',
      'hey_jarvis',
      'alexa',
      'hey_mycroft',
      'hey_rhasspy',
      'silero_vad',
    ]);
    for (const m of manifest.models.filter(isDownloadable)) expect(m.url).toBe(upstream + m.file);
  });

  it('matches the mirrored release assets byte for byte', () => {
    for (const m of manifest.models.filter(isDownloadable)) {
      const file = join(sharedModelsDir, m.file);
      expect(readFileSync(file).byteLength, m.file).toBe(m.bytes);
      expect(sha256(file), m.file).toBe(m.sha256);
    }
  });

  it('carries the licenses, and marks the pretrained heads non-commercial', () => {
    const license = Object.fromEntries(manifest.models.map((m) => [m.name, m.license]));
    expect(license).toEqual({
      melspectrogram: 'Apache-2.0',
      embedding: 'Apache-2.0 (Google speech embedding)',
      hey_jarvis: 'CC BY-NC-SA 4.0',
      alexa: 'CC BY-NC-SA 4.0',
      hey_mycroft: 'CC BY-NC-SA 4.0',
      hey_rhasspy: 'CC BY-NC-SA 4.0',
      silero_vad: 'MIT',
    });
    for (const m of manifest.models.filter((e) => e.kind === 'wakeword-head')) {
      expect(m.note).toMatch(/CC BY-NC-SA 4\.0.*non-commercial/);
    }
  });

  it('resolves the Silero VAD from the npm package, with the right checksum', () => {
    const vad = findModel('silero_vad', manifest);
    expect(isDownloadable(vad)).toBe(false);
    if (isDownloadable(vad)) return;
    expect(vad.npm).toBe('@ricky0123/vad-web/dist/silero_vad_v5.onnx');
    const path = bundledPath(vad);
    expect(path).toMatch(/node_modules[\\/]@ricky0123[\\/]vad-web[\\/]dist[\\/]silero_vad_v5\.onnx$/);
    expect(readFileSync(path).byteLength).toBe(vad.bytes);
    expect(sha256(path)).toBe(vad.sha256);
  });
});

describe('findModel', () => {
  it('accepts the name, the file name, and the file name without .onnx', () => {
    expect(findModel('hey_jarvis').file).toBe('hey_jarvis_v0.1.onnx');
    expect(findModel('hey_jarvis_v0.1.onnx').name).toBe('hey_jarvis');
    expect(findModel('hey_jarvis_v0.1').name).toBe('hey_jarvis');
    expect(findModel('embedding_model').name).toBe('embedding');
    expect(lookupModel('nope')).toBeUndefined();
  });

  it('names the known models when the name is unknown', () => {
    expect(() => findModel('hey_siri')).toThrow(UsageError);
    expect(() => findModel('hey_siri')).toThrow(
      'unknown model "hey_siri"; known models: melspectrogram, embedding, hey_jarvis, alexa, hey_mycroft, hey_rhasspy, silero_vad',
    );
  });
});

describe('parseManifest', () => {
  const good = (): Manifest => structuredClone(loadManifest());

  it('accepts the shipped manifest', () => {
    expect(parseManifest(good()).models).toHaveLength(7);
  });

  it.each([
    ['a file name with a path in it', (m: Manifest) => Object.assign(m.models[0]!, { file: '../evil.onnx' }), 'models.0'],
    ['a short sha256', (m: Manifest) => Object.assign(m.models[1]!, { sha256: 'abc' }), 'models.1'],
    ['a non-http URL', (m: Manifest) => Object.assign(m.models[2]!, { url: 'ftp://x/y.onnx' }), 'models.2'],
    ['both url and npm', (m: Manifest) => Object.assign(m.models[3]!, { npm: 'a/b.onnx' }), 'models.3'],
    ['a bad kind', (m: Manifest) => Object.assign(m.models[4]!, { kind: 'tts' }), 'models.4'],
    ['a duplicate name', (m: Manifest) => Object.assign(m.models[5]!, { name: 'alexa' }), 'models.5'],
  ])('rejects %s, naming where', (_label, mutate, where) => {
    const m = good();
    mutate(m);
    expect(() => parseManifest(m, 'test.json')).toThrow(new RegExp(`^model manifest test\\.json is invalid at ${where.replace('.', '\\.')}`));
  });
});

describe('kindLabel and resolveModelsDir', () => {
  it('labels the kinds for messages', () => {
    expect(kindLabel('wakeword-head')).toBe('wake-word model');
    expect(kindLabel('wakeword-feature')).toBe('wake-word feature model');
    expect(kindLabel('vad')).toBe('VAD model');
  });

  it('uses the configured folder, else KAI_MODELS_DIR, else XDG_DATA_HOME', () => {
    expect(resolveModelsDir('', { KAI_MODELS_DIR: '/tmp/m' }, '/cwd')).toBe('/tmp/m');
    expect(resolveModelsDir(undefined, { XDG_DATA_HOME: '/data' }, '/cwd')).toBe('/data/kai/models');
    expect(resolveModelsDir('models', { KAI_MODELS_DIR: '/tmp/m' }, '/cwd')).toBe('/cwd/models');
    expect(resolveModelsDir('~/m', {}, '/cwd')).toBe(join(homedir(), 'm'));
  });
});
