import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KaiError, ModelError, UsageError } from '../errors.js';
import { findModel, isDownloadable, loadManifest, type BundledModel, type DownloadableModel, type Manifest, type ModelEntry } from './manifest.js';
import { modelPath, verifyFile } from './store.js';

export interface PullProgress {
  name: string;
  file: string;
  received: number;
  total: number;
}

interface ResultBase {
  name: string;
  file: string;
  path: string;
}
export type PullResult =
  | (ResultBase & { status: 'installed' | 'already-installed' | 'bundled' })
  | (ResultBase & { status: 'failed'; error: KaiError });

export interface PullOptions {
  /** Manifest names (or file names); default: every downloadable model. */
  names?: readonly string[];
  /** The models folder; created when missing. */
  dir: string;
  /** A local mirror folder, a file: URL, or an http(s) base URL serving `<base>/<file>`. */
  from?: string;
  /** Base for a relative `from`; default process.cwd(). */
  cwd?: string;
  manifest?: Manifest;
  onProgress?: (progress: PullProgress) => void;
  /** Called as soon as each model is done, failed or skipped. */
  onResult?: (result: PullResult) => void;
  signal?: AbortSignal;
  fetchImpl?: typeof fetch;
  /** Give up on a download that sends no bytes for this long. */
  stallTimeoutMs?: number;
}

/** Thrown after every requested model was attempted, when at least one failed. */
export class PullError extends KaiError {
  readonly results: PullResult[];

  constructor(message: string, results: PullResult[], retryable: boolean) {
    super(message, { retryable });
    this.results = results;
  }
}

type Source = { kind: 'upstream' } | { kind: 'url'; base: string } | { kind: 'folder'; path: string; shown: string };

interface Context {
  dir: string;
  source: Source;
  signal: AbortSignal | undefined;
  fetchImpl: typeof fetch;
  stallTimeoutMs: number;
  onProgress: ((progress: PullProgress) => void) | undefined;
}

export async function pullModels(options: PullOptions): Promise<PullResult[]> {
  const manifest = options.manifest ?? loadManifest();
  const entries = options.names?.length ? withDependencies(options.names.map((n) => findModel(n, manifest)), manifest) : manifest.models.filter(isDownloadable);
  const dir = options.dir;
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw new KaiError(`cannot create the models folder ${dir} (${errorCode(err)})`, { cause: err });
  }
  const ctx: Context = {
    dir,
    source: parseSource(options.from, options.cwd ?? process.cwd()),
    signal: options.signal,
    fetchImpl: options.fetchImpl ?? fetch,
    stallTimeoutMs: options.stallTimeoutMs ?? 30_000,
    onProgress: options.onProgress,
  };
  let mirrorChecked = false;

  const results: PullResult[] = [];
  for (const entry of entries) {
    throwIfCancelled(options.signal);
    const base = { name: entry.name, file: entry.file, path: modelPath(entry, dir) };
    let result: PullResult;
    if (!isDownloadable(entry)) {
      result = await bundledResult(entry, base);
    } else if ((await verifyFile(base.path, entry.sha256, entry.bytes)) === 'ok') {
      result = { ...base, status: 'already-installed' };
    } else {
      if (!mirrorChecked && ctx.source.kind === 'folder') {
        await checkMirrorFolder(ctx.source);
        mirrorChecked = true;
      }
      try {
        await install(entry, base.path, ctx);
        result = { ...base, status: 'installed' };
      } catch (err) {
        throwIfCancelled(options.signal);
        const error = err instanceof KaiError ? err : new KaiError(`installing ${entry.name} failed: ${describe(err)}`, { cause: err });
        result = { ...base, status: 'failed', error };
      }
    }
    results.push(result);
    options.onResult?.(result);
  }

  const failed = results.flatMap((r) => (r.status === 'failed' ? [r] : []));
  const first = failed[0];
  if (!first) return results;
  const retryable = failed.every((r) => r.error.retryable);
  if (failed.length === 1) throw new PullError(first.error.message, results, retryable);
  const summary = failed.map((r) => r.error.message).join('; ');
  throw new PullError(`${failed.length} of ${results.length} models were not installed: ${summary}`, results, retryable);
}

