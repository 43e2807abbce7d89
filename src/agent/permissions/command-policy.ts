import { posix } from 'node:path';
import type { Decision, Verdict } from '../tools/types.js';
import { splitCommand, type SimpleCommand, type Word } from './shell.js';

/**
 * The built-in policy for shell commands. It splits a command into every simple command it would run
 * (see shell.ts) and judges each one:
 *  - deny: things the assistant never does (sudo, recursive deletes outside the workspace, downloads
 *    piped into interpreters, writes outside the workspace, fork bombs, disk tools, force pushes…);
 *  - ask: anything that writes or executes; `uncertain` marks asks where the command cannot be
 *    checked at all (unparseable text, computed command names, eval, code read from a pipe) — those
 *    still ask in `full` mode;
 *  - allow: a short list of read-only commands whose path arguments stay inside the workspace.
 * The overall verdict is the strictest part. Nothing is expanded: `$VAR`, `~` and `$( … )` stay literal.
 * Paths are resolved lexically against the workspace root (symlinks are not followed).
 */

export interface PartVerdict extends Verdict {
  /** The simple command as written. */
  command: string;
  /** The same with quotes removed (assignments, argv, redirections), what actually runs. */
  plain: string;
  /** An 'ask' because the command cannot be checked, not merely because it writes or executes. */
  uncertain: boolean;
}

export interface CommandVerdict extends Verdict {
  /** One verdict per simple command, in the order they would run. Empty when unparseable. */
  parts: PartVerdict[];
  /** True when the strictest verdict is an uncertain 'ask' (full mode still asks). */
  uncertain: boolean;
}

interface Finding {
  decision: Decision;
  reason: string;
  uncertain: boolean;
}

const ALLOW = (reason: string): Finding => ({ decision: 'allow', reason, uncertain: false });
const ASK = (reason: string): Finding => ({ decision: 'ask', reason, uncertain: false });
const UNSURE = (reason: string): Finding => ({ decision: 'ask', reason, uncertain: true });
const DENY = (reason: string): Finding => ({ decision: 'deny', reason, uncertain: false });

function severity(f: Finding): number {
  if (f.decision === 'deny') return 3;
  if (f.decision === 'ask') return f.uncertain ? 2 : 1;
  return 0;
}

/** The strictest finding, but never looser than `min` (ties keep the more specific finding). */
function atLeast(findings: Finding[], min: Finding): Finding {
  return strictest([...findings, min], min);
}

function strictest(findings: Finding[], fallback: Finding): Finding {
  let best: Finding | undefined;
  for (const f of findings) if (!best || severity(f) > severity(best)) best = f;
  return best ?? fallback;
}

const MAX_NESTING = 3;

const PRIVILEGE = new Set(['sudo', 'su', 'doas', 'pkexec', 'run0', 'sudoedit', 'runuser']);
const DISK_TOOLS = new Set([
  'mkfs', 'mke2fs', 'mkswap', 'mkdosfs', 'fdisk', 'sfdisk', 'cfdisk', 'gdisk', 'sgdisk', 'cgdisk', 'parted', 'gparted',
  'wipefs', 'blkdiscard', 'hdparm', 'badblocks', 'cryptsetup', 'pvcreate', 'vgcreate', 'lvcreate', 'lvremove', 'zpool', 'diskutil',
]);
const POWER = new Set(['shutdown', 'reboot', 'halt', 'poweroff', 'killall5']);
const DOWNLOADERS = new Set(['curl', 'wget', 'fetch', 'aria2c', 'http', 'https', 'xh', 'lwp-download', 'lynx', 'ftp', 'tftp']);
const SHELLS = new Set(['sh', 'bash', 'zsh', 'dash', 'ksh', 'mksh', 'ash', 'fish', 'csh', 'tcsh', 'yash', 'rbash']);
const INTERPRETERS = new Set([
  'python', 'python2', 'python3', 'perl', 'ruby', 'node', 'nodejs', 'php', 'lua', 'luajit', 'deno', 'bun', 'tclsh', 'pwsh',
  'powershell', 'osascript', 'Rscript', 'julia', 'awk', 'gawk', 'mawk', 'nawk', 'jshell', 'irb',
]);
const WRAPPERS = new Set(['command', 'builtin', 'exec', 'nohup', 'nice', 'time', 'stdbuf', 'ionice', 'timeout', 'env', 'setsid', 'chrt', 'taskset', 'unbuffer', 'busybox', 'caffeinate']);
/** Read-only commands whose non-option arguments are paths (checked to stay in the workspace). */
const SAFE_READ_PATHS = new Set([
  'ls', 'cat', 'head', 'tail', 'wc', 'file', 'stat', 'du', 'tree', 'basename', 'dirname', 'realpath', 'readlink', 'sort', 'uniq',
  'cut', 'diff', 'cmp', 'comm', 'nl', 'column', 'sha1sum', 'sha256sum', 'sha512sum', 'md5sum', 'cksum', 'tac', 'rev', 'fold',
  'od', 'hexdump', 'strings', 'grep', 'egrep', 'fgrep', 'rg', 'ag', 'jq', 'less', 'more', 'xxd', 'ls-files',
]);
/** Read-only commands whose arguments are not paths. */
const SAFE_NO_PATHS = new Set([
  'pwd', 'echo', 'printf', 'which', 'type', 'whereis', 'whoami', 'id', 'date', 'uname', 'seq', 'sleep', 'test', '[', 'true',
  'false', ':', 'nproc', 'uptime', 'free', 'df', 'ps', 'tr', 'expr', 'hostname', 'exit', 'wait', 'read', 'cal', 'locale', 'groups',
]);
/** Commands with a well-known, harmless `--version`. */
const VERSIONED = new Set([
  'node', 'npm', 'npx', 'pnpm', 'yarn', 'python', 'python3', 'pip', 'pip3', 'go', 'cargo', 'rustc', 'tsc', 'deno', 'bun', 'java',
  'javac', 'gcc', 'g++', 'clang', 'make', 'cmake', 'git', 'docker', 'ruby', 'perl', 'php', 'vitest', 'eslint', 'prettier', 'uv',
]);
/** Short options taking a separate value, per command (so the value is not mistaken for a path). */
const VALUE_OPTIONS: Record<string, string> = {
  grep: 'efmABCdD', egrep: 'efmABCdD', fgrep: 'efmABCdD', rg: 'efmABCgtTMj', ag: 'mABCGg', head: 'nc', tail: 'ncs',
  sort: 'ktoST', cut: 'dfbc', uniq: 'fsw', tree: 'LPIo', du: 'dB', jq: '', nl: 'bdfhilnsvw', column: 'cst', xxd: 'cglos',
  od: 'AjNtw', strings: 'ant', fold: 'w', ls: 'ITw', chmod: '', chown: '', mkdir: 'm', touch: 'drt', truncate: 'sr', cp: 'tS',
  mv: 'tS', ln: 'tS', install: 'tmogS', tee: '', rm: '', find: '', sed: 'efl', perl: 'eEIlmMx', curl: 'oHdXuAeEFKmrTwxy', wget: 'OPoaeU',
  nice: 'n', timeout: 'sk', ionice: 'cnp', env: 'uCS', stdbuf: 'ioe', xargs: 'adEeIiLlnPs', chrt: '', taskset: '',
};
const BENIGN_DEVICES = /^\/dev\/(null|zero|stdout|stderr|stdin|tty|fd\/\d+|random|urandom)$/;

