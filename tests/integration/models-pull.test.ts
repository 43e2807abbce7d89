import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { command } from '../../src/cli/commands/models.js';
import type { CommandIo } from '../../src/cli/command.js';
import { KaiError, ModelError, UsageError } from '../../src/errors.js';
import { loadManifest, type DownloadableModel, type Manifest } from '../../src/models/manifest.js';
import { PullError, pullModels, type PullProgress } from '../../src/models/pull.js';
import { clearVerifyCache, listModels, resolveModel, verifyFile } from '../../src/models/store.js';
import { projectRoot, sharedModelsDir } from '../helpers/fixtures.js';
import { refusedUrl, startModelServer, type ModelServer } from '../helpers/model-server.js';

const realManifest = loadManifest();
const wakeFiles = realManifest.models.flatMap((m) => ('url' in m ? [m.file] : [])).sort();

let server: ModelServer;
let dir: string;
const temps: string[] = [];

function tempDir(prefix = 'kai-models-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  temps.push(d);
  return d;
}

beforeAll(async () => {
  server = await startModelServer(sharedModelsDir);
});
afterAll(async () => {
  await server.close();
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});
beforeEach(() => {
  server.reset();
  server.requests.length = 0;
  dir = tempDir();
});
afterEach(() => clearVerifyCache());

interface Fake {
  entry: DownloadableModel;
  body: Buffer;
}

/** A small made-up model served at `${server.baseUrl}/<name>.onnx`. */
function fake(name: string, bytes = 64 * 1024): Fake {
  const body = randomBytes(bytes);
  const file = `${name}.onnx`;
  const entry: DownloadableModel = {
    name,
    file,
    kind: 'wakeword-head',
    url: `${server.baseUrl}/${file}`,
    sha256: createHash('sha256').update(body).digest('hex'),
    bytes,
    license: 'MIT',
  };
  server.set(file, { type: 'bytes', body });
  return { entry, body };
}

const manifestOf = (...fakes: Fake[]): Manifest => ({ models: fakes.map((f) => f.entry) });

async function pullError(promise: Promise<unknown>): Promise<PullError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PullError);
  return err as PullError;
}