/** A wake-word head is useless without the shared feature models, so asking for one brings them along. */
function withDependencies(requested: ModelEntry[], manifest: Manifest): ModelEntry[] {
  const features = requested.some((e) => e.kind === 'wakeword-head') ? manifest.models.filter((e) => e.kind === 'wakeword-feature') : [];
  return [...new Set([...features, ...requested])];
}

function parseSource(from: string | undefined, cwd: string): Source {
  if (!from) return { kind: 'upstream' };
  if (/^https?:\/\//i.test(from)) {
    if (!URL.canParse(from)) throw new UsageError(`--from ${from} is not a valid URL`);
    return { kind: 'url', base: from.replace(/\/+$/, '') };
  }
  if (/^file:/i.test(from)) return { kind: 'folder', path: fileURLToPath(from), shown: from };
  return { kind: 'folder', path: resolve(cwd, from), shown: from };
}

async function checkMirrorFolder(source: { path: string; shown: string }): Promise<void> {
  try {
    if ((await stat(source.path)).isDirectory()) return;
  } catch {
    throw new UsageError(`mirror folder ${source.shown} does not exist; give a folder or an http(s) URL to --from`);
  }
  throw new UsageError(`mirror ${source.shown} is not a folder; give a folder or an http(s) URL to --from`);
}

async function bundledResult(entry: BundledModel, base: ResultBase): Promise<PullResult> {
  if ((await verifyFile(base.path, entry.sha256, entry.bytes)) === 'ok') return { ...base, status: 'bundled' };
  const error = new ModelError(
    `${entry.name} comes with an npm package (${entry.npm}) and cannot be pulled; reinstall the npm dependencies of kai-ambient`,
  );
  return { ...base, status: 'failed', error };
}

/** Streams into a temp file beside `dest`, checks size and sha256, then fsyncs and renames over `dest`. */
async function install(entry: DownloadableModel, dest: string, ctx: Context): Promise<void> {
  const tmp = join(ctx.dir, `.${entry.file}.${randomBytes(6).toString('hex')}.part`);
  let handle: FileHandle | undefined;
  try {
    handle = await open(tmp, 'wx');
    const sink = new HashingWriter(handle, tmp, entry, ctx.onProgress);
    if (ctx.source.kind === 'folder') await copyFromFolder(entry, ctx.source, sink);
    else await download(entry, sourceUrl(entry, ctx.source), sink, ctx);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(tmp, dest);
    await syncDir(ctx.dir);
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}

function sourceUrl(entry: DownloadableModel, source: Source): string {
  return source.kind === 'url' ? `${source.base}/${entry.file}` : entry.url;
}

class HashingWriter {
  received = 0;
  private readonly hash = createHash('sha256');

  constructor(
    private readonly handle: FileHandle,
    private readonly tmp: string,
    private readonly entry: DownloadableModel,
    private readonly onProgress: ((progress: PullProgress) => void) | undefined,
  ) {
    this.report();
  }

  /** Returns false (writing nothing) once the data would exceed the expected size. */
  async write(chunk: Uint8Array): Promise<boolean> {
    if (this.received + chunk.byteLength > this.entry.bytes) return false;
    try {
      await this.handle.write(chunk);
    } catch (err) {
      throw new KaiError(`cannot write ${this.tmp} (${errorCode(err)})`, { cause: err });
    }
    this.hash.update(chunk);
    this.received += chunk.byteLength;
    this.report();
    return true;
  }

  /** Throws the one-sentence reason when what was received is not the expected file. */
  check(source: string, onShort: () => KaiError): void {
    if (this.received < this.entry.bytes) throw onShort();
    if (this.hash.digest('hex') !== this.entry.sha256) {
      throw new KaiError(`${this.entry.name} from ${source} has the wrong checksum; the file was not installed`);
    }
  }

  private report(): void {
    this.onProgress?.({ name: this.entry.name, file: this.entry.file, received: this.received, total: this.entry.bytes });
  }
}

function wrongSize(entry: DownloadableModel, source: string, got: string): KaiError {
  return new KaiError(
    `${entry.name} from ${source} has the wrong size (${got}, expected ${entry.bytes} bytes); the file was not installed`,
  );
}

async function copyFromFolder(entry: DownloadableModel, source: { path: string; shown: string }, sink: HashingWriter): Promise<void> {
  const path = join(source.path, entry.file);
  const shown = join(source.shown, entry.file);
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    if (errorCode(err) === 'ENOENT') throw new KaiError(`mirror folder ${source.shown} has no ${entry.file}`);
    throw new KaiError(`cannot read ${shown} (${errorCode(err)})`, { cause: err });
  }
  if (size !== entry.bytes) throw wrongSize(entry, shown, `${size} bytes`);
  try {
    for await (const chunk of createReadStream(path)) {
      if (!(await sink.write(chunk as Buffer))) throw wrongSize(entry, shown, `more than ${entry.bytes} bytes`);
    }
  } catch (err) {
    if (err instanceof KaiError) throw err;
    throw new KaiError(`cannot read ${shown} (${errorCode(err)})`, { cause: err });
  }
  sink.check(shown, () => wrongSize(entry, shown, `${sink.received} bytes`));
}

