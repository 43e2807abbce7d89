import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startChatServer, textReply, type ChatServer } from '../helpers/chat-server.js';
import { runKai } from '../helpers/cli.js';
import { concat, phrase, sharedModelsDir, silence, type Voice } from '../helpers/fixtures.js';
import { startScriptedServer, type ScriptedServer } from '../helpers/openai-server.js';
import { audibleSpans, readJsonLines, serverConfig, simulate, statesOf, sttReply, ttsAudio, turnsOf } from '../helpers/simulation.js';

const voice: Voice = { engine: 'flite', voice: 'rms' };
const work = mkdtempSync(join(tmpdir(), 'kai-sim-'));
let audio: ScriptedServer;
let chat: ChatServer;

beforeEach(async () => {
  audio = await startScriptedServer();
  chat = await startChatServer();
});
afterEach(async () => {
  await audio.close();
  await chat.close();
});

describe('kai simulate against scripted servers', () => {
  it('runs a full turn: wake, listen, think, speak, with every latency recorded', async () => {
    const [first, second] = await Promise.all([ttsAudio('It is ten past two.'), ttsAudio('Anything else?')]);
    // (the recognizer is scripted: a question no local command answers, so the LLM does)
    audio.script('/audio/transcriptions', sttReply('how long until lunch'));
    audio.script('/audio/speech', { type: 'chunks', chunks: first.chunks, delayMs: 5 }, { type: 'chunks', chunks: second.chunks, delayMs: 5 });
    chat.enqueue(textReply(['It is ', 'ten past two. ', 'Anything ', 'else?']));
    const input = concat('sim-turn', [silence(1), phrase('hey jarvis', voice), silence(0.6), phrase('what time is it', voice), silence(1.5)]);
    const out = join(work, 'turn.wav');
    const before = audio.requests.length;

    const { events } = await simulate(input, serverConfig(audio, chat), { outPath: out });

    expect(statesOf(events)).toEqual(['idle', 'wake', 'listen', 'think', 'speak', 'idle']);
    expect(events.filter((e) => e.type === 'transcript' && !e.final).length).toBeGreaterThan(0);
    expect(events.find((e) => e.type === 'transcript' && e.final)).toMatchObject({ text: 'how long until lunch' });
    expect(events.find((e) => e.type === 'assistant')).toMatchObject({ text: 'It is ten past two. Anything else?' });
    const [turn] = turnsOf(events);
    expect(turn).toMatchObject({ turn: 1, interrupted: false, transcript: 'how long until lunch', heardText: 'It is ten past two. Anything else?' });
    for (const key of ['eouDelayMs', 'sttFinalMs', 'llmTtftMs', 'ttsTtfbMs', 'voiceToVoiceMs'] as const) {
      expect(turn![key], key).toBeGreaterThanOrEqual(0);
    }
    expect(turn!.wakeScore).toBeGreaterThan(0.5);
    // the utterance went up from its onset: about one second of audio, not the wake phrase
    const upload = audio.requests.slice(before).find((r) => r.path === '/audio/transcriptions');
    expect(upload!.files!.file!.wav!.durationMs).toBeGreaterThan(700);
    expect(upload!.files!.file!.wav!.durationMs).toBeLessThan(2200);
    expect(upload!.fields).toMatchObject({ model: 'whisper-test', stream: 'true' });
    // the LLM saw the system prompt and the question
    const messages = chat.requests.at(-1)!.messages as { role: string; content: string }[];
    expect(messages.map((m) => m.role)).toEqual(['system', 'user']);
    expect(messages[1]!.content).toBe('how long until lunch');
    // what it said is on the input's timeline: the wake earcon, then the reply after the question
    const spans = await audibleSpans(out);
    const speechEndMs = events.find((e) => e.type === 'transcript' && e.final)!.t;
    const reply = spans.filter((s) => s.startMs > speechEndMs - 600);
    const audibleMs = reply.reduce((sum, s) => sum + s.endMs - s.startMs, 0);
    expect(audibleMs).toBeGreaterThan((first.ms + second.ms) * 0.6);
    expect(spans[0]!.startMs).toBeLessThan(speechEndMs - 1000); // the earcon right after the wake word
  });

  it('stops at once when the user talks over it, and keeps only what was heard', async () => {
    const sentences = [
      'The build has three failing tests in the api package.',
      'The first one is a timeout in the health check.',
      'The second and third fail on a missing environment variable.',
    ];
    const clips = await Promise.all(sentences.map((s) => ttsAudio(s)));
    const short = await ttsAudio('Tomorrow looks clear.');
    audio.script('/audio/transcriptions', sttReply('what broke in the build'), sttReply('what about tomorrow'));
    audio.script('/audio/speech', ...clips.map((c) => ({ type: 'chunks' as const, chunks: c.chunks, delayMs: 5 })), { type: 'chunks', chunks: short.chunks });
    chat.enqueue(textReply(sentences.map((s) => `${s} `)), textReply(['Tomorrow looks clear.']));
    // the user interrupts about two seconds into the reply
    const input = concat('sim-barge', [
      silence(1),
      phrase('hey jarvis', voice),
      silence(0.6),
      phrase('what broke in the build', voice),
      silence(3),
      phrase('what about tomorrow', voice),
      silence(2),
    ]);
    const out = join(work, 'barge.wav');
    const { events } = await simulate(input, serverConfig(audio, chat), { outPath: out });

    const states = statesOf(events);
    expect(states.slice(0, 6)).toEqual(['idle', 'wake', 'listen', 'think', 'speak', 'listen']);
    expect(states.at(-1)).toBe('idle');
    const [first, second] = turnsOf(events);
    expect(first).toMatchObject({ turn: 1, interrupted: true });
    const full = sentences.join(' ');
    expect(first!.heardText.length).toBeGreaterThan(10);
    expect(full.startsWith(first!.heardText)).toBe(true);
    expect(first!.heardText.length).toBeLessThan(full.length * 0.8);
    expect(first!.bargeInStopMs).toBeGreaterThan(0);
    expect(first!.bargeInStopMs).toBeLessThan(800);
    expect(second).toMatchObject({ turn: 2, transcript: 'what about tomorrow', interrupted: false });
    // the next request holds the reply as heard, marked interrupted, not the full text
    const history = chat.requests.at(-1)!.messages as { role: string; content: string }[];
    expect(history.find((m) => m.role === 'assistant')!.content).toBe(`${first!.heardText} [interrupted by the user]`);
    // playback stopped soon after the interruption began
    const bargeAt = events.find((e, i) => e.type === 'state' && e.value === 'listen' && i > events.findIndex((x) => x.type === 'state' && x.value === 'speak'))!.t;
    const spans = await audibleSpans(out, 100);
    const playingAfter = spans.filter((s) => s.startMs < bargeAt && s.endMs > bargeAt + 150);
    expect(playingAfter).toEqual([]);
  });

  it('listens for an answer without the wake word after asking a question', async () => {
    const ask = await ttsAudio('Shall I run the tests?');
    const ok = await ttsAudio('Running them now.');
    audio.script('/audio/transcriptions', sttReply('are the tests green'), sttReply('yes please'));
    audio.script('/audio/speech', { type: 'chunks', chunks: ask.chunks }, { type: 'chunks', chunks: ok.chunks });
    chat.enqueue(textReply(['Shall I ', 'run the tests?']), textReply(['Running them now.']));
    const input = concat('sim-follow', [
      silence(1),
      phrase('hey jarvis', voice),
      silence(0.6),
      phrase('are the tests green', voice),
      silence(ask.ms / 1000 + 1.8),
      phrase('yes please', voice),
      silence(2),
    ]);
    const config = serverConfig(audio, chat, { conversation: { followUp: 'question' } });
    const { events } = await simulate(input, config);
    expect(statesOf(events)).toEqual(['idle', 'wake', 'listen', 'think', 'speak', 'followUp', 'listen', 'think', 'speak', 'idle']);
    const turns = turnsOf(events);
    expect(turns.map((t) => t.transcript)).toEqual(['are the tests green', 'yes please']);
    expect(turns[1]!.wakeScore).toBeNull();
  });

  it('takes a push-to-talk turn without a wake word, ending on release', async () => {
    const clip = await ttsAudio('It is ten past two.');
    audio.script('/audio/transcriptions', sttReply('how long until lunch'));
    audio.script('/audio/speech', { type: 'chunks', chunks: clip.chunks });
    chat.enqueue(textReply(['It is ten past two.']));
    const input = concat('sim-ptt', [silence(1.2), phrase('what time is it', voice), silence(0.4), phrase('please', voice), silence(2.5)]);
    const before = audio.requests.length;
    const { events } = await simulate(input, serverConfig(audio, chat), { ptt: [{ startMs: 800, stopMs: 3600 }] });
    expect(statesOf(events)).toEqual(['idle', 'wake', 'listen', 'think', 'speak', 'idle']);
    expect(events.some((e) => e.type === 'wake')).toBe(false);
    // held: the pause before "please" did not end the turn, the release did
    const upload = audio.requests.slice(before).find((r) => r.path === '/audio/transcriptions');
    expect(upload!.files!.file!.wav!.durationMs).toBeGreaterThan(1500);
    expect(turnsOf(events)[0]).toMatchObject({ transcript: 'how long until lunch', wakeScore: null });
  });
});

