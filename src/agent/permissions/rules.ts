import { ConfigError } from '../../config/load.js';

/** Which config list a rule came from. */
export type RuleList = 'allow' | 'ask' | 'deny';

/** How a rule's pattern is matched: commands as whole strings, paths segment by segment. */
export type MatchKind = 'command' | 'path';

/** A parsed `Tool` or `Tool(pattern)` permission rule. */
export interface Rule {
  /** The rule as written in the config (trimmed). */
  text: string;
  list: RuleList;
  tool: string;
  /** Undefined for a bare `Tool` rule, which matches every call of the tool. */
  pattern: string | undefined;
  /** Matches the subject of a call; `kind` picks command or path semantics. */
  matches(subject: string, kind: MatchKind): boolean;
}

const TOOL_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;

function malformed(text: string, list: RuleList, why: string): ConfigError {
  return new ConfigError(`the permission rule "${text}" in agent.${list} is malformed: ${why}`);
}

/**
 * Parses one rule. `Tool` matches every call of the tool; `Tool(pattern)` matches when the pattern
 * matches the call's subject. Patterns use `*` and `**` (`\*` is a literal star):
 *  - commands (exec tools): the pattern must match the whole command string; `*` and `**` match any
 *    text, so `npm test*` matches `npm test` and `npm test -- --watch`;
 *  - paths: `*` matches within one path segment, `**` across segments (`src/**`, `**` + `/*.ts`);
 *    a pattern without `/` matches the file name at any depth, like .gitignore (`*.env`).
 * Throws ConfigError naming the rule when it is malformed.
 */
export function parseRule(text: string, list: RuleList): Rule {
  if (typeof text !== 'string') throw malformed(String(text), list, 'a rule must be text');
  const trimmed = text.trim();
  if (trimmed === '') throw malformed(text, list, 'the rule is empty');
  const open = trimmed.indexOf('(');
  let tool: string;
  let pattern: string | undefined;
  if (open < 0) {
    if (trimmed.includes(')')) throw malformed(trimmed, list, 'there is a ")" without "("');
    tool = trimmed;
  } else {
    if (!trimmed.endsWith(')')) throw malformed(trimmed, list, 'it must end with ")" after the pattern');
    tool = trimmed.slice(0, open).trim();
    pattern = trimmed.slice(open + 1, -1).trim();
    if (pattern === '') throw malformed(trimmed, list, 'the pattern inside "( )" is empty (write just the tool name to match every call)');
  }
  if (!TOOL_NAME.test(tool)) throw malformed(trimmed, list, `"${tool}" is not a tool name`);
  const compiled = new Map<MatchKind, RegExp>();
  const regexFor = (kind: MatchKind): RegExp => {
    let re = compiled.get(kind);
    if (!re) {
      re = compilePattern(pattern ?? '**', kind);
      compiled.set(kind, re);
    }
    return re;
  };
  return {
    text: trimmed,
    list,
    tool,
    pattern,
    matches(subject: string, kind: MatchKind): boolean {
      if (pattern === undefined) return true;
      const s = kind === 'path' ? normalizePath(subject) : subject.trim();
      return regexFor(kind).test(s);
    },
  };
}

/** Parses a whole config list; the first malformed rule throws. */
export function parseRules(texts: readonly string[], list: RuleList): Rule[] {
  return texts.map((t) => parseRule(t, list));
}

function normalizePath(path: string): string {
  let p = path.replace(/\\/g, '/').replace(/\/{2,}/g, '/');
  while (p.startsWith('./')) p = p.slice(2);
  if (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return p;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

type Token = { kind: 'text'; value: string } | { kind: 'star' } | { kind: 'globstar' };

function tokenize(pattern: string): Token[] {
  const tokens: Token[] = [];
  let text = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '\\' && pattern[i + 1] === '*') {
      text += '*';
      i++;
    } else if (c === '*') {
      if (text) tokens.push({ kind: 'text', value: text });
      text = '';
      if (pattern[i + 1] === '*') {
        while (pattern[i + 1] === '*') i++;
        tokens.push({ kind: 'globstar' });
      } else tokens.push({ kind: 'star' });
    } else text += c;
  }
  if (text) tokens.push({ kind: 'text', value: text });
  return tokens;
}

function compilePattern(pattern: string, kind: MatchKind): RegExp {
  const tokens = tokenize(kind === 'path' ? normalizePath(pattern) : pattern);
  if (kind === 'command') {
    const body = tokens.map((t) => (t.kind === 'text' ? escapeRegex(t.value) : '[\\s\\S]*')).join('');
    return new RegExp(`^${body}$`);
  }
  let body = '';
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] as Token;
    if (t.kind === 'text') body += escapeRegex(t.value);
    else if (t.kind === 'star') body += '[^/]*';
    else {
      const prev = i === 0 ? '/' : body.endsWith('\\/') ? '/' : '';
      const next = tokens[i + 1];
      const nextIsSlash = next?.kind === 'text' && next.value.startsWith('/');
      if (prev && nextIsSlash && next.kind === 'text') {
        // `**/` (at the start or after `/`): zero or more whole directories.
        body += '(?:[^/]+\\/)*';
        tokens[i + 1] = { kind: 'text', value: next.value.slice(1) };
        if (next.value.length === 1) tokens.splice(i + 1, 1);
      } else if (prev && next === undefined && body.endsWith('\\/')) {
        // `dir/**`: the directory itself and everything under it.
        body = `${body.slice(0, -2)}(?:\\/.*)?`;
      } else body += '.*';
    }
  }
  const anchored = pattern.includes('/') ? `^${body}$` : `^(?:.*\\/)?${body}$`;
  return new RegExp(anchored);
}
