import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { ModelError } from '../errors.js';
import { defaultModelsDir, packageRoot } from '../paths.js';
import {
  isDownloadable,
  kindLabel,
  loadManifest,
  lookupModel,
  unknownModelMessage,
  type BundledModel,
  type Manifest,
  type ModelEntry,
} from './manifest.js';

export type ModelStatus = 'installed' | 'missing' | 'bad-checksum' | 'bundled';
export type VerifyResult = 'ok' | 'missing' | 'bad-checksum';

export interface ModelReport {
  entry: ModelEntry;
  path: string;
  status: ModelStatus;
}

/** `--dir` or config `models.dir` when set (relative to cwd, `~/` expanded), else the default folder. */
export function resolveModelsDir(
  configured: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): string {
  if (!configured) return defaultModelsDir(env);
  if (configured === '~' || configured.startsWith('~/')) return join(homedir(), configured.slice(1));
  return resolve(cwd, configured);
}

/** Where the file of an npm-bundled model is, whether or not it exists. */
export function bundledPath(entry: BundledModel): string {
  const parts = entry.npm.split('/');
  const nameParts = entry.npm.startsWith('@') ? 2 : 1;
  const pkg = parts.slice(0, nameParts).join('/');
  const rest = parts.slice(nameParts);
  try {
    const manifest = createRequire(import.meta.url).resolve(`${pkg}/package.json`);
    return join(dirname(manifest), ...rest);
  } catch {
    // Package not installed: point where it would be so the user sees a sensible path.
    return join(packageRoot, 'node_modules', pkg, ...rest);
  }
}

export function modelPath(entry: ModelEntry, dir: string): string {
  return isDownloadable(entry) ? join(dir, entry.file) : bundledPath(entry);
}

interface CacheEntry {
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  sha256: string;
  result: VerifyResult;
}
const verified = new Map<string, CacheEntry>();

/** Streams the file through sha256. Cached per process on (inode, size, mtime), so re-checks are cheap. */
export async function verifyFile(path: string, sha256: string, bytes: number): Promise<VerifyResult> {
  let info;
  try {
    info = await stat(path, { bigint: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw err;
  }
  if (!info.isFile()) return 'missing';
  if (info.size !== BigInt(bytes)) return 'bad-checksum';
  const hit = verified.get(path);
  if (hit && hit.ino === info.ino && hit.size === info.size && hit.mtimeNs === info.mtimeNs && hit.sha256 === sha256) {
    return hit.result;
  }
  const result: VerifyResult = (await sha256File(path)) === sha256 ? 'ok' : 'bad-checksum';
  verified.set(path, { ino: info.ino, size: info.size, mtimeNs: info.mtimeNs, sha256, result });
  return result;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Forget cached verification results (tests, or after files were replaced behind our back). */
export function clearVerifyCache(): void {
  verified.clear();
}

export async function modelStatus(entry: ModelEntry, dir: string): Promise<ModelReport> {
  const path = modelPath(entry, dir);
  const result = await verifyFile(path, entry.sha256, entry.bytes);
  const status: ModelStatus = result === 'ok' ? (isDownloadable(entry) ? 'installed' : 'bundled') : result;
  return { entry, path, status };
}

export async function listModels(dir: string, manifest: Manifest = loadManifest()): Promise<ModelReport[]> {
  const reports: ModelReport[] = [];
  for (const entry of manifest.models) reports.push(await modelStatus(entry, dir));
  return reports;
}

export interface ResolveOptions {
  manifest?: Manifest;
  /** Base for relative paths to custom .onnx files. */
  cwd?: string;
}

/**
 * The absolute path of a verified model file, for the wake-word and VAD code.
 * `name` is a manifest name (or file name), or a path to a custom .onnx head (used as is, no checksum).
 */
export async function resolveModel(name: string, dir: string, options: ResolveOptions = {}): Promise<string> {
  const manifest = options.manifest ?? loadManifest();
  const isPath = /[\\/]/.test(name);
  const entry = isPath ? undefined : lookupModel(name, manifest);
  if (!entry) {
    if (name.toLowerCase().endsWith('.onnx')) return resolveCustom(resolve(options.cwd ?? process.cwd(), name));
    throw new ModelError(`${unknownModelMessage(name, manifest)}; or give the path to an .onnx file`);
  }
  const { path, status } = await modelStatus(entry, dir);
  if (status === 'installed' || status === 'bundled') return path;
  const what = `${kindLabel(entry.kind)} ${entry.name}`;
  const problem = status === 'missing' ? 'is not installed' : 'is corrupt (checksum mismatch)';
  const fix = isDownloadable(entry)
    ? `run: kai models pull ${entry.name}`
    : `reinstall the npm dependencies of kai-ambient (${entry.npm})`;
  throw new ModelError(`${what} ${problem}; ${fix}`);
}

async function resolveCustom(path: string): Promise<string> {
  try {
    if ((await stat(path)).isFile()) return path;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    throw new ModelError(`model file ${path} does not exist`);
  }
  throw new ModelError(`model file ${path} is not a file`);
}