describe('kai simulate on the command line, offline', () => {
  it('runs a turn with the embedded engines and writes the events and the reply audio', async () => {
    const input = concat('cli-sim', [silence(1), phrase('hey jarvis', voice), silence(0.6), phrase('what time is it', voice), silence(1.5)]);
    const out = join(work, 'cli.wav');
    const eventsFile = join(work, 'cli.jsonl');
    const env = { KAI_MODELS_DIR: sharedModelsDir, XDG_CONFIG_HOME: join(work, 'no-config') };
    const result = await runKai(['simulate', input, '--out', out, '--events', eventsFile, '--speed', '2'], { env, timeoutMs: 60_000 });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const events = readJsonLines(eventsFile);
    expect(events[0]).toMatchObject({ t: 0, type: 'simulate', speed: 2, realTime: false });
    for (const e of events) expect(typeof e.t).toBe('number');
    expect(events.filter((e) => e.type === 'state').map((e) => e.value)).toEqual(['idle', 'wake', 'listen', 'think', 'speak', 'idle']);
    expect(events.find((e) => e.type === 'transcript' && e.final)).toMatchObject({ text: 'what time is it' });
    expect(String(events.find((e) => e.type === 'assistant')?.text)).toMatch(/^It's \d{1,2}:\d\d [AP]M\b/);
    const turn = events.find((e) => e.type === 'turn')!;
    for (const key of ['eouDelayMs', 'sttFinalMs', 'llmTtftMs', 'ttsTtfbMs', 'voiceToVoiceMs', 'bargeInStopMs', 'interrupted', 'heardText']) expect(turn).toHaveProperty(key);
    expect((await audibleSpans(out)).length).toBeGreaterThanOrEqual(2); // the earcon, then the reply
  });

  it('rejects a bad --speed or --ptt in one line', async () => {
    const input = concat('cli-sim-bad', [silence(0.5)]);
    const speed = await runKai(['simulate', input, '--speed', 'fast']);
    expect(speed.code).toBe(2);
    expect(speed.stderr).toMatch(/--speed must be a number/);
    const ptt = await runKai(['simulate', input, '--ptt', '3000-1000']);
    expect(ptt.code).toBe(2);
    expect(ptt.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('kai simulate with a delegated coding job', () => {
  it('hands the task to the job queue and says when it is done, at the next quiet moment', async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'kai-sim-job-'));
    const ok = await ttsAudio('I handed it to the coding agent.');
    audio.script('/audio/transcriptions', sttReply('add a health endpoint to the server'));
    // the reply, then the announcement (any text: the TTS server answers every sentence with this clip)
    audio.script('/audio/speech', { type: 'chunks', chunks: ok.chunks });
    chat.enqueue(
      {
        type: 'stream',
        steps: [
          { type: 'tool', index: 0, id: 'd1', name: 'delegate_coding_task', arguments: '{"task":"add a health endpoint to the server"}' },
          { type: 'finish', reason: 'tool_calls' },
        ],
      },
      textReply(['I handed it to the coding agent.']),
    );
    const input = concat('sim-job', [silence(1), phrase('hey jarvis', voice), silence(0.6), phrase('add a health endpoint', voice), silence(6)]);
    const config = serverConfig(audio, chat, {
      agent: { workspace, mode: 'auto-edit', auditLog: join(work, 'job-audit.jsonl') },
      // a coding "agent" that takes a moment and reports one line
      jobs: { backend: 'command', command: `node -e "setTimeout(() => console.log('Added GET /health.'), 300)"`, dir: join(work, 'jobs') },
    });
    const { events } = await simulate(input, config, { cwd: workspace, speed: 2 });
    expect(events.find((e) => e.type === 'tool_call')).toMatchObject({ name: 'delegate_coding_task' });
    const said = events.flatMap((e) => (e.type === 'assistant' ? [e.text] : []));
    expect(said[0]).toBe('I handed it to the coding agent.');
    // the announcement came as its own reply once the assistant was idle again
    expect(said[1]).toMatch(/^The coding job "add a health endpoint to the server" is done\. .*Added GET \/health\.$/);
    const states = statesOf(events);
    expect(states.slice(0, 6)).toEqual(['idle', 'wake', 'listen', 'think', 'speak', 'idle']);
    expect(states.slice(6)).toEqual(['think', 'speak', 'idle']);
    // the announcement is a turn of its own, not the user's
    expect(turnsOf(events).map((t) => t.transcript)).toEqual(['add a health endpoint to the server', '']);
  });
});