interface Context {
  root: string;
  /** Current folder after the `cd`s seen so far; null once it can't be followed. */
  cwd: string | null;
  depth: number;
  /** The whole command downloads something somewhere. */
  hasDownload: boolean;
  functions: Set<string>;
}

/** Judges a shell command about to run in `workspaceRoot` (absolute, already realpath'ed). */
export function judgeCommand(command: string, workspaceRoot: string): CommandVerdict {
  const root = posix.resolve(workspaceRoot);
  return judge(command, { root, cwd: root, depth: 0, hasDownload: false, functions: new Set() });
}

function judge(command: string, outer: Context): CommandVerdict {
  const rawBomb = forkBombPattern(command);
  if (rawBomb) return finish([{ command: command.trim(), plain: command.trim(), ...DENY(sentence(rawBomb)) }]);
  if (outer.depth > MAX_NESTING) {
    return finish([{ command: command.trim(), plain: command.trim(), ...UNSURE('The command nests shells too deeply to check.') }]);
  }
  const split = splitCommand(command);
  if (!split.ok) {
    const f = UNSURE(`I can't check this command safely because ${split.reason}.`);
    return { decision: f.decision, reason: f.reason, uncertain: true, parts: [] };
  }
  const ctx: Context = {
    root: outer.root,
    cwd: outer.cwd,
    depth: outer.depth,
    hasDownload: outer.hasDownload || split.parts.some(isDownload) || /\b(curl|wget|aria2c)\b/.test(command),
    functions: new Set([...outer.functions, ...split.functions]),
  };
  const parts: PartVerdict[] = [];
  for (const part of split.parts) {
    const f = judgePart(part, ctx);
    parts.push({ command: part.text, plain: plainText(part), decision: f.decision, reason: sentence(f.reason), uncertain: f.uncertain });
  }
  if (parts.length === 0) return { decision: 'allow', reason: 'The command is empty.', uncertain: false, parts };
  return finish(parts);
}

function plainText(part: SimpleCommand): string {
  return [...part.assignments.map((w) => w.text), ...part.argv, ...part.redirections.map((r) => `${r.op} ${r.target}`)].join(' ');
}

function finish(parts: PartVerdict[]): CommandVerdict {
  const worst = strictest(parts, parts[0] as PartVerdict);
  return { decision: worst.decision, reason: worst.reason, uncertain: worst.decision === 'ask' && worst.uncertain, parts };
}

