/**
 * Matches what the user said against the local intents, and produces the recognizer's
 * phrases from the same templates.
 *
 * "Confidently" means the whole utterance matches one template. The only extra words allowed
 * are fillers at the start ("hey", "jarvis", "kai", "ok", "please", "can you", "could you",
 * "would you", "will you", "just", "tell me", "so", "um") and at the end ("please", "thanks",
 * "thank you", "now", "right now", "for me", "jarvis", "kai"). Anything else — a negation
 * ("don't run the tests"), an object ("stop the music"), a qualifier ("what time is it in
 * Tokyo") — is no match, and the caller hands the utterance to the LLM (or says what it can do).
 *
 * Confidence: 1 for an exact match, 0.9 when fillers were dropped, 0.8 when a free-text slot
 * was used (times 0.9 with fillers).
 */
import { readFileSync } from 'node:fs';
import { CompiledTemplate, expand, normalise, type SlotSource } from './template.js';
import { slotSource, type Intent, type IntentToolCall, type IntentToolResult } from './intents.js';

export interface IntentMatch {
  intent: Intent;
  slots: Record<string, string>;
  confidence: number;
}

export interface IntentMatcherOptions {
  /**
   * Values for slots, by slot name; they replace the intent's own list. For `{package}`, the
   * workspace's package folder names ("api", "web-app"); see intents.ts.
   */
  slotValues?: Readonly<Record<string, readonly string[]>>;
  /** When given, `phrases()` keeps only phrases whose every word passes (e.g. is in the recognizer's dictionary). */
  knownWord?: (word: string) => boolean;
}

const LEADING_FILLERS: readonly string[][] = [
  ['hey'], ['hi'], ['hello'], ['ok'], ['so'], ['um'], ['uh'], ['jarvis'], ['kai'], ['please'], ['just'],
  ['can', 'you'], ['could', 'you'], ['would', 'you'], ['will', 'you'], ['tell', 'me'],
];
const TRAILING_FILLERS: readonly string[][] = [
  ['please'], ['thanks'], ['thank', 'you'], ['now'], ['right', 'now'], ['for', 'me'], ['jarvis'], ['kai'],
];

/** Start positions reachable by dropping leading fillers (0 first). */
function starts(tokens: readonly string[]): number[] {
  const seen = new Set<number>([0]);
  const queue = [0];
  for (let q = 0; q < queue.length; q++) {
    const p = queue[q]!;
    for (const f of LEADING_FILLERS) {
      if (f.every((w, k) => tokens[p + k] === w) && !seen.has(p + f.length)) {
        seen.add(p + f.length);
        queue.push(p + f.length);
      }
    }
  }
  return [...seen];
}

/** End positions (exclusive) reachable by dropping trailing fillers (tokens.length first). */
function ends(tokens: readonly string[]): number[] {
  const seen = new Set<number>([tokens.length]);
  const queue = [tokens.length];
  for (let q = 0; q < queue.length; q++) {
    const e = queue[q]!;
    for (const f of TRAILING_FILLERS) {
      const from = e - f.length;
      if (from >= 0 && f.every((w, k) => tokens[from + k] === w) && !seen.has(from)) {
        seen.add(from);
        queue.push(from);
      }
    }
  }
  return [...seen];
}

function isValueList(source: SlotSource | readonly string[]): source is readonly string[] {
  return Array.isArray(source);
}

interface CompiledIntent {
  intent: Intent;
  templates: CompiledTemplate[];
  slots: Record<string, SlotSource | readonly string[]>;
  freeText: Set<string>;
}

export class IntentMatcher {
  private readonly compiled: CompiledIntent[];
  private readonly slotValues: Readonly<Record<string, readonly string[]>>;
  private readonly knownWord: ((word: string) => boolean) | undefined;