async function download(entry: DownloadableModel, url: string, sink: HashingWriter, ctx: Context): Promise<void> {
  const stall = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => stall.abort(), ctx.stallTimeoutMs);
  };
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, stall.signal]) : stall.signal;
  const cutShort = () =>
    new KaiError(`download of ${entry.name} was cut short (got ${sink.received} of ${entry.bytes} bytes); run the command again`, {
      retryable: true,
    });
  const stalled = () =>
    new KaiError(
      `download of ${entry.name} stalled (no data for ${formatSeconds(ctx.stallTimeoutMs)} from ${url}); run the command again`,
      { retryable: true },
    );

  arm();
  try {
    let response: Response;
    try {
      // identity: Content-Length must be the size of the file itself.
      response = await ctx.fetchImpl(url, { signal, headers: { 'accept-encoding': 'identity' } });
    } catch (err) {
      if (stall.signal.aborted) throw stalled();
      throw unreachable(entry, url, err);
    }
    if (!response.ok) {
      await response.body?.cancel().catch(() => undefined);
      const retryable = response.status >= 500 || response.status === 429 || response.status === 408;
      throw new KaiError(`download of ${entry.name} failed: HTTP ${response.status} from ${url}`, { retryable });
    }
    const length = response.headers.get('content-length');
    if (length !== null && !response.headers.get('content-encoding') && Number(length) !== entry.bytes) {
      await response.body?.cancel().catch(() => undefined);
      throw wrongSize(entry, url, `${length} bytes`);
    }
    if (!response.body) throw cutShort();
    const reader = response.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        arm();
        if (!(await sink.write(value))) throw wrongSize(entry, url, `more than ${entry.bytes} bytes`);
      }
    } catch (err) {
      await reader.cancel().catch(() => undefined);
      if (err instanceof KaiError) throw err;
      if (stall.signal.aborted) throw stalled();
      if (ctx.signal?.aborted) throw err;
      if (sink.received < entry.bytes) throw cutShort();
      throw unreachable(entry, url, err);
    }
    sink.check(url, cutShort);
  } finally {
    clearTimeout(timer);
  }
}

function unreachable(entry: DownloadableModel, url: string, err: unknown): KaiError {
  const code = errorCode(err);
  const host = URL.canParse(url) ? new URL(url).host : url;
  return new KaiError(
    `download of ${entry.name} failed: the server ${host} could not be reached (${code}); try again, or use --from with a mirror folder or URL`,
    { cause: err, retryable: true },
  );
}

/** fetch wraps the socket error: TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } }). */
function errorCode(err: unknown): string {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === 'string') return code;
    current = current.cause;
  }
  return err instanceof Error ? err.message : String(err);
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0] ?? err.message : String(err);
}

function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new KaiError('model download cancelled; run the command again to finish', { retryable: true });
}

async function syncDir(dir: string): Promise<void> {
  // Makes the rename durable; some platforms cannot open or fsync a directory, which is harmless.
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // ignore
  }
}

function formatSeconds(ms: number): string {
  return ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
