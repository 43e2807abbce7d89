import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { KaiError } from '../errors.js';
import { packageRoot } from '../paths.js';
import { configSchema, type Config } from './schema.js';

export class ConfigError extends KaiError {}

type Tree = Record<string, unknown>;

export interface LoadOptions {
  /** --config FILE; when absent ~/.config/kai/config.yaml is used if it exists. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Flag overrides as dotted paths, e.g. { 'wakeword.threshold': 0.6 }. */
  overrides?: Record<string, unknown>;
}

/** default.yaml ← user file ← KAI_* env ← flags, validated by one zod schema. */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const layers: Tree[] = [readYaml(join(packageRoot, 'config', 'default.yaml'))];
  const userFile = options.file ?? userConfigPath(env);
  if (options.file !== undefined || existsSync(userFile)) layers.push(readYaml(userFile));
  layers.push(envLayer(env));
  layers.push(dottedLayer(options.overrides ?? {}));
  const merged = layers.reduce<Tree>((acc, layer) => deepMerge(acc, layer), {});
  const result = configSchema.safeParse(merged);
  if (!result.success) throw new ConfigError(describeIssue(result.error, options.file ?? userFile));
  return result.data;
}

export function userConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME ? resolve(env.XDG_CONFIG_HOME) : join(homedir(), '.config');
  return join(base, 'kai', 'config.yaml');
}

function readYaml(path: string): Tree {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(
      code === 'ENOENT' ? `config file ${path} does not exist` : `cannot read config file ${path} (${code ?? 'error'})`,
    );
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    const first = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new ConfigError(`config file ${path} is not valid YAML: ${first}`);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`config file ${path} must be a YAML mapping of sections (audio:, wakeword:, …)`);
  }
  return value as Tree;
}

/** KAI_WAKEWORD__THRESHOLD=0.6 → { wakeword: { threshold: 0.6 } }; values parsed as YAML scalars. */
function envLayer(env: NodeJS.ProcessEnv): Tree {
  const dotted: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(env)) {
    if (!key.startsWith('KAI_') || !key.includes('__') || raw === undefined) continue;
    const path = key
      .slice(4)
      .split('__')
      .map((part) => part.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()));
    dotted[path.join('.')] = parseScalar(raw);
  }
  return dottedLayer(dotted);
}

function parseScalar(raw: string): unknown {
  try {
    return parseYaml(raw) ?? raw;
  } catch {
    return raw;
  }
}

function dottedLayer(dotted: Record<string, unknown>): Tree {
  const tree: Tree = {};
  for (const [path, value] of Object.entries(dotted)) {
    if (value === undefined) continue;
    const parts = path.split('.');
    let node = tree;
    for (const part of parts.slice(0, -1)) {
      const next = node[part];
      node = (node[part] = typeof next === 'object' && next !== null ? next : {}) as Tree;
    }
    node[parts[parts.length - 1]!] = value;
  }
  return tree;
}

function deepMerge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prev = out[key];
    out[key] = isTree(prev) && isTree(value) ? deepMerge(prev, value) : value;
  }
  return out;
}

function isTree(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describeIssue(error: z.ZodError, file: string): string {
  const issue = error.issues[0];
  if (!issue) return `invalid configuration in ${file}`;
  const path = issue.path.join('.') || '(top level)';
  return `invalid configuration at ${path}: ${issue.message} (check ${file}, KAI_* variables and flags)`;
}
