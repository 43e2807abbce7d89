import { lstat, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { KaiError } from '../../errors.js';

/** A path a tool was given cannot be used (missing, not a directory…); the message is one line. */
export class WorkspacePathError extends KaiError {}

/** A path leads outside the workspace root (or into `.git` internals for a write). */
export class OutsideWorkspaceError extends WorkspacePathError {}

export interface ResolveOptions {
  /** Fail with WorkspacePathError when the path does not exist. */
  mustExist?: boolean;
  /** The caller will create or change the file: `.git` internals and the root itself are refused. */
  forWrite?: boolean;
}

/**
 * The directory tools are confined to. Every path a tool touches goes through `resolve`, which
 * returns a real (symlink-free) absolute path inside the root or throws OutsideWorkspaceError.
 */
export class Workspace {
  private constructor(
    /** The workspace root, resolved with realpath. */
    readonly root: string,
  ) {}

  static async open(root: string): Promise<Workspace> {
    let real: string;
    try {
      real = await realpath(path.resolve(root));
    } catch {
      throw new WorkspacePathError(`the workspace folder ${root} does not exist; check agent.workspace`);
    }
    if (!(await stat(real)).isDirectory()) {
      throw new WorkspacePathError(`the workspace ${root} is not a folder; check agent.workspace`);
    }
    return new Workspace(real);
  }

  /** True when `absolute` (already real) is the root or below it. */
  contains(absolute: string): boolean {
    return isInside(this.root, absolute);
  }

  /** The workspace-relative form of an absolute path inside the root, with `/` separators ('.' for the root). */
  relative(absolute: string): string {
    const rel = path.relative(this.root, absolute);
    return rel === '' ? '.' : rel.split(path.sep).join('/');
  }

  /**
   * Resolves a workspace-relative (or absolute, inside the root) path to its real absolute path.
   * Refuses `..` escapes, absolute paths outside, symlinks that lead out (every existing component
   * is checked, so a new file under a symlinked folder is caught too), encoded traversal
   * (`%2e%2e/`, `..%2f`, backslashes, NUL bytes, `~`) and, for writes, `.git` internals.
   */
  async resolve(input: string, options: ResolveOptions = {}): Promise<string> {
    rejectSuspicious(input);
    const lexical = path.resolve(this.root, input);
    let parts: string[];
    if (isInside(this.root, lexical)) {
      parts = splitRelative(this.root, lexical);
    } else if (path.isAbsolute(input)) {
      // An absolute path may name the root through a symlink (e.g. /tmp → /private/tmp).
      const real = await realpathOfNearest(lexical);
      if (!isInside(this.root, real)) throw outside(input, 'is an absolute path outside the workspace');
      parts = splitRelative(this.root, real);
    } else {
      throw outside(input, 'goes above the workspace root with ..');
    }

    const real = await this.walk(input, parts);
    if (options.forWrite) {
      const relParts = splitRelative(this.root, real);
      if (relParts.length === 0) throw new OutsideWorkspaceError(`cannot write to the workspace root itself`);
      if (relParts.some((p) => p.toLowerCase() === '.git')) {
        throw outside(input, 'is inside .git; git internals cannot be written directly');
      }
    }
    if (options.mustExist && !(await exists(real))) {
      throw new WorkspacePathError(`no such file or folder in the workspace: ${displayPath(input)}`);
    }
    return real;
  }

  /** Follows the path one component at a time from the root; every symlink met must stay inside. */
  private async walk(input: string, parts: readonly string[]): Promise<string> {
    let current = this.root;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] as string;
      const next = path.join(current, part);
      let info;
      try {
        info = await lstat(next);
      } catch (err) {
        if (isMissing(err)) return path.join(next, ...parts.slice(i + 1));
        throw new WorkspacePathError(`cannot access ${displayPath(input)}: ${(err as Error).message}`);
      }
      if (info.isSymbolicLink()) {
        let target: string;
        try {
          target = await realpath(next);
        } catch {
          throw outside(input, 'goes through a broken symlink');
        }
        if (!isInside(this.root, target)) throw outside(input, 'goes through a symlink that leads outside the workspace');
        current = target;
      } else {
        current = next;
      }
    }
    return current;
  }
}

function rejectSuspicious(input: string): void {
  if (typeof input !== 'string') throw outside(String(input), 'is not a string');
  if (input.includes('\0')) throw outside(input, 'contains a NUL byte');
  if (input.includes('\\')) throw outside(input, 'contains a backslash; use / between folders');
  if (input === '~' || input.startsWith('~/')) throw outside(input, 'starts with ~; home folders are outside the workspace');
  // Percent-encoded '.', '/', '\\' or NUL (also double-encoded: %252e) are refused outright.
  let text = input;
  for (let round = 0; round < 3; round++) {
    const encoded = [...text.matchAll(/%([0-9a-f]{2})/gi)].map((m) => parseInt(m[1] as string, 16));
    if (encoded.length === 0) break;
    if (encoded.some((byte) => byte === 0x2e || byte === 0x2f || byte === 0x5c || byte === 0)) {
      throw outside(input, 'contains percent-encoded path characters');
    }
    text = percentDecode(text);
  }
  // Overlong UTF-8 forms of '.' and '/' (%c0%ae, %c0%af, %e0%80%ae…) are never legitimate.
  if (/%(c0|c1|e0%80)/i.test(input)) throw outside(input, 'contains an invalid percent-encoded sequence');
}

/** Byte-wise %XX decoding that never throws (a file may well be called "100%.txt"). */
function percentDecode(text: string): string {
  return text.replace(/%([0-9a-f]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

function isInside(root: string, absolute: string): boolean {
  const rel = path.relative(root, absolute);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

function splitRelative(root: string, absolute: string): string[] {
  const rel = path.relative(root, absolute);
  return rel === '' ? [] : rel.split(path.sep);
}

/** realpath of the deepest existing ancestor, with the missing rest appended. */
async function realpathOfNearest(absolute: string): Promise<string> {
  const rest: string[] = [];
  let current = absolute;
  for (;;) {
    try {
      return path.join(await realpath(current), ...rest.reverse());
    } catch {
      const parent = path.dirname(current);
      if (parent === current) return absolute;
      rest.push(path.basename(current));
      current = parent;
    }
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function displayPath(input: string): string {
  const printable = input.replace(/[\0-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return printable.length > 120 ? `${printable.slice(0, 117)}...` : printable;
}

function outside(input: string, why: string): OutsideWorkspaceError {
  return new OutsideWorkspaceError(`refused path ${displayPath(input)}: it ${why}`);
}
