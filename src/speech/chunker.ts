/**
 * Sentence chunking between the LLM and text-to-speech.
 *
 * The LLM streams markdown in small deltas; TTS wants plain sentences, each as soon as it is
 * certainly complete, so the first audio can leave while the LLM is still writing. The work is
 * done in three small stages, each of which only ever passes on text it will not take back:
 *
 *   MarkdownReader    raw deltas → speakable text + hard breaks (paragraph/item/heading ends)
 *   SentenceSplitter  speakable text → sentences (punctuation, abbreviations, length cap)
 *   SentenceChunker   joins fragments shorter than `minChars` and collects the output
 *
 * Because every stage either decides for good or waits for more text, the sentences do not
 * depend on how the text was cut into deltas.
 */

export interface ChunkerOptions {
  /** A sentence longer than this is split at the best clause or word break before it. Default 220. */
  maxChars?: number;
  /**
   * A sentence shorter than this is held and spoken together with the next one. Default 0:
   * a short first sentence ("Sure.") goes out at once, because fast first audio matters more
   * than saving a TTS request.
   */
  minChars?: number;
}

export const DEFAULT_MAX_CHARS = 220;

export class SentenceChunker {
  private readonly minChars: number;
  private readonly reader: MarkdownReader;
  private ready: string[] = [];
  private held = '';

  constructor(options: ChunkerOptions = {}) {
    const maxChars = options.maxChars ?? DEFAULT_MAX_CHARS;
    const minChars = options.minChars ?? 0;
    if (!Number.isInteger(maxChars) || maxChars < 1) throw new RangeError(`maxChars must be a positive integer, got ${maxChars}`);
    if (!Number.isInteger(minChars) || minChars < 0) throw new RangeError(`minChars must be a non-negative integer, got ${minChars}`);
    this.minChars = minChars;
    const splitter = new SentenceSplitter(maxChars, (sentence) => this.collect(sentence));
    this.reader = new MarkdownReader(splitter);
  }

  /** Feeds one LLM delta; returns the sentences it completed, oldest first. */
  push(delta: string): string[] {
    this.reader.push(delta);
    return this.take();
  }

  /** Ends the stream: returns whatever is left. The chunker can then be reused for a new stream. */
  flush(): string[] {
    this.reader.end();
    if (this.held) this.ready.push(this.held);
    this.held = '';
    return this.take();
  }

  private collect(sentence: string): void {
    const joined = this.held ? joinShort(this.held, sentence) : sentence;
    if (joined.length < this.minChars) {
      this.held = joined;
    } else {
      this.held = '';
      this.ready.push(joined);
    }
  }

  private take(): string[] {
    const out = this.ready;
    this.ready = [];
    return out;
  }
}

/** Turns a stream of LLM deltas into a stream of speakable sentences. */
export async function* sentences(deltas: AsyncIterable<string>, options: ChunkerOptions = {}): AsyncGenerator<string, void, undefined> {
  const chunker = new SentenceChunker(options);
  for await (const delta of deltas) yield* chunker.push(delta);
  yield* chunker.flush();
}

function joinShort(first: string, next: string): string {
  // A heading or list item has no final punctuation; without one TTS would run it into the next.
  return /[.!?…:;,]["')\]”’»]*$/.test(first) ? `${first} ${next}` : `${first}. ${next}`;
}

// ---------------------------------------------------------------------------------------------
// Markdown → speakable text
// ---------------------------------------------------------------------------------------------

interface SpeechSink {
  /** Running text; may end mid-sentence. */
  text(text: string): void;
  /** The current sentence ends here whatever its punctuation (paragraph, list item, heading). */
  hardBreak(): void;
  /** A whole sentence of its own (the stand-in for a code block). */
  sentence(sentence: string): void;
}

type LineKind = 'blank' | 'heading' | 'item' | 'text' | 'table' | 'rule' | 'fence';

interface Line {
  kind: LineKind;
  /** Block-quote depth (number of leading `>`). */
  quote: number;
  /** Index where the spoken content starts, after quote, heading, bullet and checkbox markers. */
  start: number;
}

interface Fence {
  char: string;
  length: number;
}

/**
 * Line starts that could still turn out to be a block marker (or that are read as a whole
 * line): the line waits for more text before it is classified.
 */
const UNDECIDED_LINE = [
  /^\s*$/,
  /^\s*#{1,6}$/,
  /^\s*[-*_+•][-*_ \t]*$/, // a bullet or a horizontal rule
  /^\s*(?:[-*+•]|\d{1,9}[.)])[ \t]+(?:\[[ xX]?\]?)?$/, // an item, maybe with a checkbox
  /^\s*\d{1,9}[.)]?$/, // an ordered-list marker, or a number
  /^\s*(?:`{1,2}|~{1,2})$/,
  /^\s*=+[ \t]*$/, // a setext heading underline
  /^\s*(?:`{3,}|~{3,}|\|)/, // fence openings and table rows are read whole
];

