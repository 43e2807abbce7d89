/**
 * A small, deliberately conservative POSIX-shell splitter for the permission policy.
 *
 * It never runs or expands anything: quotes are removed the way the shell removes them, but `$VAR`,
 * `${…}`, `~`, globs and command substitutions stay literal in the words and are flagged instead.
 * Every simple command is returned as its own part, including the ones inside subshells, `{ …; }`
 * groups, `$( … )`, backticks and process substitutions. Anything the splitter cannot judge with
 * confidence (heredocs, `case`, arithmetic, `$'…'` quoting, unbalanced quotes…) is reported as
 * unparseable so the caller asks instead of guessing.
 */

/** One word of a simple command: the text with quotes removed, plus what the shell would expand. */
export interface Word {
  text: string;
  /** Contains an unquoted or double-quoted `$name` / `${…}` (value only known at run time). */
  variable: boolean;
  /** Starts with an unquoted `~` (or has one after `=` / `:`), i.e. points into a home folder. */
  tilde: boolean;
  /** Contains unquoted `*`, `?`, `[` or a brace expansion. */
  glob: boolean;
  /** Source texts of the `$( … )`, backtick and `<( … )` / `>( … )` substitutions inside the word. */
  substitutions: string[];
  /** The word is a process substitution `<( … )` or `>( … )`. */
  processSubstitution: boolean;
  /** Some part of the word was quoted or escaped (so it is never a reserved word). */
  quoted: boolean;
}

export type RedirectionOperator = '>' | '>>' | '>|' | '<' | '<>' | '<<<' | '&>' | '&>>' | '>&' | '<&';

export interface Redirection {
  /** The operator as written, including an explicit fd: '>', '2>', '>>', '&>', '2>&', '<'… */
  op: string;
  /** The operator without the fd number. */
  kind: RedirectionOperator;
  /** The file descriptor redirected (1 for output, 0 for input, both 1 and 2 for `&>`). */
  fd: number;
  /** True when the redirection can create or change a file. */
  writes: boolean;
  target: string;
  targetWord: Word;
}

export interface SimpleCommand {
  /** Words with quotes removed and nothing expanded; leading `NAME=value` assignments excluded. */
  argv: string[];
  /** Details of each argv entry (same order). */
  words: Word[];
  /** Leading `NAME=value` assignments (they change the environment of the command). */
  assignments: Word[];
  redirections: Redirection[];
  /** Its standard input comes from the previous stage of a pipeline. */
  pipedInto: boolean;
  /** Its standard output goes to the next stage of a pipeline. */
  pipesOut: boolean;
  /** It runs inside `$( … )`, backticks or a process substitution. */
  fromSubstitution: boolean;
  /** Started in the background with `&`. */
  background: boolean;
  /** Name of the shell function whose body contains this command, if any. */
  inFunction: string | undefined;
  /** Pipeline number (unique within one split), shared by the stages of one pipeline. */
  pipeline: number;
  /** The source text of this simple command, trimmed. */
  text: string;
}

export type SplitResult =
  | { ok: true; parts: SimpleCommand[]; functions: string[] }
  | { ok: false; reason: string };

const MAX_LENGTH = 20_000;
const MAX_DEPTH = 24;

class ParseError extends Error {}

const RESERVED_SKIP = new Set(['if', 'then', 'else', 'elif', 'do', 'while', 'until', '!', 'time']);
const RESERVED_END = new Set(['fi', 'done']);
const RESERVED_UNSUPPORTED = new Set(['case', 'esac', 'select', 'coproc', '[[']);

type Terminator = 'eof' | ')' | '}' | '`';

interface Frame {
  functionName: string | undefined;
  fromSubstitution: boolean;
  /** Substitution nesting level: pipes only connect commands of the same level. */
  level: number;
}

const levels = new WeakMap<SimpleCommand, number>();

class Parser {
  private pos = 0;
  private pipelineCounter: { n: number };
  readonly parts: SimpleCommand[];
  readonly functions: string[];

  constructor(
    private readonly src: string,
    private readonly depth: number,
    shared?: { parts: SimpleCommand[]; functions: string[]; pipelineCounter: { n: number } },
  ) {
    if (depth > MAX_DEPTH) throw new ParseError('the command nests too deeply');
    this.parts = shared?.parts ?? [];
    this.functions = shared?.functions ?? [];
    this.pipelineCounter = shared?.pipelineCounter ?? { n: 0 };
  }

  private peek(offset = 0): string {
    return this.src[this.pos + offset] ?? '';
  }

