import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(start: string): string {
  let dir = start;
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'kai-ambient') return dir;
      } catch {
        // not ours; keep walking up
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the kai-ambient package root');
    dir = parent;
  }
}

/** The installed package's root, the same from src/ (tests) and dist/ (the bin). */
export const packageRoot = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

/** Where downloaded models live unless config or KAI_MODELS_DIR says otherwise. */
export function defaultModelsDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KAI_MODELS_DIR) return resolve(env.KAI_MODELS_DIR);
  const base = env.XDG_DATA_HOME ? resolve(env.XDG_DATA_HOME) : join(homedir(), '.local', 'share');
  return join(base, 'kai', 'models');
}

/** Where kai keeps what must survive a restart (jobs, audit log, history, token): $XDG_STATE_HOME/kai. */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME ? resolve(env.XDG_STATE_HOME) : join(homedir(), '.local', 'state');
  return join(base, 'kai');
}