const QUOTE = /^\s*>[ \t]?/;
const FENCE = /^\s*(`{3,}|~{3,})\s*([^\s`]*)/;
const RULE = /^\s*(?:([-*_])(?:[ \t]*\1){2,}|=+)[ \t]*$/; // =+ underlines a setext heading
const HEADING = /^\s*#{1,6}(?:[ \t]+|$)/;
const ITEM = /^\s*(?:[-*+•]|\d{1,9}[.)])(?:[ \t]+|$)/;
const CHECKBOX = /^\[[ xX]\](?:[ \t]+|$)/;

/** Classifies a line from its start, or returns undefined while more text is needed to know. */
function classifyLine(line: string, done: boolean): Line | undefined {
  let quote = 0;
  let start = 0;
  for (let m = QUOTE.exec(line); m; m = QUOTE.exec(line.slice(start))) {
    quote++;
    start += m[0].length;
  }
  const rest = line.slice(start);
  if (!done && UNDECIDED_LINE.some((re) => re.test(rest))) return undefined;

  if (/^\s*$/.test(rest)) return { kind: 'blank', quote, start };
  if (FENCE.test(rest)) return { kind: 'fence', quote, start };
  if (RULE.test(rest)) return { kind: 'rule', quote, start };
  if (/^\s*\|/.test(rest)) return { kind: 'table', quote, start };
  const heading = HEADING.exec(rest);
  if (heading) return { kind: 'heading', quote, start: start + heading[0].length };
  const item = ITEM.exec(rest);
  if (item) {
    const checkbox = CHECKBOX.exec(rest.slice(item[0].length));
    return { kind: 'item', quote, start: start + item[0].length + (checkbox?.[0].length ?? 0) };
  }
  return { kind: 'text', quote, start };
}

/** Reads markdown line by line, speaking the inline content of a line as it arrives. */
class MarkdownReader {
  private line = '';
  private current: Line | undefined;
  /** How far the current line's content has been passed on. */
  private pos = 0;
  private fence: Fence | undefined;
  /** The last line was running text or a list item: the next line may continue it. */
  private pendingBreak: 'text' | 'item' | undefined;
  private lastQuote = 0;

  constructor(private readonly sink: SpeechSink) {}

  push(delta: string): void {
    const parts = delta.replace(/\r/g, '').split('\n');
    const last = parts.pop() ?? '';
    for (const part of parts) {
      this.line += part;
      this.finishLine();
    }
    this.line += last;
    if (this.line) this.advance(false);
  }

  end(): void {
    if (this.line) this.finishLine();
    this.sink.hardBreak();
    this.fence = undefined;
    this.pendingBreak = undefined;
    this.lastQuote = 0;
  }

  private finishLine(): void {
    this.advance(true);
    this.line = '';
    this.current = undefined;
    this.pos = 0;
  }

  /** Passes on what can be decided of the current line; `done` when the line is complete. */
  private advance(done: boolean): void {
    if (this.fence) {
      if (done && closesFence(this.line, this.fence)) this.fence = undefined;
      return;
    }
    const line = this.current ?? this.classify(done);
    if (!line) return;
    switch (line.kind) {
      case 'heading':
      case 'item':
      case 'text':
        this.speakInline(done);
        if (done && line.kind === 'heading') this.sink.hardBreak();
        else if (done) this.pendingBreak = line.kind === 'item' ? 'item' : 'text';
        break;
      case 'table':
        if (done) this.speakTableRow(line);
        break;
      case 'fence':
        if (done) this.openFence(line);
        break;
      case 'blank':
      case 'rule':
        break;
    }
  }

  private classify(done: boolean): Line | undefined {
    const line = classifyLine(this.line, done);
    if (!line) return undefined;
    if (this.continues(line)) this.sink.text(' ');
    else this.sink.hardBreak();
    this.pendingBreak = undefined;
    this.lastQuote = line.quote;
    this.current = line;
    this.pos = line.start;
    return line;
  }