  private startsWith(text: string): boolean {
    return this.src.startsWith(text, this.pos);
  }

  /** Skips blanks, line continuations and comments, but not newlines. */
  private skipBlanks(): void {
    for (;;) {
      const c = this.peek();
      if (c === ' ' || c === '\t' || c === '\r') this.pos++;
      else if (c === '\\' && this.peek(1) === '\n') this.pos += 2;
      else if (c === '#') {
        while (this.pos < this.src.length && this.peek() !== '\n') this.pos++;
      } else return;
    }
  }

  private skipBlanksAndNewlines(): void {
    for (;;) {
      this.skipBlanks();
      if (this.peek() === '\n') this.pos++;
      else return;
    }
  }

  /** Parses a list of pipelines until the terminator; returns the position after it. */
  parseList(terminator: Terminator, frame: Frame): number {
    for (;;) {
      this.skipBlanksAndNewlines();
      if (this.pos >= this.src.length) {
        if (terminator === 'eof') return this.pos;
        throw new ParseError(terminator === '`' ? 'a backtick is not closed' : `a "${terminator === ')' ? '(' : '{'}" is not closed`);
      }
      const c = this.peek();
      if (c === ')') {
        if (terminator === ')') {
          this.pos++;
          return this.pos;
        }
        throw new ParseError('there is an unexpected ")"');
      }
      if (c === '`' && terminator === '`') {
        this.pos++;
        return this.pos;
      }
      if (terminator === '}' && this.atReservedWord('}')) {
        this.pos++;
        return this.pos;
      }
      if (c === ';' || c === '&' || c === '|') throw new ParseError(`there is an unexpected "${c}"`);
      this.parsePipeline(frame);
      this.skipBlanks();
      const s = this.peek();
      if (this.startsWith('&&') || this.startsWith('||')) {
        this.pos += 2;
        this.skipBlanksAndNewlines();
        this.requireCommand(terminator);
      } else if (this.startsWith(';;')) {
        throw new ParseError('case statements are not supported');
      } else if (s === ';' || s === '\n') {
        this.pos++;
      } else if (s === '&') {
        this.pos++;
      } else if (s === '' || s === ')' || (s === '`' && terminator === '`')) {
        // handled at the top of the loop
      } else if (terminator === '}' && this.atReservedWord('}')) {
        // `{ a }` without `;` is a syntax error in POSIX shells; be strict
        throw new ParseError('a "}" must follow ";" or a newline');
      } else {
        throw new ParseError(`there is an unexpected "${s}"`);
      }
    }
  }

  private requireCommand(terminator: Terminator): void {
    const c = this.peek();
    if (c === '' || c === ';' || c === '&' || c === '|' || c === ')' || (c === '`' && terminator === '`')) {
      throw new ParseError('a command is missing after "&&" or "||"');
    }
  }

