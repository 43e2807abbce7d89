import { loadConfig, type Config } from '../config/index.js';
import { resolveModelsDir } from '../models/store.js';
import type { CommandIo } from './command.js';

export interface CommandContext {
  config: Config;
  modelsDir: string;
}

/** Config for a command: defaults ← user file (--config) ← KAI_* env ← flag overrides. */
export function commandContext(io: CommandIo, file: string | undefined, overrides: Record<string, unknown> = {}): CommandContext {
  const config = loadConfig({ file, env: io.env, overrides });
  return { config, modelsDir: resolveModelsDir(config.models.dir, io.env, io.cwd) };
}

export const configOption = { config: { type: 'string' } } as const;