  /** A plain line goes on a paragraph; it goes on a list item only when indented. */
  private continues(line: Line): boolean {
    if (line.kind !== 'text' || line.quote !== this.lastQuote) return false;
    if (this.pendingBreak === 'text') return true;
    return this.pendingBreak === 'item' && /^[ \t]/.test(this.line.slice(line.start));
  }

  private speakInline(done: boolean): void {
    const { text, next } = convertInline(this.line, this.pos, done, this.current?.start ?? 0);
    if (text) this.sink.text(text);
    this.pos = next;
  }

  private speakTableRow(line: Line): void {
    const row = tableRow(this.line.slice(line.start));
    if (row === undefined) return;
    this.sink.text(row);
    this.sink.hardBreak();
  }

  private openFence(line: Line): void {
    const m = FENCE.exec(this.line.slice(line.start));
    const marker = m?.[1] ?? '```';
    this.fence = { char: marker.charAt(0), length: marker.length };
    this.sink.sentence(describeCodeBlock(m?.[2] ?? ''));
  }
}

function closesFence(line: string, fence: Fence): boolean {
  let rest = line;
  for (let m = QUOTE.exec(rest); m; m = QUOTE.exec(rest)) rest = rest.slice(m[0].length);
  const marker = /^\s*(`{3,}|~{3,})\s*$/.exec(rest)?.[1];
  return marker !== undefined && marker.charAt(0) === fence.char && marker.length >= fence.length;
}

/** Reads a table row as its cells separated by commas; the |---|---| row is skipped. */
function tableRow(text: string): string | undefined {
  const cells = text
    .trim()
    .replace(/^\|/, '')
    .replace(/(?<!\\)\|$/, '')
    .split(/(?<!\\)\|/)
    .map((cell) => cell.trim());
  if (cells.every((cell) => /^:?-*:?$/.test(cell))) return undefined;
  return cells
    .map((cell) => convertAll(cell).trim())
    .filter((cell) => cell !== '')
    .join(', ');
}

const LANGUAGE_NAMES: Record<string, string> = {
  ts: 'TypeScript', typescript: 'TypeScript', tsx: 'TypeScript',
  js: 'JavaScript', javascript: 'JavaScript', jsx: 'JavaScript', mjs: 'JavaScript', cjs: 'JavaScript',
  py: 'Python', python: 'Python', rb: 'Ruby', ruby: 'Ruby', go: 'Go', golang: 'Go',
  rs: 'Rust', rust: 'Rust', java: 'Java', kt: 'Kotlin', kotlin: 'Kotlin', swift: 'Swift',
  c: 'C', h: 'C', cpp: 'C++', 'c++': 'C++', cc: 'C++', cs: 'C#', csharp: 'C#', php: 'PHP',
  sh: 'shell', shell: 'shell', bash: 'Bash', zsh: 'shell', console: 'shell', powershell: 'PowerShell', ps1: 'PowerShell',
  json: 'JSON', jsonc: 'JSON', yaml: 'YAML', yml: 'YAML', toml: 'TOML', ini: 'INI', xml: 'XML',
  html: 'HTML', css: 'CSS', scss: 'SCSS', sql: 'SQL', md: 'Markdown', markdown: 'Markdown',
  dockerfile: 'Dockerfile', docker: 'Dockerfile', makefile: 'Makefile', make: 'Makefile',
  diff: 'diff', graphql: 'GraphQL', lua: 'Lua',
  text: '', txt: '', plaintext: '', plain: '', output: '', log: '',
};

/** The one sentence spoken instead of a fenced code block. */
export function describeCodeBlock(info: string): string {
  const key = (/^[\w+#-]*/.exec(info)?.[0] ?? '').toLowerCase();
  const name = LANGUAGE_NAMES[key] ?? (/^[a-z][a-z0-9+#-]{0,19}$/.test(key) ? key : '');
  return name ? `Here is a code block in ${name}.` : 'Here is a code block.';
}

// ---------------------------------------------------------------------------------------------
// Inline markdown
// ---------------------------------------------------------------------------------------------

/** How far ahead a link, code span or HTML tag may close before its opener is read literally. */
const LOOKAHEAD = 500;

/** Text produced by one inline construct and the index after it, or 'wait' for more of the line. */
type Step = { text: string; next: number } | 'wait';

/**
 * Converts the inline markdown of `line` from `from` on, stopping before the first construct
 * that cannot be decided yet. `floor` is where the line's content starts (a word boundary).
 */
function convertInline(line: string, from: number, done: boolean, floor: number): { text: string; next: number } {
  let text = '';
  let i = from;
  while (i < line.length) {
    const step = inlineStep(line, i, done, floor);
    if (step === 'wait') break;
    text += step.text;
    i = step.next;
  }
  return { text, next: i };
}

function convertAll(text: string): string {
  return convertInline(text, 0, true, 0).text;
}

const PLAIN = /[^\\`*_~![<]+/y;

function inlineStep(line: string, i: number, done: boolean, floor: number): Step {
  const c = line.charAt(i);
  switch (c) {
    case '\\':
      return escaped(line, i, done);
    case '`':
      return codeSpan(line, i, done);
    case '*':
    case '_':
    case '~':
      return emphasis(line, i, done, floor);
    case '!':
      return image(line, i, done);
    case '[':
      return link(line, i, done);
    case '<':
      return angle(line, i, done);
    default: {
      PLAIN.lastIndex = i;
      const run = PLAIN.exec(line)?.[0] ?? c;
      return { text: run, next: i + run.length };
    }
  }
}

function escaped(line: string, i: number, done: boolean): Step {
  if (i + 1 >= line.length) return done ? { text: '', next: i + 1 } : 'wait';
  const next = line.charAt(i + 1);
  return /[!-/:-@[-`{-~]/.test(next) ? { text: next, next: i + 2 } : { text: '\\', next: i + 1 };
}

function runLength(line: string, i: number, c: string): number {
  let j = i;
  while (line.charAt(j) === c) j++;
  return j - i;
}

/** `npm test` → npm test: the backticks go, the content stays as written. */
function codeSpan(line: string, i: number, done: boolean): Step {
  const run = runLength(line, i, '`');
  if (i + run === line.length && !done) return 'wait';
  const limit = i + LOOKAHEAD;
  for (let j = i + run; j < Math.min(line.length, limit); j++) {
    if (line.charAt(j) !== '`') continue;
    const n = runLength(line, j, '`');
    if (j + n === line.length && !done) return 'wait';
    if (n === run) return { text: line.slice(i + run, j), next: j + n };
    j += n - 1;
  }
  if (!done && line.length < limit) return 'wait';
  return { text: '', next: i + run }; // an unclosed backtick is not spoken either
}

/** Emphasis markers are dropped; `2 * 3`, `5*3` and `snake_case` keep theirs. */
function emphasis(line: string, i: number, done: boolean, floor: number): Step {
  const c = line.charAt(i);
  const run = runLength(line, i, c);
  if (i + run === line.length && !done) return 'wait';
  const marker = line.slice(i, i + run);
  if (c === '~') return { text: run >= 2 ? '' : marker, next: i + run };
  const before = i > floor ? line.charAt(i - 1) : ' ';
  const after = i + run < line.length ? line.charAt(i + run) : ' ';
  const spaced = /\s/.test(before) && /\s/.test(after);
  const intraword = isWordChar(before) && isWordChar(after);
  return { text: spaced || intraword ? marker : '', next: i + run };
}

function isWordChar(c: string): boolean {
  return /[\p{L}\p{N}]/u.test(c);
}

/** Images are not spoken at all. */
function image(line: string, i: number, done: boolean): Step {
  if (i + 1 >= line.length) return done ? { text: '!', next: i + 1 } : 'wait';
  if (line.charAt(i + 1) !== '[') return { text: '!', next: i + 1 };
  const parsed = parseLink(line, i + 1, done);
  if (parsed === 'wait') return 'wait';
  return parsed === 'none' ? { text: '!', next: i + 1 } : { text: '', next: parsed.next };
}

/** [text](url) → text; a bracket that is not a link is read as it is. */
function link(line: string, i: number, done: boolean): Step {
  const parsed = parseLink(line, i, done);
  if (parsed === 'wait') return 'wait';
  return parsed === 'none' ? { text: '[', next: i + 1 } : { text: convertAll(parsed.label), next: parsed.next };
}

function parseLink(line: string, i: number, done: boolean): { label: string; next: number } | 'wait' | 'none' {
  const close = findClosing(line, i, '[', ']', done);
  if (typeof close !== 'number') return close;
  if (close + 1 >= line.length) return done ? 'none' : 'wait';
  if (line.charAt(close + 1) !== '(') return 'none';
  const end = findClosing(line, close + 1, '(', ')', done);
  if (typeof end !== 'number') return end;
  return { label: line.slice(i + 1, close), next: end + 1 };
}

function findClosing(line: string, open: number, opener: string, closer: string, done: boolean): number | 'wait' | 'none' {
  const limit = open + LOOKAHEAD;
  let depth = 0;
  for (let j = open; j < Math.min(line.length, limit); j++) {
    const c = line.charAt(j);
    if (c === '\\') j++;
    else if (c === opener) depth++;
    else if (c === closer && --depth === 0) return j;
  }
  return done || line.length >= limit ? 'none' : 'wait';
}

const HTML_TAG = /^<\/?[A-Za-z][A-Za-z0-9-]*(?:\s(?:[^<>"'.!?,;]|"[^"]*"|'[^']*')*)?\/?>/;
/** Tags that separate words ("a<br>b"); other tags are dropped without a trace ("<b>bold</b>."). */
const BLOCK_TAG = /^<\/?(?:br|p|div|li|ul|ol|tr|td|th|table|hr|h[1-6]|blockquote|pre|details|summary)\b/i;
const HTML_COMMENT = /^<!--[^]*?-->/;
const AUTOLINK = /^<([A-Za-z][A-Za-z0-9+.-]*:[^\s<>]*|[^\s<>@]+@[^\s<>]+)>/;
/**
 * Could still become a tag or autolink: no whitespace yet, or a tag name and attributes
 * (sentence punctuation outside quotes rules that out, so prose like "x <y then it fails." does
 * not wait for the end of the line).
 */
const ANGLE_PREFIX = /^<(?:[^\s<>]*|\/?[A-Za-z][A-Za-z0-9-]*\s(?:[^<>"'.!?,;]|"[^"]*(?:"|$)|'[^']*(?:'|$))*)$/;

/** HTML tags and comments are dropped; <https://…> autolinks are read as the address. */
function angle(line: string, i: number, done: boolean): Step {
  const rest = line.slice(i, i + LOOKAHEAD);
  if (rest.startsWith('<!--')) {
    const comment = HTML_COMMENT.exec(rest);
    if (comment) return { text: '', next: i + comment[0].length };
    return !done && rest.length < LOOKAHEAD ? 'wait' : { text: '<', next: i + 1 };
  }
  const tag = HTML_TAG.exec(rest);
  if (tag) return { text: BLOCK_TAG.test(tag[0]) ? ' ' : '', next: i + tag[0].length };
  const auto = AUTOLINK.exec(rest);
  if (auto) return { text: auto[1] ?? '', next: i + auto[0].length };
  if (!done && rest.length < LOOKAHEAD && ANGLE_PREFIX.test(rest)) return 'wait';
  return { text: '<', next: i + 1 };
}

// ---------------------------------------------------------------------------------------------
// Speakable text → sentences
// ---------------------------------------------------------------------------------------------

/** Splits running text into sentences, emitting each once no later text can change it. */
class SentenceSplitter implements SpeechSink {
  /** Whitespace-normalized text after the last emitted sentence; never starts with a space. */
  private buf = '';

  constructor(
    private readonly maxChars: number,
    private readonly emit: (sentence: string) => void,
  ) {}

  text(text: string): void {
    let normalized = text.replace(/\s+/g, ' ');
    if (this.buf === '' || this.buf.endsWith(' ')) normalized = normalized.replace(/^ /, '');
    this.buf += normalized;
    this.cut(false);
  }

  hardBreak(): void {
    this.cut(true);
  }

  sentence(sentence: string): void {
    this.hardBreak();
    this.emit(sentence);
  }

  private cut(final: boolean): void {
    while (this.buf) {
      const at = nextCut(this.buf, final, this.maxChars);
      if (at === undefined) return;
      const sentence = this.buf.slice(0, at).trim();
      this.buf = this.buf.slice(at).trimStart();
      if (/[\p{L}\p{N}]/u.test(sentence)) this.emit(sentence);
    }
  }
}

/**
 * Where the first sentence of `text` ends, or undefined while that is not certain yet.
 * `final`: no more text follows (end of stream or a hard break).
 */
function nextCut(text: string, final: boolean, maxChars: number): number | undefined {
  const boundary = findBoundary(text, final, maxChars);
  if (boundary && boundary.at <= maxChars) return boundary.certain ? boundary.at : undefined;
  if (text.length > maxChars) return capCut(text, maxChars, final);
  return final ? text.length : undefined;
}

const TERMINALS = new Set(['.', '!', '?', '…']);
const CLOSERS = new Set([')', ']', '"', "'", '”', '’', '»']);

/**
 * The first sentence end in `text` before `limit`: certain, or possible but waiting for the next
 * word. An end is a run of . ! ? … plus closing quotes or brackets, then a space and a word that
 * does not start in lower case; a lone period after an abbreviation or an initial does not count.
 */
function findBoundary(text: string, final: boolean, limit: number): { at: number; certain: boolean } | undefined {
  for (let i = 0; i < Math.min(text.length, limit); i++) {
    if (!TERMINALS.has(text.charAt(i))) continue;
    let j = i;
    while (TERMINALS.has(text.charAt(j))) j++;
    let k = j;
    while (CLOSERS.has(text.charAt(k))) k++;
    const verdict = judgeBoundary(text, i, j, k, final);
    if (verdict !== 'no') return { at: k, certain: verdict === 'yes' };
    i = j - 1;
  }
  return undefined;
}

/** Is the terminal run text[i, j), followed by closers up to k, the end of a sentence? */
function judgeBoundary(text: string, i: number, j: number, k: number, final: boolean): 'yes' | 'no' | 'wait' {
  const after = text.charAt(k); // '' at the end of the text so far
  if (after !== '' && after !== ' ') return 'no'; // 3.14, package.json, v1.2.3, ../x, example.com/a?b
  const next = text.charAt(k + 1);
  if (next === '') return final ? 'yes' : 'wait';
  if (/\p{Ll}/u.test(next)) return 'no';
  const period = j - i === 1 && text.charAt(i) === '.';
  if (period && /^\d+$/.test(text.slice(0, i))) return 'no'; // "1. Setup" in a numbered heading
  if (period && isAbbreviation(wordBefore(text, i), next)) return 'no';
  return 'yes';
}

function wordBefore(text: string, i: number): string {
  return text.slice(text.lastIndexOf(' ', i - 1) + 1, i).replace(/^[("'“‘[]+/, '');
}

/** Never end a sentence: they are followed by more of the same sentence. */
const ABBREVIATIONS = new Set([
  'e.g', 'E.g', 'i.e', 'I.e', 'vs', 'Vs', 'cf', 'Cf', 'approx', 'Approx', 'ca',
  'Mr', 'Mrs', 'Ms', 'Mx', 'Dr', 'Prof', 'St', 'Jr', 'Sr', 'Mt', 'Gen', 'Sen', 'Rep', 'Gov',
  'U.S', 'U.K', 'U.N', 'E.U',
]);
/** Do not end a sentence when a number follows: "No. 5", "p. 12", "Fig. 3". */
const NUMBER_ABBREVIATIONS = new Set(['No', 'no', 'Nos', 'Nr', 'nr', 'Vol', 'vol', 'p', 'pp', 'Ch', 'ch', 'Sec', 'Fig', 'fig', 'Art', 'Eq', 'eq']);

function isAbbreviation(word: string, next: string): boolean {
  if (ABBREVIATIONS.has(word)) return true;
  if (NUMBER_ABBREVIATIONS.has(word) && /\p{N}/u.test(next)) return true;
  return /^\p{Lu}$/u.test(word) && word !== 'I'; // an initial: "J. R. R. Tolkien"
}

const CLAUSE_END = /[,;:—–]/;
const CONJUNCTION = /^(?:and|but|or|so|because|which|while|whereas|although|though|unless|until) /;

/**
 * Where to cut a run-on sentence longer than `maxChars`: the last clause break (after , ; : or
 * a dash, else before a conjunction) in the second half of the window, else the last space.
 * Only the first maxChars + 1 characters are looked at, so the cut is the same however the text
 * arrived. A single word longer than the cap is kept whole.
 */
function capCut(text: string, maxChars: number, final: boolean): number | undefined {
  const window = text.slice(0, maxChars + 1);
  const spaces: number[] = [];
  for (let p = window.indexOf(' ', 1); p !== -1; p = window.indexOf(' ', p + 1)) spaces.push(p);
  if (spaces.length === 0) {
    const next = text.indexOf(' ', maxChars);
    return next !== -1 ? next : final ? text.length : undefined;
  }
  const late = spaces.filter((p) => p >= maxChars / 2);
  const clause = late.filter((p) => CLAUSE_END.test(window.charAt(p - 1))).at(-1);
  const conjunction = late.filter((p) => CONJUNCTION.test(window.slice(p + 1))).at(-1);
  return clause ?? conjunction ?? spaces.at(-1);
}
