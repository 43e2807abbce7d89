import { existsSync, statSync } from 'node:fs';
import { lstat, mkdir, readFile, readlink, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { loadConfig } from '../../config/index.js';
import { KaiError, UsageError } from '../../errors.js';
import { packageRoot } from '../../paths.js';
import { parseCommandArgs, type Command, type CommandIo } from '../command.js';

/** First line of every unit we write; we only overwrite or remove files that carry it. */
export const UNIT_MARKER = '# Written by `kai service install`; rerun it to update this file.';

const usage = `Usage:
  kai service install [--print] [--config FILE]
  kai service uninstall

install    write a systemd user unit that runs \`kai run --no-tty\` with this Node.js,
           this kai and the current folder as the working directory, restarting it
           whenever it stops: $XDG_CONFIG_HOME/systemd/user/kai.service
           (default ~/.config/systemd/user/kai.service)
uninstall  remove that unit (and its enable link)

Options:
  --print        print the unit instead of writing it
  --config FILE  configuration file the service runs with (checked now)
`;

const options = {
  print: { type: 'boolean', default: false },
  config: { type: 'string' },
} as const;

export const command: Command = {
  name: 'service',
  summary: 'install or remove the systemd user service (kai service install|uninstall)',
  usage,
  async run(argv: string[], io: CommandIo): Promise<number> {
    const { values, positionals } = parseCommandArgs('service', argv, options);
    const [sub, ...rest] = positionals;
    if (rest.length > 0) throw new UsageError(`unexpected argument "${rest.join(' ')}"; run: kai service --help`);
    switch (sub) {
      case 'install':
        return install(io, values.print, values.config);
      case 'uninstall':
        if (values.print || values.config !== undefined) throw new UsageError('kai service uninstall takes no options');
        return uninstall(io);
      case undefined:
        throw new UsageError('missing subcommand: install or uninstall; run: kai service --help');
      default:
        throw new UsageError(`unknown subcommand "${sub}": use install or uninstall; run: kai service --help`);
    }
  },
};

/** Where the user unit goes: $XDG_CONFIG_HOME/systemd/user/kai.service, default ~/.config/…. */
export function unitPath(env: NodeJS.ProcessEnv): string {
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), '.config');
  return join(base, 'systemd', 'user', 'kai.service');
}

/** The bin script the unit runs (built; `npm run build` writes it). */
export const kaiScript = join(packageRoot, 'dist', 'src', 'cli', 'kai.js');

export interface UnitOptions {
  /** Absolute path of node. */
  node: string;
  /** Absolute path of the kai bin script. */
  script: string;
  /** Working directory (absolute). */
  cwd: string;
  /** Absolute config file path, passed as --config. */
  config?: string;
}

export function renderUnit(unit: UnitOptions): string {
  const exec = [unit.node, unit.script, 'run', '--no-tty', ...(unit.config !== undefined ? ['--config', unit.config] : [])];
  return `${UNIT_MARKER}
[Unit]
Description=KAI Ambient voice assistant
# Never give up restarting: a kiosk must come back however often it fell over.
StartLimitIntervalSec=0

[Service]
Type=simple
ExecStart=${exec.map(quoteExecArg).join(' ')}
WorkingDirectory=${escapePathValue(unit.cwd)}
Environment=NODE_ENV=production
Restart=always
RestartSec=5

[Install]
WantedBy=default.target
`;
}

/**
 * One ExecStart= word. systemd splits on whitespace, honours double quotes with C escapes, and
 * expands `%` specifiers and `$VAR` everywhere, so those are doubled.
 */
export function quoteExecArg(arg: string): string {
  checkLine(arg);
  const escaped = arg.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (escaped !== '' && !/[\s"'\\;]/.test(escaped)) return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** A path setting (WorkingDirectory=) takes the rest of the line as is, apart from specifiers. */
function escapePathValue(path: string): string {
  checkLine(path);
  if (path !== path.trim()) throw new UsageError(`systemd cannot use a path that starts or ends with a space: "${path}"`);
  return path.replace(/%/g, '%%');
}

function checkLine(text: string): void {
  if (/[\n\r\0]/.test(text)) throw new UsageError(`systemd cannot use a path with a line break: ${JSON.stringify(text)}`);
}

async function install(io: CommandIo, print: boolean, configFile: string | undefined): Promise<number> {
  let config: string | undefined;
  if (configFile !== undefined) {
    config = resolve(io.cwd, configFile);
    if (!existsSync(config) || !statSync(config).isFile()) throw new UsageError(`config file ${config} does not exist`);
    try {
      loadConfig({ file: config, env: {} });
    } catch (err) {
      if (err instanceof KaiError) throw new UsageError(err.message, { cause: err });
      throw err;
    }
  }
  if (!existsSync(kaiScript)) throw new UsageError(`${kaiScript} does not exist; run npm run build in ${packageRoot} first`);
  const unit = renderUnit({ node: process.execPath, script: kaiScript, cwd: resolve(io.cwd), ...(config !== undefined ? { config } : {}) });
  if (print) {
    io.stdout.write(unit);
    return 0;
  }
  if (process.platform !== 'linux') throw new UsageError('kai service needs Linux with systemd; use --print to see the unit');

  const path = unitPath(io.env);
  const existing = await readExisting(path);
  if (existing !== undefined && !existing.startsWith(UNIT_MARKER)) {
    throw new UsageError(`${path} was not written by kai; move it aside first, or use --print and merge by hand`);
  }
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, unit, { mode: 0o644 });
  await rename(temp, path);
  io.stdout.write(`${existing === undefined ? 'wrote' : 'updated'} ${path}

Next steps:
  systemctl --user daemon-reload && systemctl --user enable --now kai
  loginctl enable-linger $USER     # keep it running without a login session (kiosk, ssh)
  journalctl --user -u kai -f      # follow its logs
`);
  return 0;
}

async function uninstall(io: CommandIo): Promise<number> {
  const path = unitPath(io.env);
  const existing = await readExisting(path);
  if (existing === undefined) {
    io.stdout.write(`no kai service at ${path}; nothing to do\n`);
    return 0;
  }
  if (!existing.startsWith(UNIT_MARKER)) throw new UsageError(`${path} was not written by kai; remove it by hand`);
  // What `systemctl --user disable` would remove, so no dangling link is left behind.
  const link = join(dirname(path), 'default.target.wants', 'kai.service');
  if ((await lstat(link).catch(() => undefined))?.isSymbolicLink() && resolve(dirname(link), await readlink(link)) === path) {
    await rm(link);
  }
  await rm(path);
  io.stdout.write(`removed ${path}

Next steps (stop the running service and let systemd forget it):
  systemctl --user stop kai; systemctl --user daemon-reload
`);
  return 0;
}

async function readExisting(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