  /** True when the next token is the unquoted reserved word `word` followed by a delimiter. */
  private atReservedWord(word: string): boolean {
    if (!this.startsWith(word)) return false;
    const after = this.src[this.pos + word.length] ?? '';
    return after === '' || /[\s;&|()<>`]/.test(after);
  }

  private parsePipeline(frame: Frame): void {
    const pipeline = ++this.pipelineCounter.n;
    let stage = 0;
    let background = false;
    const startIndex = this.parts.length;
    const stageStarts: number[] = [];
    for (;;) {
      stageStarts.push(this.parts.length);
      this.parseCommand(frame, pipeline, stage > 0);
      this.skipBlanks();
      if (this.peek() === '|' && this.peek(1) !== '|') {
        this.pos += this.peek(1) === '&' ? 2 : 1;
        this.skipBlanksAndNewlines();
        const c = this.peek();
        if (c === '' || c === ';' || c === '&' || c === '|' || c === ')') throw new ParseError('a command is missing after "|"');
        stage++;
        continue;
      }
      break;
    }
    if (this.peek() === '&' && this.peek(1) !== '&') background = true;
    if (stage > 0) {
      // Every command of a stage except the last pipes out; every stage after the first is piped into.
      for (let s = 0; s < stageStarts.length; s++) {
        const from = stageStarts[s] ?? 0;
        const to = stageStarts[s + 1] ?? this.parts.length;
        for (let i = from; i < to; i++) {
          const part = this.parts[i];
          if (!part || levels.get(part) !== frame.level) continue;
          if (s < stageStarts.length - 1) part.pipesOut = true;
          if (s > 0) part.pipedInto = true;
        }
      }
    }
    if (background) for (let i = startIndex; i < this.parts.length; i++) (this.parts[i] as SimpleCommand).background = true;
  }

  private parseCommand(frame: Frame, pipeline: number, pipedInto: boolean): void {
    this.skipBlanks();
    const c = this.peek();
    if (c === '(') {
      if (this.peek(1) === '(') throw new ParseError('arithmetic commands "(( … ))" are not supported');
      this.pos++;
      const first = this.parts.length;
      this.parseList(')', frame);
      this.parseTrailingRedirections(first, frame);
      return;
    }
    if (c === '{' && this.atReservedWord('{')) {
      this.pos++;
      const first = this.parts.length;
      this.parseList('}', frame);
      this.parseTrailingRedirections(first, frame);
      return;
    }
    this.parseSimpleCommand(frame, pipeline, pipedInto);
  }

  /** Redirections after a subshell or group apply to every command inside it. */
  private parseTrailingRedirections(first: number, frame: Frame): void {
    const redirections: Redirection[] = [];
    for (;;) {
      this.skipBlanks();
      const r = this.tryRedirection(frame);
      if (!r) break;
      redirections.push(r);
    }
    const c = this.peek();
    if (c !== '' && !/[;&|)\n`}]/.test(c)) throw new ParseError(`there is an unexpected "${c}" after a group`);
    for (let i = first; i < this.parts.length; i++) (this.parts[i] as SimpleCommand).redirections.push(...redirections);
  }

  private parseSimpleCommand(frame: Frame, pipeline: number, pipedInto: boolean): void {
    const start = this.pos;
    const words: Word[] = [];
    const assignments: Word[] = [];
    const redirections: Redirection[] = [];
    for (;;) {
      this.skipBlanks();
      const c = this.peek();
      if (c === '' || c === '\n' || c === ';' || c === '&' || c === '|' || c === ')') {
        if (c === '&' && this.peek(1) === '>') {
          // `&>file` redirection, not a background operator
        } else break;
      }
      if (c === '(') {
        // `name ( )` starts a function definition; anything else is a syntax error.
        const save = this.pos;
        this.pos++;
        this.skipBlanks();
        if (this.peek() === ')' && words.length === 1 && assignments.length === 0 && redirections.length === 0) {
          this.pos++;
          this.parseFunctionBody((words[0] as Word).text, frame);
          return;
        }
        this.pos = save;
        throw new ParseError('there is an unexpected "("');
      }
      const redirection = this.tryRedirection(frame);
      if (redirection) {
        redirections.push(redirection);
        continue;
      }
      const wordStart = this.pos;
      const word = this.readWord(frame);
      if (words.length === 0 && /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=/.test(this.src.slice(wordStart, this.pos))) {
        assignments.push(word);
        continue;
      }
      if (words.length === 0 && !word.quoted && word.substitutions.length === 0) {
        if (RESERVED_UNSUPPORTED.has(word.text)) throw new ParseError(`"${word.text}" is not supported`);
        if (word.text === 'function' && assignments.length === 0 && redirections.length === 0) {
          this.skipBlanks();
          const name = this.readWord(frame);
          this.skipBlanks();
          if (this.peek() === '(') {
            this.pos++;
            this.skipBlanks();
            if (this.peek() !== ')') throw new ParseError('there is an unexpected "("');
            this.pos++;
          }
          this.parseFunctionBody(name.text, frame);
          return;
        }
        if (assignments.length === 0 && redirections.length === 0) {
          if (RESERVED_SKIP.has(word.text)) continue;
          if (RESERVED_END.has(word.text)) continue;
          if (word.text === '{' || word.text === '}') throw new ParseError(`there is an unexpected "${word.text}"`);
        }
      }
      words.push(word);
    }
    if (words.length === 0 && assignments.length === 0 && redirections.length === 0) return;
    const part: SimpleCommand = {
      argv: words.map((w) => w.text),
      words,
      assignments,
      redirections,
      pipedInto,
      pipesOut: false,
      fromSubstitution: frame.fromSubstitution,
      background: false,
      inFunction: frame.functionName,
      pipeline,
      text: this.src.slice(start, this.pos).trim(),
    };
    // Substitutions inside this command were pushed while reading its words; the command itself runs after them.
    this.parts.push(part);
    levels.set(part, frame.level);
  }

  private parseFunctionBody(name: string, frame: Frame): void {
    if (!/^[^\s$`'"\\]+$/.test(name)) throw new ParseError('a function name is not plain text');
    this.functions.push(name);
    this.skipBlanksAndNewlines();
    const inner: Frame = { functionName: name, fromSubstitution: frame.fromSubstitution, level: frame.level };
    const c = this.peek();
    const first = this.parts.length;
    if (c === '{' && this.atReservedWord('{')) {
      this.pos++;
      this.parseList('}', inner);
    } else if (c === '(') {
      this.pos++;
      this.parseList(')', inner);
    } else {
      throw new ParseError('a function body must be "{ … }" or "( … )"');
    }
    this.parseTrailingRedirections(first, inner);
  }

  private tryRedirection(frame: Frame): Redirection | undefined {
    const m = /^(\d*)(&>>|&>|>>|>\||>&|<<<|<<-?|<>|<&|>|<)/.exec(this.src.slice(this.pos, this.pos + 8));
    if (!m) return undefined;
    const digits = m[1] ?? '';
    const kind = m[2] ?? '';
    // `<(` and `>(` are process substitutions (words), not redirections.
    if (digits === '' && (kind === '<' || kind === '>') && this.src[this.pos + 1] === '(') return undefined;
    if (digits !== '' && kind.startsWith('&')) return undefined;
    if (kind === '<<' || kind === '<<-') throw new ParseError('heredocs are not supported');
    this.pos += m[0].length;
    this.skipBlanks();
    const c = this.peek();
    if (c === '' || c === '\n' || c === ';' || c === '|' || c === ')' || (c === '&' && this.peek(1) !== '>') || c === '<' || (c === '>' && this.peek(1) !== '(')) {
      throw new ParseError(`a redirection "${m[0]}" has no target`);
    }
    const targetWord = this.readWord(frame);
    const k = kind as RedirectionOperator;
    const defaultFd = k.startsWith('<') ? 0 : 1;
    const fd = digits === '' ? defaultFd : Number(digits);
    let writes = k === '>' || k === '>>' || k === '>|' || k === '<>' || k === '&>' || k === '&>>';
    if (k === '>&') writes = !/^(\d+|-)$/.test(targetWord.text);
    return { op: m[0], kind: k, fd, writes, target: targetWord.text, targetWord };
  }

  /** Reads one word, removing quotes and recording (not performing) expansions. */
  private readWord(frame: Frame): Word {
    const word: Word = { text: '', variable: false, tilde: false, glob: false, substitutions: [], processSubstitution: false, quoted: false };
    const start = this.pos;
    // Process substitution as a whole word.
    if ((this.peek() === '<' || this.peek() === '>') && this.peek(1) === '(') {
      const open = this.pos;
      this.pos += 2;
      const innerStart = this.pos;
      const end = this.parseNested(')', frame);
      word.substitutions.push(this.src.slice(innerStart, end - 1));
      word.processSubstitution = true;
      word.text = this.src.slice(open, end);
      if (!this.atWordEnd(frame)) throw new ParseError('a process substitution is glued to other text');
      return word;
    }
    for (;;) {
      const c = this.peek();
      if (c === '' || this.atWordEnd(frame)) break;
      if (c === '\\') {
        const n = this.peek(1);
        if (n === '\n') {
          this.pos += 2;
          continue;
        }
        if (n === '') {
          word.text += '\\';
          this.pos++;
          continue;
        }
        word.text += n;
        word.quoted = true;
        this.pos += 2;
        continue;
      }
      if (c === "'") {
        const end = this.src.indexOf("'", this.pos + 1);
        if (end < 0) throw new ParseError('a single quote is not closed');
        word.text += this.src.slice(this.pos + 1, end);
        word.quoted = true;
        this.pos = end + 1;
        continue;
      }
      if (c === '"') {
        this.readDoubleQuoted(word, frame);
        continue;
      }
      if (c === '$') {
        this.readDollar(word, frame, false);
        continue;
      }
      if (c === '`') {
        this.readBackticks(word, frame);
        continue;
      }
      if (c === '~' && (this.pos === start || /[=:]/.test(this.src[this.pos - 1] ?? ''))) word.tilde = true;
      if (c === '*' || c === '?' || c === '[') word.glob = true;
      if (c === '{' && /^\{[^{}\s]*(,|\.\.)[^{}\s]*\}/.test(this.src.slice(this.pos))) word.glob = true;
      if (c === '\0') throw new ParseError('the command contains a NUL character');
      word.text += c;
      this.pos++;
    }
    if (this.pos === start) throw new ParseError(`there is an unexpected "${this.peek()}"`);
    return word;
  }

  private atWordEnd(frame: Frame): boolean {
    const c = this.peek();
    if (c === '' || c === ' ' || c === '\t' || c === '\n' || c === '\r') return true;
    if (c === ';' || c === '&' || c === '|' || c === '<' || c === '>' || c === '(' || c === ')') return true;
    void frame;
    return false;
  }

  private readDoubleQuoted(word: Word, frame: Frame): void {
    word.quoted = true;
    this.pos++;
    for (;;) {
      const c = this.peek();
      if (c === '') throw new ParseError('a double quote is not closed');
      if (c === '"') {
        this.pos++;
        return;
      }
      if (c === '\\') {
        const n = this.peek(1);
        if (n === '\n') {
          this.pos += 2;
          continue;
        }
        if (n === '$' || n === '`' || n === '"' || n === '\\') {
          word.text += n;
          this.pos += 2;
          continue;
        }
        word.text += '\\';
        this.pos++;
        continue;
      }
      if (c === '$') {
        this.readDollar(word, frame, true);
        continue;
      }
      if (c === '`') {
        this.readBackticks(word, frame);
        continue;
      }
      word.text += c;
      this.pos++;
    }
  }

  private readDollar(word: Word, frame: Frame, inDoubleQuotes: boolean): void {
    const n = this.peek(1);
    if (n === '(') {
      if (this.peek(2) === '(') throw new ParseError('arithmetic expansion "$(( … ))" is not supported');
      const open = this.pos;
      this.pos += 2;
      const innerStart = this.pos;
      const end = this.parseNested(')', frame);
      word.substitutions.push(this.src.slice(innerStart, end - 1));
      word.text += this.src.slice(open, end);
      return;
    }
    if (n === '{') {
      const close = this.src.indexOf('}', this.pos + 2);
      if (close < 0) throw new ParseError('a "${" is not closed');
      const inner = this.src.slice(this.pos + 2, close);
      if (/[$`{'"\\]/.test(inner)) throw new ParseError('nested parameter expansions are not supported');
      word.variable = true;
      word.text += this.src.slice(this.pos, close + 1);
      this.pos = close + 1;
      return;
    }
    if (n === "'" && !inDoubleQuotes) throw new ParseError("$'…' quoting is not supported");
    if (n === '"' && !inDoubleQuotes) {
      this.pos++;
      return;
    }
    const m = /^\$([A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-])/.exec(this.src.slice(this.pos, this.pos + 256));
    if (m) {
      word.variable = true;
      word.text += m[0];
      this.pos += m[0].length;
      return;
    }
    word.text += '$';
    this.pos++;
  }

  private readBackticks(word: Word, frame: Frame): void {
    const open = this.pos;
    this.pos++;
    let inner = '';
    for (;;) {
      const c = this.peek();
      if (c === '') throw new ParseError('a backtick is not closed');
      if (c === '`') {
        this.pos++;
        break;
      }
      if (c === '\\' && (this.peek(1) === '`' || this.peek(1) === '\\' || this.peek(1) === '$')) {
        inner += this.peek(1);
        this.pos += 2;
        continue;
      }
      inner += c;
      this.pos++;
    }
    const nested = new Parser(inner, this.depth + 1, { parts: this.parts, functions: this.functions, pipelineCounter: this.pipelineCounter });
    nested.parseList('eof', { functionName: frame.functionName, fromSubstitution: true, level: frame.level + 1 });
    word.substitutions.push(inner);
    word.text += this.src.slice(open, this.pos);
  }

  /** Parses `$( … )` / `<( … )` content in place; returns the position after the closing parenthesis. */
  private parseNested(terminator: ')', frame: Frame): number {
    const nested = new Parser(this.src, this.depth + 1, { parts: this.parts, functions: this.functions, pipelineCounter: this.pipelineCounter });
    nested.pos = this.pos;
    const end = nested.parseList(terminator, { functionName: frame.functionName, fromSubstitution: true, level: frame.level + 1 });
    this.pos = end;
    return end;
  }
}

/**
 * Splits a shell command into every simple command it would run, without expanding anything.
 * Returns `{ ok: false }` with a short reason for anything it cannot judge safely.
 */
export function splitCommand(command: string): SplitResult {
  if (command.length > MAX_LENGTH) return { ok: false, reason: 'the command is too long to check' };
  try {
    const parser = new Parser(command, 0);
    parser.parseList('eof', { functionName: undefined, fromSubstitution: false, level: 0 });
    return { ok: true, parts: parser.parts, functions: parser.functions };
  } catch (err) {
    if (err instanceof ParseError) return { ok: false, reason: err.message };
    throw err;
  }
}
