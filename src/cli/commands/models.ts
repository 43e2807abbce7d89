import { loadConfig, type Config } from '../../config/index.js';
import { KaiError, UsageError } from '../../errors.js';
import { isDownloadable, loadManifest } from '../../models/manifest.js';
import { PullError, pullModels, type PullProgress, type PullResult } from '../../models/pull.js';
import { listModels, resolveModelsDir, type ModelReport, type ModelStatus } from '../../models/store.js';
import { parseCommandArgs, type Command, type CommandIo } from '../command.js';

export const LICENSE_NOTICE =
  'The pretrained wake-word heads (hey_jarvis, alexa, hey_mycroft, hey_rhasspy) are CC BY-NC-SA 4.0: ' +
  'non-commercial use only. Train your own head for commercial use.';

const usage = `Usage:
  kai models pull [NAME...] [--from DIR_OR_URL] [--dir DIR]
  kai models list [--dir DIR] [--json]

pull   download (or copy from a mirror) and verify model files; default: all the
       wake-word models. Files already present and verified are skipped.
list   show every model: kind, status (installed, missing, bad checksum, bundled),
       size and license.

Options:
  --from DIR_OR_URL  mirror folder, or base URL serving <URL>/<file>
                     (default: config models.mirror, else the upstream release)
  --dir DIR          models folder (default: config models.dir, else $KAI_MODELS_DIR
                     or ~/.local/share/kai/models)
  --config FILE      configuration file (default: ~/.config/kai/config.yaml)
  --json             list: print JSON instead of a table
`;

const options = {
  from: { type: 'string' },
  dir: { type: 'string' },
  config: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export const command: Command = {
  name: 'models',
  summary: 'pull or list the model files (kai models pull|list)',
  usage,
  async run(argv: string[], io: CommandIo): Promise<number> {
    const { values, positionals } = parseCommandArgs('models', argv, options);
    const [sub, ...names] = positionals;
    let config: Config | undefined;
    const getConfig = () => (config ??= loadConfig({ env: io.env, file: values.config }));
    const dir = () => resolveModelsDir(values.dir ?? getConfig().models.dir, io.env, io.cwd);

    switch (sub) {
      case 'pull': {
        if (values.json) throw new UsageError('--json only applies to kai models list');
        const from = values.from ?? (getConfig().models.mirror || undefined);
        return pull(names, dir(), from, io);
      }
      case 'list': {
        if (values.from !== undefined) throw new UsageError('--from only applies to kai models pull');
        if (names.length > 0) throw new UsageError(`kai models list takes no names, got "${names.join(' ')}"`);
        return list(dir(), values.json === true, io);
      }
      case undefined:
        throw new UsageError('missing subcommand: pull or list; run: kai models --help');
      default:
        throw new UsageError(`unknown subcommand "${sub}": use pull or list; run: kai models --help`);
    }
  },
};

async function pull(names: string[], dir: string, from: string | undefined, io: CommandIo): Promise<number> {
  const tty = (io.stderr as NodeJS.WriteStream).isTTY === true;
  const width = Math.max(...loadManifest().models.map((m) => m.name.length));
  let shown = '';
  const onProgress = (p: PullProgress) => {
    if (!tty) return;
    const line = progressLine(p, width);
    if (line === shown) return; // redraw only when the visible text changes
    shown = line;
    io.stderr.write(`\r${line}`);
  };
  const onResult = (r: PullResult) => {
    if (shown) io.stderr.write('\r\x1b[K');
    shown = '';
    const label = r.name.padEnd(width);
    if (r.status === 'failed') io.stderr.write(`${label}  failed: ${r.error.message}\n`);
    else io.stdout.write(`${label}  ${resultText(r)}\n`);
  };
  try {
    await pullModels({ names, dir, from, cwd: io.cwd, onProgress, onResult, signal: io.signal });
  } catch (err) {
    if (shown) io.stderr.write('\r\x1b[K');
    if (!(err instanceof PullError)) throw err;
    const failed = err.results.filter((r) => r.status === 'failed').map((r) => r.name);
    const again = err.retryable ? '; run the command again' : '';
    const counted = failed.length === 1 ? '1 model was' : `${failed.length} models were`;
    throw new KaiError(`${counted} not installed (${failed.join(', ')})${again}`, { retryable: err.retryable, cause: err });
  }
  io.stdout.write(`models folder: ${dir}\n`);
  return 0;
}

function resultText(r: PullResult): string {
  switch (r.status) {
    case 'installed':
      return 'installed';
    case 'already-installed':
      return 'already installed (verified)';
    case 'bundled':
      return 'bundled with its npm package (verified)';
    case 'failed':
      return `failed: ${r.error.message}`;
  }
}

function progressLine(p: PullProgress, width: number): string {
  const fraction = p.total > 0 ? Math.min(1, p.received / p.total) : 0;
  const bar = '#'.repeat(Math.round(fraction * 20)).padEnd(20, '.');
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  return `${p.name.padEnd(width)}  [${bar}] ${percent}  ${mb(p.received)} / ${mb(p.total)}`;
}

async function list(dir: string, json: boolean, io: CommandIo): Promise<number> {
  const reports = await listModels(dir);
  if (json) {
    const models = reports.map(({ entry, path, status }) => ({
      name: entry.name,
      file: entry.file,
      kind: entry.kind,
      status,
      bytes: entry.bytes,
      license: entry.license,
      path,
      source: isDownloadable(entry) ? entry.url : `npm:${entry.npm}`,
      ...(entry.note === undefined ? {} : { note: entry.note }),
    }));
    io.stdout.write(`${JSON.stringify({ dir, models, notice: LICENSE_NOTICE }, null, 2)}\n`);
    return 0;
  }
  io.stdout.write(table(reports));
  io.stdout.write(`\nmodels folder: ${dir}\n`);
  const needPull = reports.filter((r) => isDownloadable(r.entry) && (r.status === 'missing' || r.status === 'bad-checksum'));
  if (needPull.length > 0) io.stdout.write(`to install the missing or damaged ones, run: kai models pull ${needPull.map((r) => r.entry.name).join(' ')}\n`);
  io.stdout.write(`\n${LICENSE_NOTICE}\n`);
  return 0;
}

const statusText: Record<ModelStatus, string> = {
  installed: 'installed',
  missing: 'missing',
  'bad-checksum': 'bad checksum',
  bundled: 'bundled',
};

function table(reports: ModelReport[]): string {
  const rows = [
    ['NAME', 'KIND', 'STATUS', 'SIZE', 'LICENSE'],
    ...reports.map(({ entry, status }) => [entry.name, entry.kind, statusText[status], mb(entry.bytes), entry.license]),
  ];
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) => r.map((cell, i) => (i < widths.length ? (i === 3 ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)) : cell)).join('  '))
    .join('\n')
    .concat('\n');
}

function mb(bytes: number): string {
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}
