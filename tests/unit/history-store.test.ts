import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { ConversationHistory } from '../../src/agent/history.js';
import { defaultHistoryPath, HistoryStore } from '../../src/agent/history-store.js';
import type { ChatMessage } from '../../src/agent/llm.js';

const root = mkdtempSync(join(tmpdir(), 'kai-history-'));
let dir: string;
let path: string;

afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeEach(() => {
  dir = mkdtempSync(join(root, 't-'));
  path = join(dir, 'state', 'history.json');
});

function exchange(user: string, reply: string): ChatMessage[] {
  return [
    { role: 'user', content: user },
    { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'run_tests', arguments: '{}' } }] },
    { role: 'tool', tool_call_id: 'c1', content: '3 passed' },
    { role: 'assistant', content: reply },
  ];
}

describe('ConversationHistory toJSON / fromJSON', () => {
  it('round-trips turns and compacted notes, and re-applies a smaller budget', () => {
    const history = new ConversationHistory(2000);
    for (let i = 0; i < 12; i++) history.add(`question ${i} ${'x'.repeat(50)}`, exchange(`question ${i}`, `answer ${i}`));
    const state = history.toJSON();
    expect(state.version).toBe(1);
    expect(state.compacted.length).toBeGreaterThan(0);
    const copy = ConversationHistory.fromJSON(2000, JSON.parse(JSON.stringify(state)));
    expect(copy.messages()).toEqual(history.messages());
    expect(copy.toJSON()).toEqual(state);

    const smaller = ConversationHistory.fromJSON(600, state);
    expect(smaller.toJSON().turns.length).toBeLessThan(state.turns.length);
    expect(smaller.messages()[0]?.role).toBe('system');
    // toJSON is a snapshot: later changes do not leak into it.
    history.add('later', exchange('later', 'ok'));
    expect(state.turns.at(-1)?.user).not.toBe('later');
  });
});

describe('HistoryStore', () => {
  it('a missing file loads as an empty history, without a warning', async () => {
    const warnings: string[] = [];
    const history = await new HistoryStore(path, { onWarning: (w) => warnings.push(w) }).load(4000);
    expect(history.messages()).toEqual([]);
    expect(warnings).toEqual([]);
  });

  it('saves atomically (no temp file left, private mode) and a new store loads the same conversation', async () => {
    const store = new HistoryStore(path);
    const history = await store.load(4000);
    history.add('run the tests', exchange('run the tests', 'Three passed.'));
    store.save(history);
    expect(readdirSync(join(dir, 'state'))).toEqual(['history.json']);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(history.toJSON());

    const restarted = await new HistoryStore(path).load(4000);
    expect(restarted.messages()).toEqual(history.messages());
  });

  it('has the whole conversation on disk as soon as save returns, after every exchange', () => {
    const store = new HistoryStore(path);
    const history = new ConversationHistory(100_000);
    for (let i = 0; i < 20; i++) {
      history.add(`q${i}`, exchange(`q${i}`, `a${i}`));
      store.save(history);
      expect(JSON.parse(readFileSync(path, 'utf8')).turns).toHaveLength(i + 1);
    }
    expect(JSON.parse(readFileSync(path, 'utf8')).turns).toHaveLength(20);
    expect(readdirSync(join(dir, 'state'))).toEqual(['history.json']);
  });

  it('moves a corrupt file aside and starts empty, never throwing', async () => {
    mkdirSync(join(dir, 'state'));
    const cases = ['{"version":1,"turns":[{"user":"half', '{"version":1,"turns":"nope","compacted":[]}', '{"version":2,"turns":[],"compacted":[]}', 'null'];
    for (const [i, text] of cases.entries()) {
      writeFileSync(path, text);
      const warnings: string[] = [];
      const when = new Date(Date.UTC(2025, 0, 2, 3, 4, 5, i));
      const store = new HistoryStore(path, { onWarning: (w) => warnings.push(w), now: () => when });
      const history = await store.load(4000);
      expect(history.messages()).toEqual([]);
      const aside = `${path}.bad-2025-01-02T03-04-05-00${i}Z`;
      expect(readFileSync(aside, 'utf8')).toBe(text);
      expect(existsSync(path)).toBe(false);
      expect(warnings).toEqual([`the conversation history ${path} was not valid; moved it to ${aside} and started an empty one`]);

      // and the store keeps working afterwards
      history.add('hello', [{ role: 'user', content: 'hello' }, { role: 'assistant', content: 'hi' }]);
      store.save(history);
      expect((await new HistoryStore(path).load(4000)).messages()).toHaveLength(2);
      rmSync(path);
    }
  });

  it('an unreadable file gives a warning and an empty history; a failed save throws and the store recovers', async () => {
    mkdirSync(path, { recursive: true }); // a folder where the file should be: EISDIR, even for root
    const warnings: string[] = [];
    const store = new HistoryStore(path, { onWarning: (w) => warnings.push(w) });
    expect((await store.load(4000)).messages()).toEqual([]);
    expect(warnings).toEqual([`cannot read the conversation history ${path} (EISDIR); starting with an empty one`]);
    expect(existsSync(path)).toBe(true); // not corrupt, so not moved aside

    rmSync(join(dir, 'state'), { recursive: true });
    writeFileSync(join(dir, 'state'), 'a file where the folder should be');
    const history = new ConversationHistory(4000);
    history.add('a', [{ role: 'user', content: 'a' }]);
    expect(() => store.save(history)).toThrow(/ENOTDIR|EEXIST/);
    rmSync(join(dir, 'state'));
    store.save(history);
    expect(JSON.parse(readFileSync(path, 'utf8')).turns).toHaveLength(1);
  });

  it('the default path is $XDG_STATE_HOME/kai/history.json', () => {
    expect(defaultHistoryPath({ XDG_STATE_HOME: '/var/state' })).toBe('/var/state/kai/history.json');
  });
});
