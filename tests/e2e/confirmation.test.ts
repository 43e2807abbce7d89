import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readWav } from '../../src/audio/wav.js';
import { startChatServer, textReply, type ChatReply, type ChatServer } from '../helpers/chat-server.js';
import { concat, phrase, silence, type Voice } from '../helpers/fixtures.js';
import { startScriptedServer, type ScriptedServer } from '../helpers/openai-server.js';
import { readJsonLines, serverConfig, simulate, statesOf, sttReply, type TimedEvent, ttsAudio, turnsOf } from '../helpers/simulation.js';

/**
 * The permission flow through the machine: the scripted LLM asks for a command that needs approval in
 * ask mode, the assistant reads the action back (think.confirm), hears one answer with the embedded
 * yes/no recognizer, and only a clear yes runs it. "no", silence (the confirm timeout) and anything
 * unclear are no.
 */

const voice: Voice = { engine: 'flite', voice: 'rms' };
/** The answers: awb's yes and no are recognised by the yes/no grammar whatever the silence around them (rms's sit at the rejection limit). */
const answerVoice: Voice = { engine: 'flite', voice: 'awb' };
const COMMAND = 'touch made-by-kai.txt';
const PROMPT = `Run ${COMMAND}?`;
/**
 * The confirm timeout is the time to answer once the question has been spoken.
 */
const CONFIRM_TIMEOUT_MS = 4000;
const SPEED = 2;

let base: string;
let audio: ScriptedServer;
let chat: ChatServer;

/** One streamed tool call, its id and name first, the arguments in two fragments. */
function toolCallReply(id: string, name: string, args: string): ChatReply {
  const cut = Math.floor(args.length / 2);
  return {
    type: 'stream',
    steps: [
      { type: 'tool', index: 0, id, name },
      { type: 'tool', index: 0, arguments: args.slice(0, cut) },
      { type: 'tool', index: 0, arguments: args.slice(cut) },
      { type: 'finish', reason: 'tool_calls' },
    ],
  };
}

function gitRepo(name: string): string {
  const repo = join(base, name);
  mkdirSync(repo);
  writeFileSync(join(repo, 'README.md'), '# Demo\n');
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, encoding: 'utf8' });
  git('init', '-q', '-b', 'main');
  git('config', 'user.name', 'Test User');
  git('config', 'user.email', 'test@example.com');
  git('config', 'commit.gpgsign', 'false');
  git('add', '-A');
  git('commit', '-q', '-m', 'Initial commit');
  return repo;
}

beforeAll(() => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'kai-confirm-')));
});
afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});
beforeEach(async () => {
  audio = await startScriptedServer();
  chat = await startChatServer();
});
afterEach(async () => {
  await audio.close();
  await chat.close();
});

interface Run {
  events: TimedEvent[];
  repo: string;
  audit: string;
  /** Where the answer starts in the input (ms). */
  answerAtMs: number;
  promptMs: number;
}

/** "hey jarvis, install the dependencies", a pause for the question, then `answer` (a WAV, or none). */
async function runCase(name: string, answer: string | null, finalReply: string): Promise<Run> {
  audio.requests.length = 0;
  const [prompt, final] = await Promise.all([ttsAudio(PROMPT), ttsAudio(finalReply)]);
  audio.script('/audio/transcriptions', sttReply('install the dependencies'));
  audio.script('/audio/speech', { type: 'chunks', chunks: prompt.chunks, delayMs: 5 }, { type: 'chunks', chunks: final.chunks, delayMs: 5 });
  chat.enqueue(toolCallReply('call_1', 'run_command', JSON.stringify({ command: COMMAND })), textReply([finalReply]));

  const repo = gitRepo(name);
  const audit = join(base, `${name}-audit.jsonl`);
  const lead = [silence(1), phrase('hey jarvis', voice), silence(0.6), phrase('install the dependencies', voice)];
  // the request ends, its end is detected (~0.5 s), STT and the LLM answer (~0.3 s), the question is
  // spoken; the answer comes about half a second after it
  const pauseS = 1.6 + prompt.ms / 1000;
  const parts = [...lead, silence(pauseS), ...(answer ? [answer] : []), silence(1.5)];
  const input = concat(`confirm-${name}-${Math.round(pauseS * 1000)}`, parts);
  const leadMs = await durationOf(lead);
  const config = serverConfig(audio, chat, {
    conversation: { followUp: 'off', earcons: true, confirmTimeoutMs: CONFIRM_TIMEOUT_MS },
    agent: { workspace: repo, mode: 'ask', auditLog: audit },
    jobs: { dir: join(base, `${name}-jobs`) },
  });
  const { events } = await simulate(input, config, { speed: SPEED, cwd: base });
  return { events, repo, audit, answerAtMs: leadMs + pauseS * 1000, promptMs: prompt.ms };
}

async function durationOf(paths: string[]): Promise<number> {
  let ms = 0;
  for (const p of paths) ms += ((await readWav(p)).samples.length * 1000) / 16_000;
  return ms;
}