function forkBombPattern(command: string): string | undefined {
  if (/([^\s(){};|&]+)\s*\(\s*\)\s*\{[^}]*?\1\s*\|\s*&?\s*\1/.test(command)) return 'it looks like a fork bomb, a function that keeps starting copies of itself.';
  if (/\bfork\s+while\s+fork\b|\bwhile\s*\(?\s*(1|true)\s*\)?\s*\{?[^}]*\bfork\s*\(/.test(command)) return 'it looks like a fork bomb that starts processes in a loop.';
  return undefined;
}

function basename(text: string): string {
  const i = text.lastIndexOf('/');
  return i >= 0 ? text.slice(i + 1) : text;
}

function isDynamic(w: Word): boolean {
  return w.variable || w.tilde || w.substitutions.length > 0;
}

function isDownload(part: SimpleCommand): boolean {
  const inner = unwrap(part.words);
  const name = inner[0] ? basename(inner[0].text) : '';
  return DOWNLOADERS.has(name);
}

/** Strips wrappers like `env`, `nice -n 5`, `timeout 10`, `command`, `busybox` to reach the real command. */
function unwrap(words: Word[]): Word[] {
  let rest = words;
  for (let guard = 0; guard < 8; guard++) {
    const head = rest[0];
    if (!head || isDynamic(head)) return rest;
    const name = basename(head.text);
    if (!WRAPPERS.has(name)) return rest;
    if (name === 'command' && rest[1] && /^-[a-zA-Z]*[vV]/.test(rest[1].text)) return rest; // `command -v` is a lookup
    const valueOpts = VALUE_OPTIONS[name] ?? '';
    let i = 1;
    for (; i < rest.length; i++) {
      const t = (rest[i] as Word).text;
      if (t === '--') {
        i++;
        break;
      }
      if (t.startsWith('-') && t.length > 1) {
        if (!t.startsWith('--') && valueOpts.includes(t.slice(-1)) && t.length === 2) i++;
        continue;
      }
      if (name === 'env' && /^[A-Za-z_][A-Za-z0-9_]*=/.test(t)) continue;
      break;
    }
    if (name === 'timeout' && i < rest.length) i++; // the duration
    if (i >= rest.length) return [];
    rest = rest.slice(i);
  }
  return rest;
}

interface Args {
  positionals: Word[];
  /** Option texts as written (`-rf`, `--force`, `--output=x`). */
  options: string[];
  /** Values of options that take one, keyed by the option (`-o` → ['file']). */
  values: Map<string, Word[]>;
}

function parseArgs(words: Word[], valueOptions: string, longValueOptions: readonly string[] = []): Args {
  const out: Args = { positionals: [], options: [], values: new Map() };
  const addValue = (opt: string, w: Word): void => {
    out.values.set(opt, [...(out.values.get(opt) ?? []), w]);
  };
  for (let i = 1; i < words.length; i++) {
    const w = words[i] as Word;
    const t = w.text;
    if (t === '--') {
      out.positionals.push(...words.slice(i + 1));
      break;
    }
    if (t.startsWith('--') && !isDynamic(w)) {
      out.options.push(t);
      const eq = t.indexOf('=');
      if (eq > 0) addValue(t.slice(0, eq), { ...w, text: t.slice(eq + 1) });
      else if (longValueOptions.includes(t) && words[i + 1]) addValue(t, words[++i] as Word);
      continue;
    }
    if (t.startsWith('-') && t.length > 1 && !isDynamic(w)) {
      out.options.push(t);
      for (let k = 1; k < t.length; k++) {
        const c = t[k] as string;
        if (valueOptions.includes(c)) {
          if (k < t.length - 1) addValue(`-${c}`, { ...w, text: t.slice(k + 1) });
          else if (words[i + 1]) addValue(`-${c}`, words[++i] as Word);
          break;
        }
      }
      continue;
    }
    out.positionals.push(w);
  }
  return out;
}

function hasShort(args: Args, letters: string): boolean {
  return args.options.some((o) => /^-[A-Za-z]+$/.test(o) && [...letters].some((l) => o.includes(l)));
}

function inside(root: string, abs: string): boolean {
  const rel = posix.relative(root, abs);
  return rel === '' || (!rel.startsWith('../') && rel !== '..' && !posix.isAbsolute(rel));
}

type Resolved = { kind: 'path'; abs: string } | { kind: 'unknown-cwd' };

function resolvePath(ctx: Context, text: string): Resolved {
  if (posix.isAbsolute(text)) return { kind: 'path', abs: posix.normalize(text) };
  if (ctx.cwd === null) return { kind: 'unknown-cwd' };
  return { kind: 'path', abs: posix.resolve(ctx.cwd, text) };
}

function homeLike(w: Word): boolean {
  return w.tilde || /^\$(HOME|\{HOME\})(\/|$)/.test(w.text);
}

interface WriteOptions {
  /** What the command does, for the reason: "deletes", "writes to", "changes permissions of". */
  verb: string;
  deletion?: boolean;
  recursive?: boolean;
  /** /dev/null and friends are fine targets (redirections, dd of=, tee). */
  benignDevices?: boolean;
}

/** Judges one path the command will create, change or delete. */
function judgeWrite(ctx: Context, w: Word, o: WriteOptions): Finding {
  const shown = w.text;
  if (isDynamic(w)) {
    if (homeLike(w)) return DENY(`it ${o.verb} ${shown}, which is in your home folder, outside the workspace.`);
    if (o.deletion || o.recursive) return DENY(`it ${o.verb} ${shown}, a path only known when the command runs, so it can't be checked.`);
    return UNSURE(`it ${o.verb} ${shown}, a path only known when the command runs.`);
  }
  if (o.benignDevices && BENIGN_DEVICES.test(shown)) return ALLOW(`it only writes to ${shown}.`);
  const r = resolvePath(ctx, shown);
  if (r.kind === 'unknown-cwd') {
    if (o.deletion && o.recursive) return DENY(`it ${o.verb} ${shown} after changing to a folder that can't be followed.`);
    return UNSURE(`it ${o.verb} ${shown} after changing to a folder that can't be followed.`);
  }
  if (r.abs.startsWith('/dev/') && !BENIGN_DEVICES.test(r.abs)) return DENY(`it ${o.verb} the device ${r.abs}.`);
  if (!inside(ctx.root, r.abs)) return DENY(`it ${o.verb} ${shown}, which is outside the workspace.`);
  if (o.deletion && r.abs === ctx.root) return DENY('it deletes the whole workspace.');
  const rel = posix.relative(ctx.root, r.abs) || '.';
  if (rel === '.git' || rel.startsWith('.git/')) return UNSURE(`it ${o.verb} ${rel}, inside git's own folder, which can change how git behaves.`);
  return ASK(`it ${o.verb} ${rel} in the workspace.`);
}

/** Judges one path the command will only read. */
function judgeRead(ctx: Context, w: Word): Finding {
  if (w.variable) return ASK(`it reads ${w.text}, a path only known when the command runs.`);
  if (w.tilde) return ASK(`it reads ${w.text}, in your home folder, outside the workspace.`);
  if (w.substitutions.length > 0) return ASK(`it reads a path computed when the command runs.`);
  if (w.text === '-' || w.text === '') return ALLOW('it reads standard input.');
  const r = resolvePath(ctx, w.text);
  if (r.kind === 'unknown-cwd') return ASK(`it reads ${w.text} after changing to a folder that can't be followed.`);
  if (!inside(ctx.root, r.abs)) return ASK(`it reads ${w.text}, which is outside the workspace.`);
  return ALLOW('it only reads files in the workspace.');
}

function judgeRedirections(ctx: Context, part: SimpleCommand): Finding[] {
  const out: Finding[] = [];
  for (const r of part.redirections) {
    if (r.writes) out.push(judgeWrite(ctx, r.targetWord, { verb: 'writes to', benignDevices: true }));
    else if (r.kind === '<' || r.kind === '<&') {
      if (r.kind === '<&' && /^(\d+|-)$/.test(r.target)) continue;
      if (!r.targetWord.processSubstitution) out.push(judgeRead(ctx, r.targetWord));
    }
  }
  return out;
}

function judgePart(part: SimpleCommand, ctx: Context): Finding {
  const findings = judgeRedirections(ctx, part);
  for (const a of part.assignments) {
    const name = a.text.slice(0, a.text.search(/[[+=]/));
    if (/^(PATH|LD_\w+|DYLD_\w+|BASH_ENV|ENV|PROMPT_COMMAND|IFS|SHELLOPTS|PS4|NODE_OPTIONS|GIT_\w+|PYTHONPATH|PERL5OPT)$/.test(name)) {
      findings.push(UNSURE(`it sets ${name}, which changes what later programs run.`));
    } else findings.push(ASK(`it sets the variable ${name}.`));
  }
  if (part.words.length === 0) return strictest(findings, ALLOW('it only sets variables or redirects nothing harmful.'));
  const head = part.words[0] as Word;
  if (part.inFunction !== undefined && head.text === part.inFunction && !head.quoted) {
    return DENY(`it defines a function ${part.inFunction} that calls itself, the way fork bombs work.`);
  }
  findings.push(judgeWords(part.words, part, ctx));
  return strictest(findings, ALLOW('it only reads.'));
}

/** Judges a command given as words (after assignments), e.g. from a simple command or `xargs …`. */
function judgeWords(allWords: Word[], part: SimpleCommand, ctx: Context): Finding {
  const words = unwrap(allWords);
  const head = words[0];
  if (!head) {
    const wrapper = allWords[0] ? basename(allWords[0].text) : '';
    if (wrapper === 'env') return ASK('it prints the environment, which can include secrets.');
    return ALLOW('it does nothing.');
  }
  if (isDynamic(head)) {
    const asRm = judgeWords([{ ...head, text: 'rm', variable: false, tilde: false, substitutions: [] }, ...words.slice(1)], part, ctx);
    if (asRm.decision === 'deny' && hasShort(parseArgs(words, ''), 'rRf')) {
      return DENY('its command name is only known when it runs and its arguments look like a recursive delete outside the workspace.');
    }
    return UNSURE(`its command name ${head.text} is only known when the command runs.`);
  }
  const name = basename(head.text);
  const argv = words.map((w) => w.text);

  if (words.length === 2 && VERSIONED.has(name) && /^(--version|-v|-V|version)$/.test(argv[1] ?? '')) return ALLOW(`it only prints the ${name} version.`);
  if (PRIVILEGE.has(name)) return DENY(`it uses ${name} to run with administrator rights, which the assistant never does.`);
  if (DISK_TOOLS.has(name) || /^mkfs\./.test(name)) return DENY(`${name} formats, partitions or wipes disks.`);
  if (POWER.has(name)) return DENY(`${name} shuts down or restarts the machine.`);
  if (name === 'systemctl' && argv.some((a) => /^(poweroff|reboot|halt|kexec|suspend|hibernate)$/.test(a))) return DENY('it shuts down or restarts the machine.');
  if (name === 'init' && argv[1] !== undefined && /^[06]$/.test(argv[1])) return DENY('it shuts down or restarts the machine.');
  if ((name === 'kill' || name === 'pkill') && argv.slice(1).includes('-1')) return DENY('it kills every process you own.');
  if (name === 'dd') return judgeDd(words, ctx);
  if (name === 'shred' || name === 'srm') {
    const args = parseArgs(words, 'nsu');
    return atLeast(args.positionals.map((w) => judgeWrite(ctx, w, { verb: 'shreds', deletion: true, recursive: true })), ASK(`${name} destroys file contents.`));
  }
  if (name === 'rm' || name === 'rmdir' || name === 'unlink') {
    const args = parseArgs(words, '');
    if (args.options.includes('--no-preserve-root')) return DENY('it removes the protection against deleting /.');
    const recursive = name === 'rm' && (hasShort(args, 'rR') || args.options.includes('--recursive'));
    if (args.positionals.length === 0) return ASK(`${name} deletes files.`);
    return strictest(
      args.positionals.map((w) => judgeWrite(ctx, w, { verb: 'deletes', deletion: true, recursive })),
      ASK(`${name} deletes files.`),
    );
  }
  if (name === 'chmod' || name === 'chown' || name === 'chgrp' || name === 'chattr' || name === 'setfacl') {
    const args = parseArgs(words, name === 'setfacl' ? 'mMxX' : '');
    const recursive = hasShort(args, 'R') || args.options.includes('--recursive');
    const hasReference = args.options.some((o) => o.startsWith('--reference'));
    const targets = hasReference || name === 'setfacl' ? args.positionals : args.positionals.slice(1);
    return strictest(
      targets.map((w) => judgeWrite(ctx, w, { verb: 'changes the permissions or owner of', recursive })),
      ASK(`${name} changes file permissions.`),
    );
  }
  if (name === 'touch' || name === 'mkdir' || name === 'truncate' || name === 'tee' || name === 'mv' || name === 'mktemp') {
    const args = parseArgs(words, VALUE_OPTIONS[name] ?? '', ['--target-directory', '--suffix', '--reference', '--size', '--mode']);
    const targets = [...args.positionals, ...(args.values.get('-t') ?? []), ...(args.values.get('--target-directory') ?? [])];
    const verb = name === 'mv' ? 'moves' : name === 'tee' ? 'writes to' : name === 'mkdir' ? 'creates' : 'changes';
    if (name === 'mktemp') return ASK('it creates a temporary file.');
    return strictest(
      targets.map((w) => judgeWrite(ctx, w, { verb, benignDevices: name === 'tee', deletion: name === 'mv' && w !== targets[targets.length - 1] })),
      name === 'tee' ? ASK('tee writes its input to files.') : ASK(`${name} changes files.`),
    );
  }
  if (name === 'cp' || name === 'ln' || name === 'install' || name === 'rsync' || name === 'scp') {
    const args = parseArgs(words, VALUE_OPTIONS[name] ?? '', ['--target-directory', '--suffix', '-e', '--rsh']);
    const explicit = [...(args.values.get('-t') ?? []), ...(args.values.get('--target-directory') ?? [])];
    const positionals = args.positionals;
    if ((name === 'rsync' || name === 'scp') && positionals.some((w) => /^[^/]*:/.test(w.text))) return ASK(`${name} copies files to or from another machine.`);
    const dest = explicit.length > 0 ? explicit : positionals.length >= 2 ? positionals.slice(-1) : [];
    const sources = explicit.length > 0 ? positionals : positionals.slice(0, -1);
    const findings = dest.map((w) => judgeWrite(ctx, w, { verb: 'writes to' }));
    if (name === 'rsync' && args.options.some((o) => o.startsWith('--remove-source') || o.startsWith('--delete'))) {
      findings.push(...sources.map((w) => judgeWrite(ctx, w, { verb: 'deletes', deletion: true, recursive: true })));
    }
    return strictest(findings, ASK(`${name} creates or overwrites files.`));
  }
  if ((name === 'sed' || name === 'perl') && argv.some((a) => /^-[A-Za-z]*i/.test(a) || a.startsWith('--in-place'))) {
    const args = parseArgs(words, name === 'sed' ? 'efl' : 'eEIlmMx');
    const scriptGiven = args.values.has('-e') || args.values.has('-f') || args.values.has('-E');
    const files = scriptGiven ? args.positionals : args.positionals.slice(1);
    return strictest(files.map((w) => judgeWrite(ctx, w, { verb: 'edits' })), ASK(`${name} edits files in place.`));
  }
  if (name === 'find') return judgeFind(words, part, ctx);
  if (name === 'git') return judgeGit(words, ctx);
  if (SHELLS.has(name) || INTERPRETERS.has(name)) return judgeInterpreter(name, words, part, ctx);
  if (name === 'eval') return judgeEval(words, ctx);
  if (name === 'source' || name === '.') {
    if (words.slice(1).some((w) => containsDownload(w))) return DENY('it runs a downloaded script in the shell.');
    if (words.slice(1).some(isDynamic)) return UNSURE('it runs shell code from a place only known when the command runs.');
    return ASK(`it runs the shell script ${argv[1] ?? ''} in this shell.`.replace(/ {2,}/g, ' '));
  }
  if (name === 'xargs') {
    const args = parseArgs(words, VALUE_OPTIONS.xargs ?? '');
    const start = words.indexOf(args.positionals[0] as Word);
    const inner = start > 0 ? words.slice(start) : [];
    const f = inner.length > 0 ? judgeWords(inner, part, ctx) : ALLOW('');
    if (f.decision === 'deny') return f;
    return atLeast([f], UNSURE(`it runs ${inner[0]?.text ?? 'echo'} on arguments read from its input, which can't be checked.`));
  }
  if (name === 'watch') {
    const args = parseArgs(words, 'nd');
    const inner = judge(args.positionals.map((w) => w.text).join(' '), { ...ctx, depth: ctx.depth + 1 });
    return atLeast([inner], ASK('watch runs a command repeatedly.'));
  }
  if (DOWNLOADERS.has(name)) {
    const args = parseArgs(words, VALUE_OPTIONS[name] ?? '', ['--output', '--output-document', '--directory-prefix', '--config', '--upload-file']);
    const outputs = ['-o', '--output', '-O', '--output-document', '-P', '--directory-prefix'].flatMap((k) =>
      name === 'curl' && k === '-O' ? [] : args.values.get(k) ?? [],
    );
    return atLeast(outputs.map((w) => judgeWrite(ctx, w, { verb: 'downloads into', benignDevices: true })), ASK(`${name} fetches data from the network.`));
  }
  if (name === 'cd' || name === 'pushd' || name === 'popd') {
    const target = words.find((w, i) => i > 0 && !(w.text.startsWith('-') && w.text.length > 1));
    if (name === 'popd' || !target || isDynamic(target) || target.text === '-') ctx.cwd = null;
    else {
      const r = resolvePath(ctx, target.text);
      ctx.cwd = r.kind === 'path' ? r.abs : null;
    }
    return ALLOW('changing folders is harmless by itself.');
  }
  if (name === 'set' || name === 'shopt') {
    if (words.slice(1).every((w) => !isDynamic(w) && /^[-+][A-Za-z]*$|^(pipefail|errexit|nounset|xtrace|-o|\+o|-s|-u)$/.test(w.text))) {
      return ALLOW('it only sets shell options.');
    }
    return ASK(`it changes shell settings with ${name}.`);
  }
  if (name === 'export' || name === 'declare' || name === 'typeset' || name === 'local' || name === 'readonly' || name === 'unset') {
    if (words.slice(1).some((w) => /^(PATH|LD_\w+|DYLD_\w+|BASH_ENV|ENV|PROMPT_COMMAND|IFS|NODE_OPTIONS|GIT_\w+|PYTHONPATH)(=|$)/.test(w.text))) {
      return UNSURE('it changes variables that decide which programs later commands run.');
    }
    return ASK(`it sets shell variables with ${name}.`);
  }
  if (name === 'for' || name === 'select') return ALLOW('a loop header runs nothing by itself.');
  if (name === 'alias' || name === 'trap' || name === 'enable' || name === 'hash') return UNSURE(`${name} changes what later commands do.`);
  if (ctx.functions.has(name)) return ASK(`it runs the shell function ${name} defined in the command.`);
  if (name === 'command' && /^-[a-zA-Z]*[vV]/.test(argv[1] ?? '')) return ALLOW('it only looks up a command.');
  if (SAFE_NO_PATHS.has(name)) return judgeNoPaths(name, words);
  if (SAFE_READ_PATHS.has(name)) return judgeSafeRead(name, words, ctx);
  if (name === 'ssh' || name === 'mosh') return ASK(`${name} runs commands on another machine.`);
  return ASK(`it runs ${name}, which can change files or run other programs.`);
}

function judgeNoPaths(name: string, words: Word[]): Finding {
  if ((name === 'date' && words.some((w) => /^(-s|--set)/.test(w.text))) || (name === 'hostname' && words.length > 1 && !words[1]?.text.startsWith('-'))) {
    return ASK(`${name} changes a system setting.`);
  }
  const variable = words.find((w) => w.variable);
  if (variable) return ASK(`it uses ${variable.text}, whose value is only known when the command runs.`);
  return ALLOW(`${name} only reads or prints.`);
}

function judgeSafeRead(name: string, words: Word[], ctx: Context): Finding {
  const args = parseArgs(words, VALUE_OPTIONS[name] ?? '', ['--max-count', '--regexp', '--file', '--glob', '--type', '--arg', '--argjson']);
  const findings: Finding[] = [];
  if (name === 'rg' && args.options.some((o) => o.startsWith('--pre'))) return ASK('rg --pre runs another program on every file.');
  if ((name === 'sort' || name === 'tree') && args.values.has('-o')) {
    findings.push(...(args.values.get('-o') ?? []).map((w) => judgeWrite(ctx, w, { verb: 'writes to', benignDevices: true })));
  }
  if (name === 'sort' && args.values.has('--output')) findings.push(...(args.values.get('--output') ?? []).map((w) => judgeWrite(ctx, w, { verb: 'writes to' })));
  let paths = args.positionals;
  if ((name === 'uniq' || name === 'xxd') && paths.length > 1) {
    findings.push(...paths.slice(1).map((w) => judgeWrite(ctx, w, { verb: 'writes to', benignDevices: true })));
    paths = paths.slice(0, 1);
  }
  const patternGiven = args.values.has('-e') || args.values.has('-f') || args.values.has('--regexp') || args.values.has('--file');
  if ((['grep', 'egrep', 'fgrep', 'rg', 'ag'].includes(name) && !patternGiven) || name === 'jq') paths = paths.slice(1);
  for (const w of paths) findings.push(judgeRead(ctx, w));
  for (const key of ['-f', '--file']) for (const w of args.values.get(key) ?? []) findings.push(judgeRead(ctx, w));
  for (const [opt, values] of args.values) {
    if (opt.startsWith('--')) for (const w of values) if (/^(\/|~|\.\.)/.test(w.text)) findings.push(judgeRead(ctx, w));
  }
  return strictest(findings, ALLOW(`${name} only reads files in the workspace.`));
}

function judgeDd(words: Word[], ctx: Context): Finding {
  const findings: Finding[] = [];
  for (const w of words.slice(1)) {
    if (w.text.startsWith('of=')) {
      const target: Word = { ...w, text: w.text.slice(3), tilde: w.text.startsWith('of=~') };
      findings.push(judgeWrite(ctx, target, { verb: 'writes raw data to', benignDevices: true }));
    } else if (w.text.startsWith('if=')) {
      findings.push(judgeRead(ctx, { ...w, text: w.text.slice(3), tilde: w.text.startsWith('if=~') }));
    }
  }
  return atLeast(findings, ASK('dd copies raw data.'));
}

function judgeFind(words: Word[], part: SimpleCommand, ctx: Context): Finding {
  const findings: Finding[] = [];
  let i = 1;
  const starts: Word[] = [];
  while (i < words.length && !/^[-(!]/.test((words[i] as Word).text)) starts.push(words[i++] as Word);
  if (starts.length === 0) starts.push({ text: '.', variable: false, tilde: false, glob: false, substitutions: [], processSubstitution: false, quoted: false });
  let acts = false;
  for (; i < words.length; i++) {
    const t = (words[i] as Word).text;
    if (t === '-delete') {
      acts = true;
      findings.push(...starts.map((w) => judgeWrite(ctx, w, { verb: 'deletes files under', recursive: true })));
    } else if (/^-(exec|execdir|ok|okdir)$/.test(t)) {
      acts = true;
      const inner: Word[] = [];
      for (i++; i < words.length && !/^(;|\+)$/.test((words[i] as Word).text); i++) inner.push(words[i] as Word);
      if (inner.length > 0) {
        const f = judgeWords(inner, part, ctx);
        if (f.decision === 'deny') findings.push(f);
        else if (inner[0] && basename(inner[0].text) === 'rm') {
          findings.push(...starts.map((w) => judgeWrite(ctx, w, { verb: 'deletes files under', recursive: true })));
        }
        findings.push(atLeast([f], ASK(`find runs ${inner[0]?.text ?? 'a command'} on every match.`)));
      }
    } else if (/^-(fprint|fprint0|fprintf|fls)$/.test(t) && words[i + 1]) {
      acts = true;
      findings.push(judgeWrite(ctx, words[++i] as Word, { verb: 'writes to', benignDevices: true }));
    }
  }
  if (!acts) findings.push(...starts.map((w) => judgeRead(ctx, w)));
  return strictest(findings, ALLOW('find only lists files in the workspace.'));
}

const GIT_READ = new Set(['status', 'diff', 'log', 'show', 'blame', 'rev-parse', 'ls-files', 'ls-tree', 'describe', 'shortlog', 'grep', 'whatchanged', 'cat-file', 'rev-list', 'version', 'help', 'annotate', 'merge-base', 'name-rev', 'show-ref', 'count-objects']);

function judgeGit(words: Word[], ctx: Context): Finding {
  let i = 1;
  const findings: Finding[] = [];
  for (; i < words.length; i++) {
    const w = words[i] as Word;
    const t = w.text;
    if (t === '-C' && words[i + 1]) {
      const dir = words[++i] as Word;
      if (isDynamic(dir)) findings.push(UNSURE(`it runs git in ${dir.text}, a folder only known when the command runs.`));
      else {
        const r = resolvePath(ctx, dir.text);
        if (r.kind !== 'path' || !inside(ctx.root, r.abs)) findings.push(ASK(`it runs git in ${dir.text}, outside the workspace.`));
      }
      continue;
    }
    if (t === '-c' || t.startsWith('--config-env') || t.startsWith('--exec-path')) {
      return UNSURE('git -c can set aliases or hooks that run arbitrary programs.');
    }
    if (t.startsWith('--git-dir') || t.startsWith('--work-tree') || t === '--namespace') {
      findings.push(ASK('it points git at another repository or work tree.'));
      if (!t.includes('=')) i++;
      continue;
    }
    if (t.startsWith('-')) continue;
    break;
  }
  const sub = words[i]?.text ?? '';
  const rest = words.slice(i);
  const restText = rest.slice(1).map((w) => w.text);
  if (sub === 'push') {
    const forced = restText.some(
      (a) => a === '--force' || a === '--mirror' || a.startsWith('--force-with-lease') || a === '--force-if-includes' || /^-[A-Za-z]*f[A-Za-z]*$/.test(a) || (/^\+/.test(a) && a.length > 1),
    );
    if (forced) return DENY('it force-pushes, which can overwrite history on the remote.');
    return strictest(findings, ASK('it pushes commits to a remote.'));
  }
  const outputs = rest.flatMap((w, k) => (w.text.startsWith('--output=') ? [{ ...w, text: w.text.slice(9) }] : w.text === '--output' && rest[k + 1] ? [rest[k + 1] as Word] : []));
  findings.push(...outputs.map((w) => judgeWrite(ctx, w, { verb: 'writes to', benignDevices: true })));
  let readOnly = GIT_READ.has(sub);
  if (sub === 'branch') readOnly = restText.every((a) => /^(-a|-r|-v|-vv|--list|-l|--all|--remotes|--show-current|--verbose|--merged|--no-merged|--contains|--no-color|--color)$/.test(a));
  if (sub === 'tag') readOnly = restText.every((a) => /^(-l|--list|-n\d*|--contains|--sort=.*)$/.test(a));
  if (sub === 'remote') readOnly = restText.every((a) => /^(-v|--verbose|show|get-url)$/.test(a)) || (restText[0] === 'get-url');
  if (sub === 'stash') readOnly = restText[0] === 'list' || restText[0] === 'show';
  if (sub === 'config') readOnly = restText.some((a) => /^(--get|--get-all|--list|-l|--get-regexp)$/.test(a));
  if (sub === 'reflog') readOnly = restText.length === 0 || restText[0] === 'show';
  if (sub === '' ) readOnly = true;
  if (restText.some((a) => a.startsWith('--ext-diff') || a.startsWith('--textconv') || a === '--open-files-in-pager' || a === '-O')) readOnly = false;
  if (readOnly) return strictest(findings, ALLOW(`git ${sub} only reads the repository.`.replace('git  ', 'git ')));
  return strictest(findings, ASK(`it runs git ${sub}, which can change the repository.`));
}

/** True when a word runs a download inside a substitution (`$(curl …)`, `<(wget …)`). */
function containsDownload(w: Word): boolean {
  return w.substitutions.some((s) => /\b(curl|wget|aria2c|fetch|xh|https?)\b/.test(s) || (() => {
    const split = splitCommand(s);
    return split.ok && split.parts.some(isDownload);
  })());
}

function judgeInterpreter(name: string, words: Word[], part: SimpleCommand, ctx: Context): Finding {
  const isShell = SHELLS.has(name);
  const all = [...words.slice(1), ...part.redirections.map((r) => r.targetWord)];
  if (ctx.hasDownload && all.some(containsDownload)) return DENY(`it runs downloaded code with ${name}.`);
  // Find inline code: `sh -c STRING`, `python -c CODE`, `node -e CODE`, `perl -e CODE`…
  const codeFlags = isShell ? /^-[A-Za-z]*c[A-Za-z]*$/ : /^(-[A-Za-z]*[ceErp]|--eval|--print|-m|--command)$/;
  let code: Word | undefined;
  let script: Word | undefined;
  let stdinFlag = false;
  let codeFlag = false;
  for (let i = 1; i < words.length; i++) {
    const w = words[i] as Word;
    if (w.text === '-' || (isShell && /^-[A-Za-z]*s[A-Za-z]*$/.test(w.text) && !codeFlag)) stdinFlag = true;
    if (w.text === '--') {
      script = words[i + 1];
      break;
    }
    if (codeFlags.test(w.text) && !codeFlag) {
      codeFlag = true;
      code = words[i + 1];
      break;
    }
    if (w.text.startsWith('-')) {
      if (!isShell && /^(-W|-X|-I|-r|--require|--import|--loader)$/.test(w.text)) i++;
      continue;
    }
    if (name.endsWith('awk')) {
      code = w;
      codeFlag = true;
      break;
    }
    script = w;
    break;
  }
  if (isShell && codeFlag) {
    if (!code) return UNSURE(`${name} -c is missing its command.`);
    const inner = judge(code.text, { ...ctx, depth: ctx.depth + 1 });
    if (inner.decision === 'deny') return DENY(`the command it runs with ${name} -c is denied: ${lowerFirst(inner.reason)}`);
    if (code.variable) return UNSURE(`it runs ${name} -c on text with variables only known when the command runs.`);
    if (inner.decision === 'ask' && inner.uncertain) return UNSURE(inner.reason);
    return ASK(`it runs a nested shell command with ${name} -c.`);
  }
  const readsStdin = !codeFlag && (stdinFlag || !script);
  const stdinRedirected = part.redirections.some((r) => r.fd === 0 && (r.kind === '<' || r.kind === '<<<'));
  if (readsStdin && (part.pipedInto || stdinRedirected)) {
    if (ctx.hasDownload) return DENY(`it pipes a download into ${name}, which runs whatever the server sends.`);
    return UNSURE(`it runs ${name} code read from its input, which can't be checked.`);
  }
  if (script && (script.processSubstitution || script.substitutions.length > 0)) {
    if (containsDownload(script)) return DENY(`it runs downloaded code with ${name}.`);
    return UNSURE(`it runs ${name} code produced when the command runs.`);
  }
  if (codeFlag) return ASK(`it runs inline ${name} code.`);
  if (script) return ASK(`it runs the ${name} script ${script.text}.`);
  return ASK(`it starts ${name}.`);
}

function judgeEval(words: Word[], ctx: Context): Finding {
  const args = words.slice(1);
  if (args.some(containsDownload)) return DENY('it evaluates downloaded text as shell code.');
  const inner = judge(args.map((w) => w.text).join(' '), { ...ctx, depth: ctx.depth + 1 });
  if (inner.decision === 'deny') return DENY(`the text it evaluates is denied: ${lowerFirst(inner.reason)}`);
  if (args.some(isDynamic)) return UNSURE('it evaluates text that is only known when the command runs.');
  return atLeast([{ decision: inner.decision, reason: inner.reason, uncertain: inner.uncertain }], ASK('it evaluates text as shell code.'));
}

/** Reasons are written as "it deletes …"; the verdict starts them with a capital letter. */
function sentence(text: string): string {
  return /^(it|its|the|changing|find)\b/.test(text) ? text.charAt(0).toUpperCase() + text.slice(1) : text;
}

function lowerFirst(text: string): string {
  if (/^(It|Its|The|Changing|Find)\b/.test(text)) return text.charAt(0).toLowerCase() + text.slice(1);
  return text;
}
