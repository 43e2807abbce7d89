/**
 * A tiny sentence-template language for local (offline) commands.
 *
 * Syntax
 *   words          literal words: lower case letters, digits, apostrophes inside words ("what's")
 *   [ a b ]        optional group; may hold alternatives: `[ me | us ]`
 *   ( a | b )      alternatives (exactly one is taken)
 *   {name}         a slot: filled from a list of values, or free text of at most N words
 *   a | b          alternatives are allowed at the top level too
 *
 *   e.g. `run [the] (tests | test suite) [in [the] {package} [package | folder]]`
 *
 * Normalisation (applied to what the user said, and to every run of literal words in a template)
 *   - lower case, curly quotes straightened, any other punctuation becomes a word break
 *     ("web-app" → "web app"), apostrophes are kept only inside words ("'tests'" → "tests");
 *   - a few contractions and spellings are made canonical, so either form matches either:
 *     "what is" / "what has" / "whats" → "what's", "how is" / "hows" → "how's",
 *     "there is" / "theres" → "there's", "do not" / "dont" → "don't", "nevermind" → "never mind",
 *     "okay" → "ok".
 *   Articles and plurals are NOT normalised ("the tests" ≠ "tests"): templates say what is
 *   optional with `[the]`, so the grammar generated from them stays exact.
 *   Contractions are canonicalised per run of literal words, so write both forms inside one
 *   group — `(what's | what is) the time` — not across a group boundary (`what [is] the time`).
 *
 * Matching is of the whole utterance (an anchored match); the caller strips fillers first.
 * `expand` produces the surface forms as written (both "what's" and "what is"), for the
 * recognizer's grammar; every expansion matches its template back.
 */

export type TemplateNode =
  | { type: 'words'; /** as written, for expansion */ surface: string[]; /** canonical, for matching */ canonical: string[] }
  | { type: 'slot'; name: string }
  | { type: 'group'; optional: boolean; alternatives: TemplateNode[][] };

export class TemplateSyntaxError extends Error {
  constructor(
    readonly template: string,
    readonly position: number,
    message: string,
  ) {
    super(`${message} at ${position} in template "${template}"`);
    this.name = 'TemplateSyntaxError';
  }
}

/** How a slot is filled while matching: from a list of values, or by 1..maxWords free words. */
export type SlotSource =
  | { type: 'values'; values: ReadonlyArray<{ /** what is said, e.g. "web app" */ spoken: string; /** what the slot returns, e.g. "web-app" */ value: string }> }
  | { type: 'text'; maxWords: number };

/** Slot sources, or for short a plain list of values (each said as its `spokenForm`). */
export type SlotSources = Readonly<Record<string, SlotSource | readonly string[]>>;

const REWRITES: ReadonlyArray<readonly [string[], string[]]> = [
  [['what', 'is'], ["what's"]],
  [['what', 'has'], ["what's"]],
  [['whats'], ["what's"]],
  [['how', 'is'], ["how's"]],
  [['hows'], ["how's"]],
  [['there', 'is'], ["there's"]],
  [['theres'], ["there's"]],
  [['do', 'not'], ["don't"]],
  [['dont'], ["don't"]],
  [['nevermind'], ['never', 'mind']],
  [['okay'], ['ok']],
];

/** Splits text into words: lower case, punctuation dropped, apostrophes kept inside words. */
export function words(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[\u2018\u2019\u02bc]/g, "'")
    .replace(/[^a-z0-9' ]+/g, ' ')
    .split(/\s+/)
    .map((w) => w.replace(/^'+|'+$/g, ''))
    .filter((w) => w !== '');
}

/** Applies the contraction/spelling rewrites to a list of words. */
export function canonicalise(tokens: readonly string[]): string[] {
  const out: string[] = [];
  let i = 0;
  outer: while (i < tokens.length) {
    for (const [from, to] of REWRITES) {
      if (from.every((w, k) => tokens[i + k] === w)) {
        out.push(...to);
        i += from.length;
        continue outer;
      }
    }
    out.push(tokens[i]!);
    i++;
  }
  return out;
}

/** The words the matcher compares: `canonicalise(words(text))`. */
export function normalise(text: string): string[] {
  return canonicalise(words(text));
}

/**
 * How a slot value (a package folder name, say) is said: scope dropped, camelCase and
 * separators split into words. "@kai/web-app" → "web app", "apiServer" → "api server".
 */
export function spokenForm(value: string): string {
  const bare = value.replace(/^@[^/]+\//, '');
  return words(bare.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/[_./-]+/g, ' ')).join(' ');
}

type Token =
  | { kind: 'word'; text: string; at: number }
  | { kind: 'slot'; name: string; at: number }
  | { kind: 'punct'; char: '[' | ']' | '(' | ')' | '|'; at: number };

function tokenize(source: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '[' || c === ']' || c === '(' || c === ')' || c === '|') {
      out.push({ kind: 'punct', char: c, at: i });
      i++;
    } else if (c === '{') {
      const end = source.indexOf('}', i);
      if (end < 0) throw new TemplateSyntaxError(source, i, 'unclosed {');
      const name = source.slice(i + 1, end).trim();
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new TemplateSyntaxError(source, i, `bad slot name "${name}"`);
      out.push({ kind: 'slot', name, at: i });
      i = end + 1;
    } else {
      const m = /^[A-Za-z0-9'\u2019]+/.exec(source.slice(i));
      if (!m) throw new TemplateSyntaxError(source, i, `unexpected "${c}"`);
      const w = words(m[0]);
      if (w.length !== 1) throw new TemplateSyntaxError(source, i, `bad word "${m[0]}"`);
      out.push({ kind: 'word', text: w[0]!, at: i });
      i += m[0].length;
    }
  }
  return out;
}