/** What every case shares: the question was asked in the confirm state, and the turn ended cleanly. */
function expectConfirmFlow(run: Run, heard: string | null): void {
  const { events } = run;
  expect(statesOf(events)).toEqual(['idle', 'wake', 'listen', 'think', 'confirm', 'think', 'speak', 'idle']);
  expect(events.filter((e) => e.type === 'error')).toEqual([]);
  expect(events.find((e) => e.type === 'tool_call')).toMatchObject({ name: 'run_command', arguments: { command: COMMAND } });
  // the first thing said is the question, naming the action
  const speech = audio.requests.filter((r) => r.path === '/audio/speech').map((r) => (r.json as { input: string }).input);
  expect(speech[0]).toBe(PROMPT);
  expect(speech).toHaveLength(2);
  // the answer came after the question had been spoken, inside the confirm window
  const confirmAt = events.find((e) => e.type === 'state' && e.value === 'confirm')!.t;
  const leftConfirm = events.find((e, i) => e.type === 'state' && e.value === 'think' && i > events.findIndex((x) => x.type === 'state' && x.value === 'confirm'))!.t;
  if (heard !== null) {
    expect(run.answerAtMs).toBeGreaterThan(confirmAt + run.promptMs);
    // settled by the answer (the audit below says by whom), however long a busy machine took to recognise it
    expect(leftConfirm).toBeGreaterThan(run.answerAtMs);
    // what the yes/no recogniser heard (the request's own transcript came first)
    const finals = events.filter((e) => e.type === 'transcript' && e.final).map((e) => (e as { text: string }).text);
    expect(finals).toEqual(['install the dependencies', heard]);
  } else {
    // nothing said: the confirm timeout ended it
    expect(leftConfirm - confirmAt).toBeGreaterThanOrEqual(run.promptMs + CONFIRM_TIMEOUT_MS - 50);
    expect(leftConfirm - confirmAt).toBeLessThan(run.promptMs + CONFIRM_TIMEOUT_MS + 800);
  }
  // one turn, one audit line for the one decision
  const turns = turnsOf(events);
  expect(turns).toHaveLength(1);
  expect(turns[0]).toMatchObject({ transcript: 'install the dependencies', interrupted: false, errors: [] });
  expect(readJsonLines(run.audit)).toHaveLength(1);
}

/** The tool message the LLM got in its second request. */
function toolMessage(): string {
  expect(chat.requests).toHaveLength(2);
  const messages = chat.requests[1]!.messages as { role: string; content: string; tool_call_id?: string }[];
  expect(messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'tool']);
  const tool = messages[3]!;
  expect(tool.tool_call_id).toBe('call_1');
  return tool.content;
}

/** Not run: no file, the audit line says not approved, the LLM is told so, and says its sentence. */
function expectRefused(run: Run, finalReply: string): Record<string, unknown> {
  expect(existsSync(join(run.repo, 'made-by-kai.txt'))).toBe(false);
  const [entry] = readJsonLines(run.audit);
  expect(entry).toMatchObject({ tool: 'run_command', subject: COMMAND, decision: 'ask', approved: false });
  expect(run.events.find((e) => e.type === 'tool_result')).toMatchObject({ name: 'run_command', ok: false });
  expect(toolMessage()).toMatch(/^\[denied\] run_command was not run: /);
  expect(run.events.find((e) => e.type === 'assistant')).toMatchObject({ text: finalReply });
  return entry!;
}

describe('spoken confirmation through the machine', { timeout: 60_000 }, () => {
  it('"yes": the command runs, the audit says approved by the user, the LLM gets the result', async () => {
    const run = await runCase('yes', phrase('yes', answerVoice), 'Done, I made the file.');
    expectConfirmFlow(run, 'yes');
    expect(existsSync(join(run.repo, 'made-by-kai.txt'))).toBe(true);
    expect(readJsonLines(run.audit)[0]).toMatchObject({ tool: 'run_command', subject: COMMAND, decision: 'ask', approved: true, via: 'user' });
    expect(run.events.find((e) => e.type === 'tool_result')).toMatchObject({ name: 'run_command', ok: true });
    expect(toolMessage()).toMatch(/^\[ok\] \$ touch made-by-kai\.txt\n\[exit code 0\]$/);
    expect(run.events.find((e) => e.type === 'assistant')).toMatchObject({ text: 'Done, I made the file.' });
  });

  it('"no": not run, the audit says refused by the user', async () => {
    const run = await runCase('no', phrase('no', answerVoice), 'Okay, I left it alone.');
    expectConfirmFlow(run, 'no');
    const entry = expectRefused(run, 'Okay, I left it alone.');
    expect(entry.via).toBe('user');
    expect(toolMessage()).toBe(`[denied] run_command was not run: the user said no to "${PROMPT}"`);
  });

  it('silence: after the confirm timeout, not run', async () => {
    const run = await runCase('silence', null, 'Okay, I did nothing.');
    expectConfirmFlow(run, null);
    const entry = expectRefused(run, 'Okay, I did nothing.');
    // no answer at all is recorded as a timeout, not as the user saying no
    expect(entry.via).toBe('timeout');
  });

  it('garbage ("the weather is nice today"): not a clear yes, so not run', async () => {
    const run = await runCase('garbage', phrase('the weather is nice today', answerVoice), 'Okay, I left it alone.');
    const heard = run.events.filter((e) => e.type === 'transcript' && e.final).map((e) => (e as { text: string }).text)[1];
    expect(heard).toBeDefined();
    expect(heard).not.toMatch(/^(yes|yeah|yep|sure|ok|okay|do it|go ahead)\b/);
    expectConfirmFlow(run, heard ?? '');
    expectRefused(run, 'Okay, I left it alone.');
  });
});
