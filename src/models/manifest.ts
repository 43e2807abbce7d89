import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { KaiError, UsageError } from '../errors.js';
import { packageRoot } from '../paths.js';

export const modelKinds = ['wakeword-feature', 'wakeword-head', 'vad'] as const;
export type ModelKind = (typeof modelKinds)[number];

const common = {
  name: z.string().regex(/^[a-z0-9_]+$/, 'must be lower-case letters, digits and _'),
  // A bare file name: it is joined to the models folder, so no separators or dot-dot.
  file: z.string().regex(/^[A-Za-z0-9_.-]+\.onnx$/, 'must be a plain .onnx file name'),
  kind: z.enum(modelKinds),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits'),
  bytes: z.number().int().positive(),
  license: z.string().min(1),
  note: z.string().optional(),
};

const downloadableSchema = z.strictObject({ ...common, url: z.url({ protocol: /^https?$/ }) });
/** Shipped inside an npm dependency: "<package>/<path inside the package>". */
const bundledSchema = z.strictObject({ ...common, npm: z.string().regex(/^(@[^/]+\/)?[^/@]+\/.+\.onnx$/) });

export const manifestSchema = z
  .strictObject({ models: z.array(z.union([downloadableSchema, bundledSchema])).min(1) })
  .superRefine((m, ctx) => {
    const seen = new Set<string>();
    m.models.forEach((entry, i) => {
      for (const key of [entry.name, entry.file]) {
        if (seen.has(key)) ctx.addIssue({ code: 'custom', message: `"${key}" is listed twice`, path: ['models', i] });
        seen.add(key);
      }
    });
  });

export type DownloadableModel = z.infer<typeof downloadableSchema>;
export type BundledModel = z.infer<typeof bundledSchema>;
export type ModelEntry = DownloadableModel | BundledModel;
export type Manifest = z.infer<typeof manifestSchema>;

export const manifestPath = join(packageRoot, 'models', 'manifest.json');

export function isDownloadable(entry: ModelEntry): entry is DownloadableModel {
  return 'url' in entry;
}

/** Validates a parsed manifest; `source` names the file in the error message. */
export function parseManifest(value: unknown, source = manifestPath): Manifest {
  const result = manifestSchema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue?.path.length ? ` at ${issue.path.join('.')}` : '';
  throw new KaiError(`model manifest ${source} is invalid${where}: ${issue?.message ?? 'unknown problem'}`);
}

let cached: Manifest | undefined;

/** The manifest shipped with the package (read once), or the one at `path`. */
export function loadManifest(path?: string): Manifest {
  if (path === undefined && cached) return cached;
  const file = path ?? manifestPath;
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const reason = err instanceof SyntaxError ? 'is not valid JSON' : `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
    throw new KaiError(`model manifest ${file} ${reason}; reinstall kai-ambient`);
  }
  const manifest = parseManifest(value, file);
  if (path === undefined) cached = manifest;
  return manifest;
}

/** Matches the short name, the file name, or the file name without .onnx. */
export function lookupModel(name: string, manifest: Manifest = loadManifest()): ModelEntry | undefined {
  return manifest.models.find((m) => m.name === name || m.file === name || m.file === `${name}.onnx`);
}

export function unknownModelMessage(name: string, manifest: Manifest = loadManifest()): string {
  return `unknown model "${name}"; known models: ${manifest.models.map((m) => m.name).join(', ')}`;
}

export function findModel(name: string, manifest: Manifest = loadManifest()): ModelEntry {
  const entry = lookupModel(name, manifest);
  if (!entry) throw new UsageError(unknownModelMessage(name, manifest));
  return entry;
}

/** How messages name a model's role: "wake-word model hey_jarvis". */
export function kindLabel(kind: ModelKind): string {
  switch (kind) {
    case 'wakeword-head':
      return 'wake-word model';
    case 'wakeword-feature':
      return 'wake-word feature model';
    case 'vad':
      return 'VAD model';
  }
}