describe('pullModels over HTTP', () => {
  it('downloads, verifies and installs atomically, reporting progress', async () => {
    const a = fake('fake_a', 300_000);
    const progress: PullProgress[] = [];
    const results = await pullModels({ dir, manifest: manifestOf(a), onProgress: (p) => progress.push(p) });
    expect(results).toEqual([{ name: 'fake_a', file: 'fake_a.onnx', path: join(dir, 'fake_a.onnx'), status: 'installed' }]);
    expect(readFileSync(join(dir, 'fake_a.onnx')).equals(a.body)).toBe(true);
    expect(readdirSync(dir)).toEqual(['fake_a.onnx']);
    expect(progress[0]).toEqual({ name: 'fake_a', file: 'fake_a.onnx', received: 0, total: 300_000 });
    expect(progress.at(-1)).toEqual({ name: 'fake_a', file: 'fake_a.onnx', received: 300_000, total: 300_000 });
  });

  it('reports HTTP errors in one sentence and installs nothing', async () => {
    const a = fake('fake_a');
    server.set(a.entry.file, { type: 'status', status: 404 });
    const err = await pullError(pullModels({ dir, manifest: manifestOf(a) }));
    expect(err.message).toBe(`download of fake_a failed: HTTP 404 from ${a.entry.url}`);
    expect(err.retryable).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('marks server errors (5xx) retryable', async () => {
    const a = fake('fake_a');
    server.set(a.entry.file, { type: 'status', status: 503 });
    const err = await pullError(pullModels({ dir, manifest: manifestOf(a) }));
    expect(err.message).toBe(`download of fake_a failed: HTTP 503 from ${a.entry.url}`);
    expect(err.retryable).toBe(true);
  });

  it('detects a body cut short and leaves no temp file', async () => {
    const a = fake('fake_a', 100_000);
    server.set(a.entry.file, { type: 'cut', body: a.body, sendBytes: 1000 });
    const err = await pullError(pullModels({ dir, manifest: manifestOf(a) }));
    expect(err.message).toBe('download of fake_a was cut short (got 1000 of 100000 bytes); run the command again');
    expect(err.retryable).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('succeeds on a retry after an interrupted download', async () => {
    const a = fake('fake_a', 100_000);
    server.set(a.entry.file, { type: 'cut', body: a.body, sendBytes: 50_000 });
    await pullError(pullModels({ dir, manifest: manifestOf(a) }));
    server.set(a.entry.file, { type: 'bytes', body: a.body });
    const results = await pullModels({ dir, manifest: manifestOf(a) });
    expect(results.map((r) => r.status)).toEqual(['installed']);
    expect(readFileSync(join(dir, 'fake_a.onnx')).equals(a.body)).toBe(true);
    expect(readdirSync(dir)).toEqual(['fake_a.onnx']);
  });

  it('refuses wrong bytes and leaves the existing file untouched', async () => {
    const a = fake('fake_a');
    const previous = Buffer.from('an older file that is not the right model');
    writeFileSync(join(dir, 'fake_a.onnx'), previous);
    server.set(a.entry.file, { type: 'bytes', body: randomBytes(a.entry.bytes) });
    const err = await pullError(pullModels({ dir, manifest: manifestOf(a) }));
    expect(err.message).toBe(`fake_a from ${a.entry.url} has the wrong checksum; the file was not installed`);
    expect(err.retryable).toBe(false);
    expect(readFileSync(join(dir, 'fake_a.onnx')).equals(previous)).toBe(true);
    expect(readdirSync(dir)).toEqual(['fake_a.onnx']);
  });

  it('refuses a file of the wrong size before reading it', async () => {
    const a = fake('fake_a', 5000);
    server.set(a.entry.file, { type: 'bytes', body: randomBytes(4000) });
    const err = await pullError(pullModels({ dir, manifest: manifestOf(a) }));
    expect(err.message).toBe(
      `fake_a from ${a.entry.url} has the wrong size (4000 bytes, expected 5000 bytes); the file was not installed`,
    );
    expect(readdirSync(dir)).toEqual([]);
  });

  it('skips a file already present and verified without contacting the server', async () => {
    const a = fake('fake_a');
    writeFileSync(join(dir, 'fake_a.onnx'), a.body);
    const results = await pullModels({ dir, manifest: manifestOf(a) });
    expect(results.map((r) => r.status)).toEqual(['already-installed']);
    expect(server.requests).toEqual([]);
  });

  it('says the server could not be reached when the connection is refused', async () => {
    const a = fake('fake_a');
    const base = await refusedUrl();
    const err = await pullError(pullModels({ dir, manifest: manifestOf(a), from: base }));
    expect(err.message).toBe(
      `download of fake_a failed: the server ${new URL(base).host} could not be reached (ECONNREFUSED); try again, or use --from with a mirror folder or URL`,
    );
    expect(err.retryable).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('gives up on a stalled download after the stall timeout', async () => {
    const a = fake('fake_a');
    server.set(a.entry.file, { type: 'stall', bytes: a.entry.bytes });
    const started = Date.now();
    const err = await pullError(pullModels({ dir, manifest: manifestOf(a), stallTimeoutMs: 300 }));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(err.message).toBe(`download of fake_a stalled (no data for 0.3 s from ${a.entry.url}); run the command again`);
    expect(err.retryable).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('attempts every file, then throws one summary naming each failure', async () => {
    const a = fake('fake_a');
    const b = fake('fake_b');
    const c = fake('fake_c');
    server.set(a.entry.file, { type: 'status', status: 404 });
    server.set(c.entry.file, { type: 'cut', body: c.body, sendBytes: 10 });
    const seen: string[] = [];
    const err = await pullError(
      pullModels({ dir, manifest: manifestOf(a, b, c), onResult: (r) => seen.push(`${r.name}:${r.status}`) }),
    );
    expect(seen).toEqual(['fake_a:failed', 'fake_b:installed', 'fake_c:failed']);
    expect(err.message).toBe(
      `2 of 3 models were not installed: download of fake_a failed: HTTP 404 from ${a.entry.url}; ` +
        `download of fake_c was cut short (got 10 of ${c.entry.bytes} bytes); run the command again`,
    );
    expect(err.retryable).toBe(false);
    expect(readdirSync(dir)).toEqual(['fake_b.onnx']);
  });

  it('stops when the signal is aborted', async () => {
    const a = fake('fake_a');
    server.set(a.entry.file, { type: 'stall', bytes: a.entry.bytes });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const err = await pullModels({ dir, manifest: manifestOf(a), signal: controller.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KaiError);
    expect(err).not.toBeInstanceOf(PullError);
    expect((err as KaiError).message).toBe('model download cancelled; run the command again to finish');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('pulls the real wake-word files from an http base URL (--from URL)', async () => {
    const results = await pullModels({ dir, from: `${server.baseUrl}/` });
    expect(results.map((r) => r.status)).toEqual(Array(6).fill('installed'));
    expect(readdirSync(dir).sort()).toEqual(wakeFiles);
    expect(server.requests.sort()).toEqual(wakeFiles.map((f) => `/${f}`));
  });

  it('rejects unknown names before doing anything', async () => {
    await expect(pullModels({ dir, names: ['hey_siri'] })).rejects.toThrow(UsageError);
  });

  it('reports the npm-bundled VAD as bundled instead of downloading it', async () => {
    const results = await pullModels({ dir, names: ['silero_vad'] });
    expect(results.map((r) => r.status)).toEqual(['bundled']);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('pullModels from a local mirror folder', () => {
  it('copies and verifies the real files (relative --from, as CI does)', async () => {
    const from = relative(projectRoot, sharedModelsDir);
    const results = await pullModels({ dir, from, cwd: projectRoot, names: ['hey_jarvis', 'melspectrogram'] });
    // a head brings the shared feature models along, first
    expect(results.map((r) => r.name)).toEqual(['melspectrogram', 'embedding', 'hey_jarvis']);
    expect(results.map((r) => r.status)).toEqual(['installed', 'installed', 'installed']);
    expect(readdirSync(dir).sort()).toEqual(['embedding_model.onnx', 'hey_jarvis_v0.1.onnx', 'melspectrogram.onnx']);
    expect(await verifyFile(join(dir, 'hey_jarvis_v0.1.onnx'), realManifest.models[2]!.sha256, 1271370)).toBe('ok');
  });

  it('names the file a mirror folder lacks', async () => {
    const mirror = tempDir('kai-mirror-');
    for (const f of ['alexa_v0.1.onnx', 'melspectrogram.onnx', 'embedding_model.onnx']) copyFileSync(join(sharedModelsDir, f), join(mirror, f));
    const err = await pullError(pullModels({ dir, from: mirror, names: ['alexa', 'hey_jarvis'] }));
    expect(err.message).toBe(`mirror folder ${mirror} has no hey_jarvis_v0.1.onnx`);
    expect(err.results.map((r) => r.status)).toEqual(['installed', 'installed', 'installed', 'failed']);
  });

  it('refuses a mirror folder that does not exist', async () => {
    await expect(pullModels({ dir, from: '../no-such-mirror', cwd: dir })).rejects.toThrow(
      new UsageError('mirror folder ../no-such-mirror does not exist; give a folder or an http(s) URL to --from'),
    );
  });
});

describe('model status and resolveModel', () => {
  function installSome(): void {
    copyFileSync(join(sharedModelsDir, 'hey_jarvis_v0.1.onnx'), join(dir, 'hey_jarvis_v0.1.onnx'));
    const alexa = readFileSync(join(sharedModelsDir, 'alexa_v0.1.onnx'));
    alexa[1000] = (alexa[1000]! + 1) % 256;
    writeFileSync(join(dir, 'alexa_v0.1.onnx'), alexa);
  }

  it('lists installed, missing, bad-checksum and bundled models', async () => {
    installSome();
    const status = Object.fromEntries((await listModels(dir)).map((r) => [r.entry.name, r.status]));
    expect(status).toEqual({
      melspectrogram: 'missing',
      embedding: 'missing',
      hey_jarvis: 'installed',
      alexa: 'bad-checksum',
      hey_mycroft: 'missing',
      hey_rhasspy: 'missing',
      silero_vad: 'bundled',
    });
  });

  it('notices a file corrupted after it was verified (the cache keys on size and mtime)', async () => {
    installSome();
    const path = join(dir, 'hey_jarvis_v0.1.onnx');
    expect(await resolveModel('hey_jarvis', dir)).toBe(path);
    const bytes = readFileSync(path);
    bytes[0] = (bytes[0]! + 1) % 256;
    writeFileSync(path, bytes);
    await expect(resolveModel('hey_jarvis', dir)).rejects.toThrow(ModelError);
  });

  it('resolves installed and bundled models to absolute paths', async () => {
    installSome();
    expect(await resolveModel('hey_jarvis', dir)).toBe(join(dir, 'hey_jarvis_v0.1.onnx'));
    expect(await resolveModel('hey_jarvis_v0.1.onnx', dir)).toBe(join(dir, 'hey_jarvis_v0.1.onnx'));
    expect(await resolveModel('silero_vad', dir)).toMatch(/node_modules[\\/]@ricky0123[\\/]vad-web[\\/]dist[\\/]silero_vad_v5\.onnx$/);
  });

  it('says how to fix a missing or corrupt model', async () => {
    installSome();
    await expect(resolveModel('hey_mycroft', dir)).rejects.toThrow(
      new ModelError('wake-word model hey_mycroft is not installed; run: kai models pull hey_mycroft'),
    );
    await expect(resolveModel('melspectrogram', dir)).rejects.toThrow(
      'wake-word feature model melspectrogram is not installed; run: kai models pull melspectrogram',
    );
    copyFileSync(join(dir, 'alexa_v0.1.onnx'), join(dir, 'hey_jarvis_v0.1.onnx'));
    await expect(resolveModel('hey_jarvis', dir)).rejects.toThrow(
      'wake-word model hey_jarvis is corrupt (checksum mismatch); run: kai models pull hey_jarvis',
    );
    await expect(resolveModel('hey_siri', dir)).rejects.toThrow(ModelError);
    await expect(resolveModel('hey_siri', dir)).rejects.toThrow(/^unknown model "hey_siri"; known models: .*; or give the path to an \.onnx file$/);
  });

  it('accepts a path to a custom head without a checksum, and names a missing one', async () => {
    const custom = join(dir, 'custom', 'my_wake_word.onnx');
    mkdirSync(join(dir, 'custom'));
    writeFileSync(custom, 'any bytes');
    expect(await resolveModel(custom, dir)).toBe(custom);
    expect(await resolveModel('custom/my_wake_word.onnx', dir, { cwd: dir })).toBe(custom);
    expect(await resolveModel('my_wake_word.onnx', dir, { cwd: join(dir, 'custom') })).toBe(custom);
    const missing = join(dir, 'nope.onnx');
    await expect(resolveModel(missing, dir)).rejects.toThrow(new ModelError(`model file ${missing} does not exist`));
  });
});

class Capture extends PassThrough {
  text = '';
  isTTY: boolean;
  constructor(tty = false) {
    super();
    this.isTTY = tty;
    this.on('data', (chunk: Buffer) => (this.text += chunk.toString()));
  }
}

function fakeIo(extraEnv: NodeJS.ProcessEnv = {}, tty = false) {
  const stdout = new Capture();
  const stderr = new Capture(tty);
  const io: CommandIo = {
    stdout,
    stderr,
    stdin: new PassThrough(),
    env: { KAI_MODELS_DIR: dir, XDG_CONFIG_HOME: tempDir('kai-config-'), ...extraEnv },
    cwd: projectRoot,
    signal: new AbortController().signal,
  };
  return { io, stdout, stderr };
}

describe('kai models (command.run)', () => {
  it('list: shows each status, the folder and the license notice', async () => {
    copyFileSync(join(sharedModelsDir, 'hey_jarvis_v0.1.onnx'), join(dir, 'hey_jarvis_v0.1.onnx'));
    writeFileSync(join(dir, 'alexa_v0.1.onnx'), 'broken');
    const { io, stdout } = fakeIo();
    expect(await command.run(['list'], io)).toBe(0);
    const lines = stdout.text.split('\n');
    const row = (name: string) => lines.find((l) => l.startsWith(`${name} `)) ?? '';
    expect(lines[0]).toMatch(/^NAME\s+KIND\s+STATUS\s+SIZE\s+LICENSE$/);
    expect(row('hey_jarvis')).toMatch(/wakeword-head\s+installed\s+1\.3 MB\s+CC BY-NC-SA 4\.0$/);
    expect(row('alexa')).toMatch(/bad checksum/);
    expect(row('melspectrogram')).toMatch(/wakeword-feature\s+missing\s+1\.1 MB\s+Apache-2\.0$/);
    expect(row('silero_vad')).toMatch(/vad\s+bundled\s+2\.3 MB\s+MIT$/);
    expect(stdout.text).toContain(`models folder: ${dir}\n`);
    expect(stdout.text).toContain('run: kai models pull melspectrogram embedding alexa hey_mycroft hey_rhasspy\n');
    expect(stdout.text).toContain(
      'The pretrained wake-word heads (hey_jarvis, alexa, hey_mycroft, hey_rhasspy) are CC BY-NC-SA 4.0: non-commercial use only. Train your own head for commercial use.',
    );
  });

  it('list --json: machine-readable statuses', async () => {
    const { io, stdout } = fakeIo();
    expect(await command.run(['list', '--json'], io)).toBe(0);
    const parsed = JSON.parse(stdout.text) as { dir: string; models: { name: string; status: string; source: string }[] };
    expect(parsed.dir).toBe(dir);
    expect(parsed.models.map((m) => m.status)).toEqual([...Array(6).fill('missing'), 'bundled']);
    expect(parsed.models.at(-1)?.source).toBe('npm:@ricky0123/vad-web/dist/silero_vad_v5.onnx');
  });

  it('pull --from URL: one line per file, then already installed on the second run', async () => {
    const first = fakeIo();
    expect(await command.run(['pull', '--from', server.baseUrl], first.io)).toBe(0);
    expect(first.stdout.text).toMatch(/^hey_jarvis\s+installed$/m);
    expect(first.stdout.text.match(/ installed$/gm)).toHaveLength(6);
    expect(first.stderr.text).toBe('');
    expect(readdirSync(dir).sort()).toEqual(wakeFiles);

    const hits = server.requests.length;
    clearVerifyCache();
    const second = fakeIo();
    expect(await command.run(['pull'], { ...second.io, env: { ...second.io.env, KAI_MODELS__MIRROR: 'http://127.0.0.1:9/' } })).toBe(0);
    expect(second.stdout.text.match(/already installed \(verified\)$/gm)).toHaveLength(6);
    expect(server.requests.length).toBe(hits);
  });

  it('pull: takes the mirror and the folder from config, and --dir overrides the folder', async () => {
    const other = tempDir();
    const config = tempDir('kai-config-');
    mkdirSync(join(config, 'kai'));
    writeFileSync(join(config, 'kai', 'config.yaml'), `models:\n  mirror: ${server.baseUrl}\n  dir: ${dir}\n`);
    const { io, stdout } = fakeIo({ XDG_CONFIG_HOME: config, KAI_MODELS_DIR: '' });
    expect(await command.run(['pull', 'hey_rhasspy'], io)).toBe(0);
    expect(stdout.text).toMatch(/^hey_rhasspy\s+installed$/m);
    expect(readdirSync(dir).sort()).toEqual(['embedding_model.onnx', 'hey_rhasspy_v0.1.onnx', 'melspectrogram.onnx']);
    expect(await command.run(['pull', 'alexa', '--dir', other], io)).toBe(0);
    expect(readdirSync(other).sort()).toEqual(['alexa_v0.1.onnx', 'embedding_model.onnx', 'melspectrogram.onnx']);
  });

  it('pull: draws a progress bar on a TTY', async () => {
    const { io, stdout, stderr } = fakeIo({}, true);
    expect(await command.run(['pull', 'hey_jarvis', '--from', server.baseUrl], io)).toBe(0);
    expect(stderr.text).toMatch(/\rhey_jarvis\s+\[#{20}\] 100%  1\.3 MB \/ 1\.3 MB/);
    expect(stderr.text).toContain('\r\x1b[K');
    expect(stdout.text).toMatch(/^hey_jarvis\s+installed$/m);
  });

  it('pull: prints each failure and throws a one-line summary', async () => {
    const mirror = tempDir('kai-mirror-');
    for (const f of ['alexa_v0.1.onnx', 'melspectrogram.onnx', 'embedding_model.onnx']) copyFileSync(join(sharedModelsDir, f), join(mirror, f));
    const { io, stdout, stderr } = fakeIo();
    const err = await command.run(['pull', 'alexa', 'hey_jarvis', '--from', mirror], io).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KaiError);
    expect((err as KaiError).message).toBe('1 model was not installed (hey_jarvis)');
    expect(stdout.text).toMatch(/^alexa\s+installed$/m);
    // names are padded to the longest one, melspectrogram
    expect(stderr.text).toBe(`${'hey_jarvis'.padEnd(14)}  failed: mirror folder ${mirror} has no hey_jarvis_v0.1.onnx\n`);
  });

  it('pull: says to run again when the failure is retryable', async () => {
    const { io } = fakeIo();
    const base = await refusedUrl();
    await expect(command.run(['pull', 'hey_rhasspy', '--from', base], io)).rejects.toThrow(
      '3 models were not installed (melspectrogram, embedding, hey_rhasspy); run the command again',
    );
  });

  it('rejects unknown subcommands and misplaced flags', async () => {
    const { io } = fakeIo();
    await expect(command.run(['fetch'], io)).rejects.toThrow(UsageError);
    await expect(command.run([], io)).rejects.toThrow(UsageError);
    await expect(command.run(['list', '--from', 'x'], io)).rejects.toThrow(UsageError);
    await expect(command.run(['pull', '--json'], io)).rejects.toThrow(UsageError);
    await expect(command.run(['list', '--bogus'], io)).rejects.toThrow(UsageError);
    await expect(command.run(['pull', 'hey_siri'], io)).rejects.toThrow(/unknown model "hey_siri"/);
  });
});