/** Parses a template into nodes; throws TemplateSyntaxError. */
export function parseTemplate(source: string): TemplateNode[] {
  const tokens = tokenize(source);
  let pos = 0;

  const alternatives = (close: ']' | ')' | undefined): TemplateNode[][] => {
    const alts: TemplateNode[][] = [sequence()];
    for (;;) {
      const t = tokens[pos];
      if (t === undefined) {
        if (close !== undefined) throw new TemplateSyntaxError(source, source.length, `missing "${close}"`);
        return alts;
      }
      if (t.kind === 'punct' && t.char === '|') {
        pos++;
        alts.push(sequence());
        continue;
      }
      if (t.kind === 'punct' && t.char === close) {
        pos++;
        return alts;
      }
      throw new TemplateSyntaxError(source, t.at, `unexpected "${t.kind === 'punct' ? t.char : ''}"`);
    }
  };

  const sequence = (): TemplateNode[] => {
    const seq: TemplateNode[] = [];
    let run: string[] = [];
    const flush = () => {
      if (run.length > 0) seq.push({ type: 'words', surface: run, canonical: canonicalise(run) });
      run = [];
    };
    for (;;) {
      const t = tokens[pos];
      if (t === undefined) break;
      if (t.kind === 'word') {
        run.push(t.text);
        pos++;
      } else if (t.kind === 'slot') {
        flush();
        seq.push({ type: 'slot', name: t.name });
        pos++;
      } else if (t.char === '[' || t.char === '(') {
        flush();
        pos++;
        const alts = alternatives(t.char === '[' ? ']' : ')');
        if (alts.some((a) => a.length === 0)) throw new TemplateSyntaxError(source, t.at, 'empty alternative');
        seq.push({ type: 'group', optional: t.char === '[', alternatives: alts });
      } else {
        break;
      }
    }
    flush();
    return seq;
  };

  const top = alternatives(undefined);
  if (top.some((a) => a.length === 0)) throw new TemplateSyntaxError(source, 0, 'empty template or alternative');
  return top.length === 1 ? top[0]! : [{ type: 'group', optional: false, alternatives: top }];
}

type ResolvedSlot =
  | { type: 'values'; values: Array<{ tokens: string[]; value: string }> }
  | { type: 'text'; maxWords: number };

function resolveSlots(slots: SlotSources): Map<string, ResolvedSlot> {
  const out = new Map<string, ResolvedSlot>();
  for (const [name, source] of Object.entries(slots)) {
    if (isValueList(source)) {
      out.set(name, { type: 'values', values: source.map((v) => ({ tokens: canonicalise(words(spokenForm(v))), value: v })).filter((v) => v.tokens.length > 0) });
    } else if (source.type === 'values') {
      out.set(name, { type: 'values', values: source.values.map((v) => ({ tokens: normalise(v.spoken), value: v.value })).filter((v) => v.tokens.length > 0) });
    } else {
      out.set(name, { type: 'text', maxWords: Math.max(0, Math.floor(source.maxWords)) });
    }
  }
  return out;
}

function isValueList(source: SlotSource | readonly string[]): source is readonly string[] {
  return Array.isArray(source);
}

interface State {
  pos: number;
  slots: Record<string, string>;
}

function* matchSeq(nodes: readonly TemplateNode[], idx: number, tokens: readonly string[], state: State, slots: Map<string, ResolvedSlot>): Generator<State> {
  const node = nodes[idx];
  if (node === undefined) {
    yield state;
    return;
  }
  for (const next of matchNode(node, tokens, state, slots)) yield* matchSeq(nodes, idx + 1, tokens, next, slots);
}