  /** Throws TemplateSyntaxError for a bad template. */
  constructor(
    readonly intents: readonly Intent[],
    options: IntentMatcherOptions = {},
  ) {
    this.slotValues = options.slotValues ?? {};
    this.knownWord = options.knownWord;
    this.compiled = intents.map((intent) => {
      const templates = intent.templates.map((t) => new CompiledTemplate(t));
      const names = new Set(templates.flatMap((t) => t.slotNames));
      const slots: Record<string, SlotSource | readonly string[]> = {};
      const freeText = new Set<string>();
      for (const name of names) {
        const spec = intent.slots?.[name];
        slots[name] = slotSource(spec, this.slotValues[name]);
        if (spec?.type === 'text') freeText.add(name);
      }
      return { intent, templates, slots, freeText };
    });
  }

  /** The intent the whole utterance asks for, or null (near misses, other requests, empty text). */
  match(text: string): IntentMatch | null {
    const tokens = normalise(text);
    if (tokens.length === 0) return null;
    const candidates: Array<{ from: number; to: number; dropped: number }> = [];
    for (const from of starts(tokens)) {
      for (const to of ends(tokens)) {
        if (to > from) candidates.push({ from, to, dropped: from + tokens.length - to });
      }
    }
    candidates.sort((a, b) => a.dropped - b.dropped);
    for (const { from, to, dropped } of candidates) {
      const words = tokens.slice(from, to);
      for (const c of this.compiled) {
        for (const template of c.templates) {
          const slots = template.match(words, c.slots);
          if (slots === null) continue;
          let confidence = dropped === 0 ? 1 : 0.9;
          if (Object.keys(slots).some((s) => c.freeText.has(s))) confidence *= 0.8;
          return { intent: c.intent, slots, confidence };
        }
      }
    }
    return null;
  }

  /** The tool call for a match, or null for intents without one (stop, help). */
  toolCall(match: IntentMatch): IntentToolCall | null {
    return match.intent.toToolCall?.(match.slots) ?? null;
  }

  /** The spoken answer for a match, given the tool's result (if a tool ran). */
  answer(match: IntentMatch, result?: IntentToolResult): string {
    return match.intent.answer(result, match.slots, { helpText: this.helpText() });
  }

  /**
   * Every phrase the templates produce (slots filled with `slotValues`, free-text slots left
   * out), deduplicated, at most `limit`, in intent order. With `knownWord`, phrases with an
   * unknown word are dropped. Fillers are not included: the recognizer hears the command.
   */
  phrases(limit = 5000): string[] {
    const out = new Set<string>();
    for (const c of this.compiled) {
      const values: Record<string, readonly string[]> = {};
      for (const [name, source] of Object.entries(c.slots)) {
        if (isValueList(source)) values[name] = source;
        else if (source.type === 'values') values[name] = source.values.map((v) => v.spoken);
      }
      for (const template of c.templates) {
        for (const phrase of expand(template, values, limit)) {
          if (out.size >= limit) return [...out];
          if (this.knownWord && !phrase.split(' ').every((w) => this.knownWord!(w))) continue;
          out.add(phrase);
        }
      }
    }
    return [...out];
  }

  /** "I can run the tests, tell you the git status, what changed, … or cancel a job." */
  helpText(): string {
    const things = this.intents.map((i) => i.help).filter((h): h is string => h !== undefined && h !== '');
    if (things.length === 0) return 'I can stop when you say stop.';
    const list = things.length === 1 ? things[0]! : `${things.slice(0, -1).join(', ')}, or ${things[things.length - 1]!}`;
    return `I can ${list}.`;
  }

  /** What to say when nothing matched and there is no LLM. */
  fallbackText(): string {
    return `I can only do commands offline. ${this.helpText()}`;
  }
}

/** The words of a pocketsphinx (CMU format) dictionary, alternates like "the(2)" folded in. */
export function readDictionaryWords(path: string): Set<string> {
  const out = new Set<string>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const space = line.indexOf(' ');
    if (space > 0) out.add(line.slice(0, space).replace(/\(\d+\)$/, ''));
  }
  return out;
}
