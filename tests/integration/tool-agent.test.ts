import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentOutput } from '../../src/agent/agent.js';
import { createAgent } from '../../src/app/engines.js';
import { configSchema } from '../../src/config/index.js';
import { startChatServer, textReply, type ChatServer } from '../helpers/chat-server.js';

let chat: ChatServer;
let workspace: string;

beforeAll(async () => {
  chat = await startChatServer();
  workspace = mkdtempSync(join(tmpdir(), 'kai-agent-ws-'));
  writeFileSync(join(workspace, 'notes.md'), 'hello\n');
  writeFileSync(join(workspace, 'fake-tests.mjs'), "console.log(' Test Files  2 passed (2)\\n      Tests  7 passed | 1 failed (8)'); process.exit(1);\n");
  execFileSync('git', ['init', '-q'], { cwd: workspace });
  execFileSync('git', ['-c', 'user.email=t@t', '-c', 'user.name=t', 'add', '.'], { cwd: workspace });
  execFileSync('git', ['-c', 'user.email=t@t', '-c', 'user.name=t', 'commit', '-qm', 'first'], { cwd: workspace });
});
afterAll(() => chat.close());

function agentWith(overrides: Record<string, unknown> = {}, llm = true) {
  const state = mkdtempSync(join(tmpdir(), 'kai-agent-state-'));
  const config = configSchema.parse({
    agent: { workspace, testCommand: 'node fake-tests.mjs', auditLog: join(state, 'audit.jsonl'), ...overrides },
    jobs: { dir: join(state, 'jobs') },
    llm: llm ? { baseUrl: chat.baseURL, model: 'llm-test', timeoutMs: 3000 } : {},
  });
  return { ...createAgent(config, { cwd: workspace, env: { XDG_STATE_HOME: state } }), audit: join(state, 'audit.jsonl') };
}

async function reply(agent: ReturnType<typeof agentWith>['agent'], text: string, turn: number, confirm: (question: string) => Promise<boolean> = async () => false) {
  const outputs: AgentOutput[] = [];
  for await (const o of agent.respond(text, { turn, signal: new AbortController().signal, confirm })) outputs.push(o);
  const spoken = outputs.flatMap((o) => (o.type === 'text' ? [o.delta] : [])).join('');
  return { outputs, spoken };
}

describe('the tool agent', () => {
  it('answers a local command itself, without the LLM, through the registry', async () => {
    const { agent } = agentWith();
    const before = chat.requests.length;
    const { outputs, spoken } = await reply(agent, 'run the tests', 1);
    expect(chat.requests.length).toBe(before);
    expect(outputs.find((o) => o.type === 'tool_call')).toMatchObject({ name: 'run_tests' });
    expect(spoken).toMatch(/7 passed, 1 failed/);
  });

  it('offline, says what it can do for anything that is not a command', async () => {
    const { agent } = agentWith({}, false);
    const { spoken } = await reply(agent, 'write me a poem about rust', 1);
    expect(spoken).toMatch(/^I can only do commands offline\. I can run the tests/);
  });

  it('lets the LLM call tools in a loop and speaks its final answer', async () => {
    const { agent } = agentWith();
    chat.enqueue(
      { type: 'stream', steps: [{ type: 'tool', index: 0, id: 'c1', name: 'read_file' }, { type: 'tool', index: 0, arguments: '{"path":"no' }, { type: 'tool', index: 0, arguments: 'tes.md"}' }, { type: 'finish', reason: 'tool_calls' }] },
      textReply(['The notes say hello.']),
    );
    const { outputs, spoken } = await reply(agent, 'what do my notes say', 1);
    expect(outputs.find((o) => o.type === 'tool_result')).toMatchObject({ name: 'read_file', ok: true });
    expect(spoken).toBe('The notes say hello.');
    const second = chat.requests.at(-1)!.messages as { role: string; content: string | null; tool_call_id?: string }[];
    expect(second.at(-1)).toMatchObject({ role: 'tool', tool_call_id: 'c1' });
    expect(second.at(-1)!.content).toContain('hello');
    expect((chat.requests.at(-1)!.tools as unknown[]).length).toBeGreaterThan(10);
  });

  it('asks before a write in ask mode, and a no keeps the file unchanged and is audited', async () => {
    const { agent, audit } = agentWith();
    chat.enqueue(
      { type: 'stream', steps: [{ type: 'tool', index: 0, id: 'w1', name: 'write_file', arguments: '{"path":"notes.md","content":"bye\\n"}' }, { type: 'finish', reason: 'tool_calls' }] },
      textReply(['Okay, I left it alone.']),
    );
    const questions: string[] = [];
    const { outputs } = await reply(agent, 'replace my notes with bye', 1, async (q: string) => {
      questions.push(q);
      return false;
    });
    expect(questions).toEqual(['Write notes.md?']);
    expect(outputs.find((o) => o.type === 'tool_result')).toMatchObject({ name: 'write_file', ok: false });
    expect(readFileSync(join(workspace, 'notes.md'), 'utf8')).toBe('hello\n');
    const lines = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.at(-1)).toMatchObject({ tool: 'write_file', subject: 'notes.md', decision: 'ask', approved: false, via: 'user' });
  });

  it('keeps an interrupted reply in the history only as heard, and compacts old turns', async () => {
    const { agent } = agentWith({ contextChars: 2000 });
    for (let turn = 1; turn <= 12; turn++) {
      chat.enqueue(textReply([`Answer number ${turn} is a fairly long sentence that fills the context budget quickly.`]));
      await reply(agent, `question number ${turn} about something`, turn);
      const long = `Answer number ${turn} ${'is long '.repeat(30)}`.trim();
      agent.commitReply(turn, { fullText: long, heardText: turn === 12 ? 'Answer number' : long, interrupted: turn === 12 });
    }
    const messages = agent.messages;
    expect(messages[0]).toMatchObject({ role: 'system' });
    expect(String(messages[0]!.content)).toMatch(/^Earlier in this conversation the user asked: "question number 1 about something"/);
    expect(JSON.stringify(messages).length).toBeLessThan(2600);
    expect(messages.at(-1)).toEqual({ role: 'assistant', content: 'Answer number [interrupted by the user]' });
  });
});