function* matchNode(node: TemplateNode, tokens: readonly string[], state: State, slots: Map<string, ResolvedSlot>): Generator<State> {
  switch (node.type) {
    case 'words': {
      if (node.canonical.every((w, k) => tokens[state.pos + k] === w)) yield { pos: state.pos + node.canonical.length, slots: state.slots };
      return;
    }
    case 'slot': {
      const source = slots.get(node.name);
      if (source === undefined) return;
      if (source.type === 'values') {
        // Longest values first, so "web app" wins over "web" when both exist.
        const sorted = [...source.values].sort((a, b) => b.tokens.length - a.tokens.length);
        for (const v of sorted) {
          if (v.tokens.every((w, k) => tokens[state.pos + k] === w)) {
            yield { pos: state.pos + v.tokens.length, slots: { ...state.slots, [node.name]: v.value } };
          }
        }
      } else {
        for (let n = Math.min(source.maxWords, tokens.length - state.pos); n >= 1; n--) {
          yield { pos: state.pos + n, slots: { ...state.slots, [node.name]: tokens.slice(state.pos, state.pos + n).join(' ') } };
        }
      }
      return;
    }
    case 'group': {
      for (const alt of node.alternatives) yield* matchSeq(alt, 0, tokens, state, slots);
      if (node.optional) yield state;
      return;
    }
  }
}

function slotNamesOf(nodes: readonly TemplateNode[], into: Set<string>): Set<string> {
  for (const n of nodes) {
    if (n.type === 'slot') into.add(n.name);
    else if (n.type === 'group') for (const a of n.alternatives) slotNamesOf(a, into);
  }
  return into;
}

/** A parsed template, ready to match whole utterances and to expand. */
export class CompiledTemplate {
  readonly nodes: readonly TemplateNode[];
  /** Every slot name the template uses. */
  readonly slotNames: readonly string[];

  constructor(readonly source: string) {
    this.nodes = parseTemplate(source);
    this.slotNames = [...slotNamesOf(this.nodes, new Set())];
  }

  /**
   * Matches the whole of `text` (a string, normalised here, or already normalised words).
   * Returns the slot values that were filled (optional slots left out are absent), or null.
   * A slot with no source given never matches.
   */
  match(text: string | readonly string[], slots: SlotSources = {}): Record<string, string> | null {
    const tokens = typeof text === 'string' ? normalise(text) : text;
    // Commands are short; this also bounds the backtracking.
    if (tokens.length === 0 || tokens.length > 40) return null;
    const resolved = resolveSlots(slots);
    for (const end of matchSeq(this.nodes, 0, tokens, { pos: 0, slots: {} }, resolved)) {
      if (end.pos === tokens.length) return end.slots;
    }
    return null;
  }
}

export function compileTemplate(source: string): CompiledTemplate {
  return new CompiledTemplate(source);
}

function* expandSeq(nodes: readonly TemplateNode[], idx: number, slotValues: ReadonlyMap<string, readonly string[]>): Generator<string[]> {
  const node = nodes[idx];
  if (node === undefined) {
    yield [];
    return;
  }
  for (const head of expandNode(node, slotValues)) {
    for (const tail of expandSeq(nodes, idx + 1, slotValues)) yield [...head, ...tail];
  }
}

function* expandNode(node: TemplateNode, slotValues: ReadonlyMap<string, readonly string[]>): Generator<string[]> {
  switch (node.type) {
    case 'words':
      yield node.surface;
      return;
    case 'slot':
      for (const v of slotValues.get(node.name) ?? []) {
        const w = words(spokenForm(v));
        if (w.length > 0) yield w;
      }
      return;
    case 'group':
      for (const alt of node.alternatives) yield* expandSeq(alt, 0, slotValues);
      if (node.optional) yield [];
      return;
  }
}

/**
 * Every phrase the template can produce, deduplicated, at most `limit` of them. Slots take
 * each of their values (said as `spokenForm(value)`); a branch using a slot without values
 * (or a free-text slot) produces nothing, so "run the tests [in {package}]" still gives
 * "run the tests" with no packages.
 */
export function expand(template: string | CompiledTemplate, slotValues: Readonly<Record<string, readonly string[]>> = {}, limit = 1000): string[] {
  const compiled = typeof template === 'string' ? new CompiledTemplate(template) : template;
  const values = new Map(Object.entries(slotValues));
  const out = new Set<string>();
  if (limit <= 0) return [];
  for (const phrase of expandSeq(compiled.nodes, 0, values)) {
    if (phrase.length === 0) continue;
    out.add(phrase.join(' '));
    if (out.size >= limit) break;
  }
  return [...out];
}
