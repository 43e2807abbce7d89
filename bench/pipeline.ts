/**
 * npm run bench:pipeline — what the pipeline itself adds to a turn, against scripted servers with
 * fixed latencies, at real time (speed 1): voice-to-voice overhead, barge-in stop, and time to
 * first audio for a long reply vs a short one. Each simulated input runs in a fresh child process,
 * one after another (the servers run in that child too, on loopback).
 *
 * BENCH_TURNS=N (default 10) measured turns per input, BENCH_ONLY=plain-1,ttfa-2 runs only those
 * inputs (either leaves bench/RESULTS.md alone), BENCH_DUMP=file.json keeps the raw per-turn results.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { AssistantEvent, TurnRecord } from '../src/app/events.js';
import { runSimulation } from '../src/app/simulate.js';
import { readWav } from '../src/audio/wav.js';
import { startChatServer, type ChatReply, type ChatStep } from '../tests/helpers/chat-server.js';
import { phrase, sharedModelsDir, synth, type Voice } from '../tests/helpers/fixtures.js';
import { splitBytes, startScriptedServer, type Behaviour } from '../tests/helpers/openai-server.js';
import { serverConfig, ttsAudio } from '../tests/helpers/simulation.js';
import { median, percentile, writeSection } from './results.js';

/** The scripted servers' fixed latencies (ms): what the overhead subtracts. */
const LATENCY = { stt: 100, llm: 150, tts: 80 } as const;
const CONFIGURED_MS = LATENCY.stt + LATENCY.llm + LATENCY.tts;
/** Delay between the LLM's word deltas in the time-to-first-audio turns (≈ 50 tokens/s). */
const TOKEN_MS = 20;
const TARGETS = { overheadMedian: 30, overheadP95: 60, bargeClearP95: 150 };
/** Turns per simulated input (BENCH_TURNS=2 for a quick smoke run). */
const TURNS = Math.max(1, Number(process.env.BENCH_TURNS ?? 10));
const modelsDir = process.env.KAI_MODELS_DIR ?? sharedModelsDir;
const RATE = 16_000;
/** Event-loop stalls longer than this are recorded with their time. */
const STALL_MS = 20;

/** The assistant's own voice (what the scripted TTS server sends back). */
const assistantVoice: Voice = { engine: 'espeak', voice: 'en-us+f3' };

type Kind = 'plain' | 'barge' | 'ttfa';

interface Scenario {
  name: string;
  kind: Kind;
  voice: Voice;
  /**
   * mixed: "hey jarvis" before every other question, a push-to-talk press around the others;
   * follow: "hey jarvis" only before the first question, then answers in the follow-up window.
   */
  start: 'mixed' | 'follow';
}

const scenarios: Scenario[] = [
  { name: 'plain-1', kind: 'plain', voice: { engine: 'flite', voice: 'rms' }, start: 'mixed' },
  { name: 'plain-2', kind: 'plain', voice: { engine: 'espeak', voice: 'en-us' }, start: 'follow' },
  { name: 'plain-3', kind: 'plain', voice: { engine: 'flite', voice: 'slt' }, start: 'follow' },
  { name: 'plain-4', kind: 'plain', voice: { engine: 'espeak', voice: 'en-gb' }, start: 'follow' },
  { name: 'plain-5', kind: 'plain', voice: { engine: 'flite', voice: 'kal16' }, start: 'follow' },
  { name: 'barge-1', kind: 'barge', voice: { engine: 'flite', voice: 'rms' }, start: 'follow' },
  { name: 'barge-2', kind: 'barge', voice: { engine: 'espeak', voice: 'en-us' }, start: 'follow' },
  { name: 'ttfa-1', kind: 'ttfa', voice: { engine: 'flite', voice: 'slt' }, start: 'follow' },
  { name: 'ttfa-2', kind: 'ttfa', voice: { engine: 'espeak', voice: 'en-gb' }, start: 'follow' },
];

/** Questions for the LLM: none of them is a local intent (those are answered without the LLM). */
const questions = [
  'summarize the issue',
  'explain this error',
  'is the build green',
  'open the readme',
  'any news',
  'read my mail',
  'start a timer',
  'who wrote this',
  'check the weather',
  'what is next',
];

/** Short replies for the overhead turns (one or two sentences). */
const plainReplies = [
  'All tests passed.',
  'It is ten past two.',
  'Yes, the build is green.',
  'Done. I opened it.',
  'Three files changed.',
  'You have no new messages.',
  'Sure. The timer is running.',
  'Alice wrote it.',
  'It is sunny.',
  'Next is the review.',
];

/** The long reply the user talks over (zero-delay deltas). */
const longReply = [
  'The build has three failing tests in the api package.',
  'The first one is a timeout in the health check.',
  'The second and third fail on a missing environment variable.',
];

/** Push-to-talk: pressed this long before the question, released this long after it. */
const PTT_LEAD_MS = 300;
const PTT_RELEASE_MS = 700;

/** Time to first audio: the five-sentence reply, and the one-sentence reply that is its first sentence. */
const fiveSentences = [
  'The build passed on the main branch.',
  'Two tests were skipped in the api package.',
  'Coverage went up by one percent.',
  'The slowest test took four seconds.',
  'Nothing else needs your attention.',
];
const oneSentence = [fiveSentences[0]!];
/** Every time-to-first-audio sentence is spoken with a short clip of this: only the first audio matters there. */
const TTFA_CLIP = 'Okay.';
const TTFA_CLIP_MS = 100;
/** The plain turns' replies are cut to this much audio (the overhead ends at the first audio). */
const PLAIN_CLIP_MS = 250;
/** TTS bodies are sent in pieces of this many bytes: 100 ms of 24 kHz s16le. */
const TTS_CHUNK_BYTES = 4800;

// ---------------------------------------------------------------------------------------------
// Child: one simulated input
// ---------------------------------------------------------------------------------------------

interface PlannedTurn {
  question: string;
  /** Where the question is on the input's timeline (ms). */
  startMs: number;
  endMs: number;
  /** What the turn is for: a plain turn, a reply the next question interrupts, a five- or one-sentence reply. */
  expect: 'warmup' | 'plain' | 'interrupted' | 'last' | 'five' | 'one';
}

type ServerKind = 'stt' | 'llm' | 'tts';

interface ChildResult {
  scenario: string;
  kind: Kind;
  wallMs: number;
  inputMs: number;
  plan: PlannedTurn[];
  records: (TurnRecord & { t: number })[];
  states: { value: string; t: number }[];
  errors: string[];
  /** Server side: request received (headers) → first body byte written, per request. */
  server: Record<ServerKind, number[]>;
  unexpectedTts: string[];
  /** Garbage-collection pauses of 5 ms or more, on the input's timeline. */
  gc: { atMs: number; ms: number; kind: string }[];
  /** Event-loop stalls over STALL_MS (beyond a 10 ms tick), with the CPU time the process used meanwhile. */
  stalls: { atMs: number; ms: number; cpuMs: number }[];
  /** Event-loop delay over the simulation (monitorEventLoopDelay, 5 ms resolution). */
  loopDelayMs: { p99: number; max: number };
  /** CPU time the child used (ms). */
  cpuMs: number;
  /** Cores other processes kept busy on average while the child ran (set by the parent; Linux only). */
  otherCores?: number;
  /** CPU the hypervisor took from this (virtual) machine meanwhile, in cores (Linux only). */
  stealCores?: number;
  /** Wall time of the whole child process (set by the parent). */
  processMs?: number;
}

/**
 * Times the scripted servers from inside: request headers received → first body byte written.
 * The servers run in this process on node:http, the clients on fetch (undici), so patching
 * node:http's server classes only sees the servers.
 */
function instrumentServers(): Record<ServerKind, number[]> {
  const timings: Record<ServerKind, number[]> = { stt: [], llm: [], tts: [] };
  const open = new WeakMap<object, { kind: ServerKind; t0: number; stamped: boolean }>();
  const kindOf = (url: string | undefined): ServerKind | undefined =>
    url?.includes('/audio/transcriptions') ? 'stt' : url?.includes('/audio/speech') ? 'tts' : url?.includes('/chat/completions') ? 'llm' : undefined;

  const proto = http.Server.prototype as unknown as { emit: (event: string | symbol, ...args: unknown[]) => boolean };
  const emit = proto.emit;
  proto.emit = function (this: unknown, event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'request') {
      const [req, res] = args as [http.IncomingMessage, http.ServerResponse];
      const kind = kindOf(req.url);
      if (kind) open.set(res, { kind, t0: performance.now(), stamped: false });
    }
    return emit.call(this, event, ...args);
  };
  const res = http.ServerResponse.prototype as unknown as Record<'write' | 'end', (chunk?: unknown, ...rest: unknown[]) => unknown>;
  for (const method of ['write', 'end'] as const) {
    const original = res[method];
    res[method] = function (this: object, chunk?: unknown, ...rest: unknown[]): unknown {
      const entry = open.get(this);
      const size = typeof chunk === 'string' ? chunk.length : chunk instanceof Uint8Array ? chunk.length : 0;
      if (entry && !entry.stamped && size > 0) {
        entry.stamped = true;
        timings[entry.kind].push(performance.now() - entry.t0);
      }
      return original.call(this, chunk, ...rest);
    };
  }
  return timings;
}

interface Clip {
  chunks: Buffer[];
  ms: number;
}

/** The assistant saying `text` (24 kHz pcm), at most `maxMs` of it, in 100 ms pieces. */
async function clipOf(text: string, maxMs = Number.POSITIVE_INFINITY): Promise<Clip> {
  const pcm = Buffer.concat((await ttsAudio(text, assistantVoice)).chunks);
  const bytes = Number.isFinite(maxMs) ? Math.min(pcm.length, Math.round(maxMs * 48) & ~1) : pcm.length;
  return { chunks: splitBytes(pcm.subarray(0, bytes), [TTS_CHUNK_BYTES]), ms: bytes / 48 };
}

function gcKind(kind: number | undefined): string {
  return kind === constants.NODE_PERFORMANCE_GC_MAJOR ? 'major' : kind === constants.NODE_PERFORMANCE_GC_MINOR ? 'minor' : kind === constants.NODE_PERFORMANCE_GC_INCREMENTAL ? 'incremental' : 'other';
}

async function samplesOf(path: string): Promise<Int16Array> {
  return (await readWav(path)).samples;
}

const msToSamples = (ms: number) => Math.round((ms * RATE) / 1000);
const samplesToMs = (n: number) => (n * 1000) / RATE;

/** The words of `text` as deltas ("The ", "build ", …), the first after `firstChunkDelayMs`, then `gapMs` apart. */
function wordReply(sentences: string[], gapMs: number): ChatReply {
  const words = sentences.join(' ').split(' ');
  const steps: ChatStep[] = words.map((w, i) => ({ type: 'text', text: i < words.length - 1 ? `${w} ` : w, delayMs: i === 0 ? 0 : gapMs }));
  steps.push({ type: 'finish', reason: 'stop' });
  return { type: 'stream', steps, firstChunkDelayMs: LATENCY.llm };
}

function sttReply(text: string): Behaviour {
  const words = text.split(' ');
  return {
    type: 'sse',
    events: [
      { type: 'transcript.text.delta', delta: words.slice(0, 2).join(' ') },
      { type: 'transcript.text.delta', delta: ` ${words.slice(2).join(' ')}` },
      { type: 'transcript.text.done', text },
    ],
    done: true,
    latencyMs: LATENCY.stt,
  };
}

/** Everything synthesized for a scenario (cached on disk by the fixtures helpers). */
function prepare(s: Scenario): void {
  phrase('hey jarvis', s.voice);
  for (const q of questions) phrase(q, s.voice);
  for (const text of [...plainReplies.flatMap(splitSentences), ...longReply, TTFA_CLIP]) synth(text, assistantVoice);
}

function splitSentences(text: string): string[] {
  return text.match(/[^.!?]+[.!?]+/g)?.map((s) => s.trim()) ?? [text];
}

async function runChild(name: string): Promise<ChildResult> {
  const scenario = scenarios.find((s) => s.name === name);
  if (!scenario) throw new Error(`unknown scenario ${name}`);
  const server = instrumentServers();
  const { kind, voice } = scenario;

  // The TTS server answers each sentence with its pre-synthesized audio, whatever the order.
  const clips = new Map<string, Clip>();
  for (const text of plainReplies.flatMap(splitSentences)) clips.set(text, await clipOf(text, PLAIN_CLIP_MS));
  for (const text of longReply) clips.set(text, await clipOf(text));
  const clip = await clipOf(TTFA_CLIP, TTFA_CLIP_MS);
  const unexpectedTts: string[] = [];

  // The input: questions (and wake phrases) with silences long enough for each reply.
  const wake = await samplesOf(phrase('hey jarvis', voice));
  const parts: Int16Array[] = [];
  let atMs = 0;
  const push = (samples: Int16Array) => {
    parts.push(samples);
    atMs += samplesToMs(samples.length);
  };
  const pause = (ms: number) => push(new Int16Array(msToSamples(ms)));
  const plan: PlannedTurn[] = [];
  const sttQueue: Behaviour[] = [];
  const ptt: { startMs: number; stopMs: number }[] = [];
  const chatQueue: ChatReply[] = [];
  /** End of utterance (VAD silence + slack) + the configured latencies + room for the pipeline. */
  const replyStartMs = 550 + CONFIGURED_MS + 150;
  /** After the reply has played; the first (cold) turn gets more, as its reply starts later. */
  const margin = (i: number) => (i === 0 ? 850 : 250);
  const plainReply = (i: number) => {
    const reply = plainReplies[i % plainReplies.length]!;
    chatQueue.push(wordReply([reply], 0));
    return splitSentences(reply).reduce((sum, s) => sum + clips.get(s)!.ms, 0);
  };
  // The first question of every input is a warm-up turn (reported apart: the first turn after start).
  const count = TURNS + 1;
  for (let i = 0; i < count; i++) {
    const question = questions[i % questions.length]!;
    const byPtt = scenario.start === 'mixed' && i % 2 === 1;
    if (i === 0 || (scenario.start === 'mixed' && !byPtt)) {
      pause(i === 0 ? 1000 : 800);
      push(wake);
      pause(600);
    } else if (byPtt) {
      pause(PTT_LEAD_MS + 200);
    }
    const samples = await samplesOf(phrase(question, voice));
    const startMs = atMs;
    push(samples);
    if (byPtt) ptt.push({ startMs: startMs - PTT_LEAD_MS, stopMs: atMs + PTT_RELEASE_MS });
    /** The turn ends later when the press is held past the end of speech. */
    const endOfTurnExtra = byPtt ? PTT_RELEASE_MS - 500 : 0;
    sttQueue.push(sttReply(question));
    const last = i === count - 1;
    if (kind === 'plain' || (kind === 'ttfa' && i === 0) || (kind === 'barge' && last)) {
      const audioMs = plainReply(i);
      plan.push({ question, startMs, endMs: atMs, expect: i === 0 ? 'warmup' : kind === 'plain' ? 'plain' : 'last' });
      pause(replyStartMs + endOfTurnExtra + audioMs + margin(i));
    } else if (kind === 'barge') {
      chatQueue.push(wordReply(longReply, 0));
      plan.push({ question, startMs, endMs: atMs, expect: 'interrupted' });
      // the next question starts about 0.5–1 s into the reply
      pause(replyStartMs + 500 + ((i * 170) % 500));
    } else {
      const five = i % 2 === 1;
      const sentences = five ? fiveSentences : oneSentence;
      chatQueue.push(wordReply(sentences, TOKEN_MS));
      plan.push({ question, startMs, endMs: atMs, expect: five ? 'five' : 'one' });
      // the last sentence is complete after llmMs, then needs its own TTS request and clip
      const llmMs = sentences.join(' ').split(' ').length * TOKEN_MS;
      pause(replyStartMs + llmMs + clip.ms + (five ? LATENCY.tts + 50 : 0) + margin(i));
    }
  }
  pause(500);
  const input = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((off, p) => (input.set(p, off), off + p.length), 0);

  const audio = await startScriptedServer();
  const chat = await startChatServer();
  const work = mkdtempSync(join(tmpdir(), 'kai-bench-'));
  try {
    audio.script('/audio/transcriptions', ...sttQueue);
    audio.script('/audio/speech', (req) => {
      const text = String((req.json as { input?: unknown } | undefined)?.input ?? '');
      const found = clips.get(text) ?? (fiveSentences.includes(text) ? clip : undefined);
      if (!found) unexpectedTts.push(text);
      return { type: 'chunks', chunks: (found ?? clip).chunks, latencyMs: LATENCY.tts };
    });
    chat.enqueue(...chatQueue);
    // Tools are confined to an empty workspace, read-only, and their state stays in it.
    const config = serverConfig(audio, chat, {
      conversation: { followUp: scenario.start === 'follow' ? 'always' : 'off', followUpMs: 2000, earcons: true },
      agent: { workspace: work, mode: 'read-only', allow: [], auditLog: join(work, 'audit.jsonl') },
      jobs: { dir: join(work, 'jobs') },
    });

    const records: ChildResult['records'] = [];
    const states: ChildResult['states'] = [];
    const errors: string[] = [];
    // Garbage-collection pauses and event-loop delay once the assistant runs (not while models load),
    // to tell the pipeline's own stalls from the rest.
    let clockToStream: number | undefined;
    const gc: ChildResult['gc'] = [];
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        if (entry.duration >= 5 && clockToStream !== undefined) gc.push({ atMs: Math.round(entry.startTime - clockToStream), ms: entry.duration, kind: gcKind((entry as { detail?: { kind?: number } }).detail?.kind) });
      }
    });
    observer.observe({ entryTypes: ['gc'] });
    const loop = monitorEventLoopDelay({ resolution: 5 });
    // Event-loop stalls with their time, and the CPU the process used meanwhile (busy vs starved).
    const stalls: ChildResult['stalls'] = [];
    let lastTick = performance.now();
    let lastCpu = process.cpuUsage();
    const ticker = setInterval(() => {
      const now = performance.now();
      if (now - lastTick > STALL_MS + 10 && clockToStream !== undefined) {
        const cpu = process.cpuUsage(lastCpu);
        stalls.push({ atMs: Math.round(lastTick - clockToStream), ms: now - lastTick - 10, cpuMs: (cpu.user + cpu.system) / 1000 });
      }
      lastTick = now;
      lastCpu = process.cpuUsage();
    }, 10);
    const t0 = performance.now();
    await runSimulation({
      config,
      modelsDir,
      cwd: work,
      input,
      ptt,
      speed: 1,
      signal: new AbortController().signal,
      emit: (event: AssistantEvent, at: number) => {
        if (clockToStream === undefined) loop.enable();
        clockToStream = performance.now() - at;
        const t = Math.round(at);
        if (event.type === 'turn') records.push({ ...event, t });
        else if (event.type === 'state') states.push({ value: event.value, t });
        else if (event.type === 'error') errors.push(`${event.source}: ${event.message} (at ${t} ms)`);
      },
    });
    loop.disable();
    observer.disconnect();
    clearInterval(ticker);
    return {
      scenario: name,
      kind,
      gc,
      stalls,
      loopDelayMs: { p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
      wallMs: performance.now() - t0,
      inputMs: samplesToMs(input.length),
      plan,
      records,
      states,
      errors,
      server,
      unexpectedTts,
      cpuMs: (process.cpuUsage().user + process.cpuUsage().system) / 1000,
    };
  } finally {
    await audio.close();
    await chat.close();
    rmSync(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Parent: runs the children, one after another, and writes the section
// ---------------------------------------------------------------------------------------------

/**
 * CPU time all processes have used so far and CPU time the hypervisor took from this machine
 * (steal), in ms, from /proc/stat; undefined elsewhere.
 */
function cpuStat(): { busyMs: number; stealMs: number } | undefined {
  try {
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    return { busyMs: (user + nice + system + irq + softirq) * 10, stealMs: steal * 10 }; // USER_HZ = 100
  } catch {
    return undefined;
  }
}

function child(name: string): ChildResult {
  const started = performance.now();
  const before = cpuStat();
  const out = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', name], {
    encoding: 'utf8',
    env: { ...process.env, KAI_MODELS_DIR: modelsDir },
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (out.status !== 0) throw new Error(`child ${name} exited with ${out.status ?? out.signal}`);
  const result = JSON.parse(out.stdout.trim().split('\n').pop()!) as ChildResult;
  const after = cpuStat();
  result.processMs = performance.now() - started;
  if (before && after) {
    result.otherCores = Math.max(0, after.busyMs - before.busyMs - result.cpuMs) / result.processMs;
    result.stealCores = (after.stealMs - before.stealMs) / result.processMs;
  }
  process.stderr.write(`${name}: ${result.records.length} turn records in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  return result;
}

/** "the worst", "the third-worst"… turn. */
const worstRank = (n: number) => (n <= 1 ? 'the worst' : `the ${n === 2 ? 'second' : n === 3 ? 'third' : `${n}th`}-worst`);
const fmt = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '—' : v.toFixed(0));
const med = (xs: number[]) => (xs.length ? median(xs) : Number.NaN);
const p95 = (xs: number[]) => (xs.length ? percentile(xs, 95) : Number.NaN);
const ok = (pass: boolean) => (pass ? '✅' : '❌');
const nums = (xs: (number | null | undefined)[]) => xs.filter((x): x is number => typeof x === 'number');

type Rec = TurnRecord & { t: number; scenario: string };

/** A turn's first moment of reply audio on the input timeline: the first 'speak' state after its question ended. */
function speakAfter(result: ChildResult, fromMs: number, beforeMs: number): number | undefined {
  return result.states.find((s) => s.value === 'speak' && s.t > fromMs && s.t < beforeMs)?.t;
}

/** The barge-in decision on the input timeline: the first speak → listen change after the interrupting question began. */
function bargeAfter(result: ChildResult, fromMs: number): number | undefined {
  for (let i = 1; i < result.states.length; i++) {
    const s = result.states[i]!;
    if (s.t >= fromMs && s.value === 'listen' && result.states[i - 1]!.value === 'speak') return s.t;
  }
  return undefined;
}

function section(results: ChildResult[], wallMs: number): string {
  const problems: string[] = [];
  const all: Rec[] = results.flatMap((r) => r.records.map((rec) => ({ ...rec, scenario: r.scenario })));
  for (const r of results) {
    if (r.records.length !== r.plan.length) problems.push(`${r.scenario}: ${r.plan.length} questions spoken, ${r.records.length} turn records`);
    for (const e of r.errors) problems.push(`${r.scenario}: error event — ${e}`);
    if (r.unexpectedTts.length) problems.push(`${r.scenario}: TTS asked for unscripted text: ${r.unexpectedTts.map((t) => JSON.stringify(t)).join(', ')}`);
    for (const rec of r.records) if (rec.errors.length) problems.push(`${r.scenario} turn ${rec.turn}: errors ${rec.errors.join('; ')}`);
  }
  const missing = (rec: Rec, fields: (keyof TurnRecord)[]) => {
    const gone = fields.filter((f) => rec[f] === null);
    if (gone.length) problems.push(`${rec.scenario} turn ${rec.turn} ("${rec.transcript}"): no ${gone.join(', ')}`);
    return gone.length === 0;
  };
  const latencyFields: (keyof TurnRecord)[] = ['eouDelayMs', 'sttFinalMs', 'llmTtftMs', 'ttsTtfbMs', 'voiceToVoiceMs'];
  const kindOf = (rec: Rec) => results.find((r) => r.scenario === rec.scenario)!.kind;
  const overheadOf = (rec: TurnRecord) => rec.voiceToVoiceMs! - rec.eouDelayMs! - CONFIGURED_MS;
  const excess = (recs: TurnRecord[], field: 'sttFinalMs' | 'llmTtftMs' | 'ttsTtfbMs', configured: number) => med(nums(recs.map((r) => r[field]))) - configured;

  // Overhead: the plain turns after the first (warm-up) turn of each process.
  const plain = all.filter((rec) => kindOf(rec) === 'plain' && rec.turn > 1);
  for (const rec of plain) if (rec.interrupted) problems.push(`${rec.scenario} turn ${rec.turn}: a plain turn was interrupted`);
  const plainOk = plain.filter((rec) => missing(rec, latencyFields) && !rec.interrupted);
  const overhead = plainOk.map(overheadOf);
  const stt = nums(plainOk.map((r) => r.sttFinalMs));
  const llm = nums(plainOk.map((r) => r.llmTtftMs));
  const tts = nums(plainOk.map((r) => r.ttsTtfbMs));
  const handoffs = plainOk.map((r) => r.voiceToVoiceMs! - r.eouDelayMs! - r.sttFinalMs! - r.llmTtftMs! - r.ttsTtfbMs!);
  const plainCount = results.reduce((n, r) => n + r.plan.filter((p) => p.expect === 'plain').length, 0);
  const worst = [...plainOk].sort((a, b) => overheadOf(b) - overheadOf(a)).slice(0, 3);
  /** GC pause time between a turn's end and its first audio (the span the overhead covers). */
  const gcIn = (rec: Rec) => {
    const r = results.find((x) => x.scenario === rec.scenario)!;
    const speak = r.states.filter((st) => st.value === 'speak' && st.t <= rec.t).at(-1);
    if (!speak || rec.voiceToVoiceMs === null || rec.eouDelayMs === null) return 0;
    const from = speak.t - (rec.voiceToVoiceMs - rec.eouDelayMs) - 5;
    return r.gc.filter((g) => g.atMs + g.ms >= from && g.atMs <= speak.t + 5).reduce((sum, g) => sum + g.ms, 0);
  };
  const stallsIn = (rec: Rec) => {
    const r = results.find((x) => x.scenario === rec.scenario)!;
    const speak = r.states.filter((st) => st.value === 'speak' && st.t <= rec.t).at(-1);
    if (!speak || rec.voiceToVoiceMs === null || rec.eouDelayMs === null) return { ms: 0, cpuMs: 0 };
    const from = speak.t - (rec.voiceToVoiceMs - rec.eouDelayMs) - 5;
    const inside = r.stalls.filter((g) => g.atMs + g.ms >= from && g.atMs <= speak.t + 5);
    return { ms: inside.reduce((sum, g) => sum + g.ms, 0), cpuMs: inside.reduce((sum, g) => sum + g.cpuMs, 0) };
  };
  const gcAll = results.flatMap((r) => r.gc);
  const stallAll = results.flatMap((r) => r.stalls);
  const gcTurns = plainOk.filter((r) => gcIn(r) > 0);

  // The first turn of each process (cold: first connections, first run of every code path).
  const cold = all.filter((rec) => rec.turn === 1 && kindOf(rec) !== 'ttfa' && missing(rec, latencyFields));
  const coldOverhead = cold.map(overheadOf);

  // Independent check of voice-to-voice: the question's real end in the input → the speak state.
  const trueV2v: number[] = [];
  for (const r of results) {
    r.plan.forEach((p, i) => {
      if (p.expect !== 'plain') return;
      const t = speakAfter(r, p.endMs, r.plan[i + 1]?.startMs ?? Number.POSITIVE_INFINITY);
      if (t !== undefined) trueV2v.push(t - p.endMs);
    });
  }

  // Barge-in.
  const bargeResults = results.filter((r) => r.kind === 'barge');
  const barge = all.filter((rec) => kindOf(rec) === 'barge');
  const interrupted = barge.filter((rec) => rec.interrupted);
  const bargeExpected = bargeResults.reduce((n, r) => n + r.plan.filter((p) => p.expect === 'interrupted').length, 0);
  if (interrupted.length !== bargeExpected) problems.push(`barge-in: ${bargeExpected} interruptions spoken, ${interrupted.length} turns recorded as interrupted`);
  const bargeOk = interrupted.filter((rec) => missing(rec, ['bargeInClearMs', 'bargeInStopMs']));
  const clear = nums(bargeOk.map((r) => r.bargeInClearMs));
  const stop = nums(bargeOk.map((r) => r.bargeInStopMs));
  const trueStop: number[] = [];
  for (const r of bargeResults) {
    r.plan.forEach((p, i) => {
      const next = r.plan[i + 1];
      if (p.expect !== 'interrupted' || !next) return;
      const t = bargeAfter(r, next.startMs);
      if (t !== undefined) trueStop.push(t - next.startMs);
    });
  }
  const bargeOverhead = barge.filter((rec) => rec.turn > 1 && missing(rec, latencyFields)).map(overheadOf);

  // Time to first audio.
  const ttfa = all.filter((rec) => kindOf(rec) === 'ttfa' && rec.turn > 1);
  const fiveText = fiveSentences.join(' ');
  const five = ttfa.filter((rec) => rec.heardText === fiveText);
  const one = ttfa.filter((rec) => rec.heardText === oneSentence[0]);
  for (const rec of ttfa) {
    if (rec.heardText !== fiveText && rec.heardText !== oneSentence[0]) problems.push(`${rec.scenario} turn ${rec.turn}: unexpected reply "${rec.heardText}"${rec.interrupted ? ' (interrupted)' : ''}`);
  }
  const fiveV = nums(five.filter((r) => missing(r, ['voiceToVoiceMs'])).map((r) => r.voiceToVoiceMs));
  const oneV = nums(one.filter((r) => missing(r, ['voiceToVoiceMs'])).map((r) => r.voiceToVoiceMs));
  const fiveE = nums(five.map((r) => r.eouDelayMs));
  const oneE = nums(one.map((r) => r.eouDelayMs));
  const diff = med(fiveV) - med(oneV);

  // Server side.
  const server = (kind: ServerKind) => results.flatMap((r) => r.server[kind]);
  const serverExcess = (kind: ServerKind, configured: number) => med(server(kind)) - configured;
  const serverRow = (label: string, kind: ServerKind, configured: number, client: number[]) => {
    const xs = server(kind);
    const f = (v: number) => (xs.length ? v.toFixed(1) : '—');
    return `| ${label} | ${configured} | ${xs.length} | ${f(med(xs))} | ${f(p95(xs))} | ${f(Math.max(...xs))} | ${fmt(med(client))} |`;
  };

  const row = (label: string, xs: number[], target = '—') => `| ${label} | ${xs.length} | ${fmt(med(xs))} | ${fmt(p95(xs))} | ${target} |`;
  const oMed = med(overhead);
  const oP95 = p95(overhead);
  const cP95 = p95(clear);
  const inputSeconds = results.reduce((s, r) => s + r.inputMs, 0) / 1000;
  const others = nums(results.map((r) => r.otherCores));
  const steal = nums(results.map((r) => r.stealCores));
  const ownCores = results.reduce((n, r) => n + r.cpuMs, 0) / results.reduce((n, r) => n + (r.processMs ?? r.wallMs), 0);
  const e1 = (v: number) => (Number.isNaN(v) ? '—' : `${v >= 0 ? '+' : ''}${v.toFixed(0)}`);
  const words = (text: string) => text.split(' ').length;

  return `## Pipeline latency (\`npm run bench:pipeline\`)

Measured ${new Date().toISOString().slice(0, 10)} on ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node ${process.version}: ${results.length} simulated inputs (${inputSeconds.toFixed(0)} s of audio, ${all.length} turns) run one after another, each in a fresh process, at speed 1 (real time); the whole run took ${(wallMs / 1000).toFixed(0)} s. The simulation used ${ownCores.toFixed(2)} cores on average; other processes on this shared machine kept ${others.length ? `${Math.min(...others).toFixed(2)}–${Math.max(...others).toFixed(2)} cores busy during the inputs (${results.map((r) => `${r.scenario} ${r.otherCores?.toFixed(2) ?? '?'}`).join(', ')})` : 'an unknown share busy (no /proc/stat)'}${steal.length ? `, and the host took ${Math.min(...steal).toFixed(2)}–${Math.max(...steal).toFixed(2)} of this VM's ${cpus().length} cores (steal; ${results.map((r) => `${r.scenario} ${r.stealCores?.toFixed(2) ?? '?'}`).join(', ')})` : ''}.

**Method.** \`runSimulation\` — the real machine and actors, openWakeWord + Silero VAD, the paced virtual speaker — with a synthesized WAV as the microphone, against scripted loopback servers in the same process with fixed latencies:
STT \`/audio/transcriptions\` **streaming** (\`stream=true\`: the WAV is uploaded at the end of the turn, the SSE answer — two deltas and \`transcript.text.done\` — starts ${LATENCY.stt} ms after the upload was read);
LLM \`/chat/completions\` streaming, first delta ${LATENCY.llm} ms after the request (headers at once);
TTS \`/audio/speech\`, 24 kHz pcm, first byte ${LATENCY.tts} ms after the request, then the rest at once in 100 ms pieces.
Questions in 5 voices (espeak-ng en-us/en-gb, flite rms/slt/kal16); one input alternates "hey jarvis" + question and push-to-talk presses (pressed ${PTT_LEAD_MS} ms before the question, released ${PTT_RELEASE_MS} ms after it: the release ends the turn), the others say "hey jarvis" before their first question only and then answer in the follow-up window. Every input's first question is a warm-up turn, reported on its own row and left out of the others.
- **Overhead** per turn = \`voiceToVoiceMs − eouDelayMs − ${CONFIGURED_MS}\`, i.e. end of turn → first reply audio written to the speaker minus the configured ${LATENCY.stt} + ${LATENCY.llm} + ${LATENCY.tts} ms; it does not depend on where the VAD puts the end of speech. Plain turns: one- or two-sentence replies, every delta at once (no generation time), each sentence's audio cut to ${PLAIN_CLIP_MS} ms (only the first audio counts).
- **Barge-in**: the next question starts 0.5–1 s into a three-sentence reply (its full synthesized audio, about 9 s); \`bargeInClearMs\` = barge-in decision (the barge-in VAD confirmed ${'≥'} 200 ms of speech) → playback cleared; \`bargeInStopMs\` = the VAD's (padded) speech onset → playback cleared.
- **Time to first audio**: the same inputs alternate a five-sentence reply (${words(fiveText)} words) and a one-sentence reply (its first sentence, ${words(oneSentence[0]!)} words), both streamed a word every ${TOKEN_MS} ms (≈ ${Math.round(1000 / TOKEN_MS)} tokens/s), so a pipeline that waited for the whole reply would be ${(words(fiveText) - words(oneSentence[0]!)) * TOKEN_MS} ms later on the long one; each sentence's audio is a ${TTFA_CLIP_MS} ms clip.

| metric | turns | median ms | p95 ms | target |
|---|---|---|---|---|
| **pipeline overhead** (v2v − EOU − ${CONFIGURED_MS}) | ${overhead.length}/${plainCount} | **${fmt(oMed)}** | **${fmt(oP95)}** | median ≤ ${TARGETS.overheadMedian} ${ok(oMed <= TARGETS.overheadMedian)}, p95 ≤ ${TARGETS.overheadP95} ${ok(oP95 <= TARGETS.overheadP95)} |
${row('voiceToVoiceMs (VAD end of speech → first audio written)', nums(plainOk.map((r) => r.voiceToVoiceMs)))}
${row('cross-check: question end in the input → speak state', trueV2v)}
${row('eouDelayMs (VAD end of speech → end of turn)', nums(plainOk.map((r) => r.eouDelayMs)))}
${row(`sttFinalMs (configured ${LATENCY.stt})`, stt)}
${row(`llmTtftMs (configured ${LATENCY.llm})`, llm)}
${row(`ttsTtfbMs (configured ${LATENCY.tts})`, tts)}
${row('hand-offs (v2v − EOU − sttFinal − llmTtft − ttsTtfb)', handoffs)}
${row('cross-check: overhead of the barge-in inputs\' turns', bargeOverhead)}
${row('overhead of the first turn after start (warm-up turns)', coldOverhead)}
| **barge-in clear** (decision → playback cleared) | ${clear.length}/${bargeExpected} | **${fmt(med(clear))}** | **${fmt(cP95)}** | p95 ≤ ${TARGETS.bargeClearP95} ${ok(cP95 <= TARGETS.bargeClearP95)} |
${row('bargeInStopMs (VAD speech onset → playback cleared)', stop)}
${row('cross-check: interrupting question starts in the input → speak ends', trueStop)}
| **time to first audio, 1 sentence** (voiceToVoiceMs) | ${oneV.length} | **${fmt(med(oneV))}** | ${fmt(p95(oneV))} | — |
| **time to first audio, 5 sentences** (voiceToVoiceMs) | ${fiveV.length} | **${fmt(med(fiveV))}** | ${fmt(p95(fiveV))} | nearly equal (≤ 50 ms apart) ${ok(diff <= 50)} |

Five vs one sentence: **${e1(diff)} ms**, ratio **${(med(fiveV) / med(oneV)).toFixed(2)}** (end-of-utterance medians ${fmt(med(fiveE))} and ${fmt(med(oneE))} ms).

Server side, timed inside the scripted servers (request headers received → first body byte written), next to what the turn records saw:

| server | configured ms | requests | median | p95 | max | turn record median |
|---|---|---|---|---|---|---|
${serverRow('STT (upload + parse + delay)', 'stt', LATENCY.stt, stt)}
${serverRow('LLM (first delta)', 'llm', LATENCY.llm, llm)}
${serverRow('TTS (first audio byte)', 'tts', LATENCY.tts, tts)}

**Notes.**
- Where the overhead goes (medians over the measured plain turns): STT ${e1(excess(plainOk, 'sttFinalMs', LATENCY.stt))} ms over its ${LATENCY.stt} (the server itself ${e1(serverExcess('stt', LATENCY.stt))}: reading and parsing the multipart upload, timer slack; the client the rest: WAV encoding, the upload, SSE parsing), LLM ${e1(excess(plainOk, 'llmTtftMs', LATENCY.llm))} (server ${e1(serverExcess('llm', LATENCY.llm))}; the client: intent matching, request, SSE parsing), TTS ${e1(excess(plainOk, 'ttsTtfbMs', LATENCY.tts))} (server ${e1(serverExcess('tts', LATENCY.tts))}; the client: request, then decoding and resampling to 16 kHz everything the first network read brought before the first frame leaves), and ${fmt(med(handoffs))} ms of hand-offs between the stages (machine transitions, sentence chunking, the speaker write). Net of the scripted servers' own excess (${e1(serverExcess('stt', LATENCY.stt) + serverExcess('llm', LATENCY.llm) + serverExcess('tts', LATENCY.tts))} ms together) the pipeline's median share is about ${fmt(oMed - (serverExcess('stt', LATENCY.stt) + serverExcess('llm', LATENCY.llm) + serverExcess('tts', LATENCY.tts)))} ms. Worst turns: ${worst.map((r) => `${r.scenario} turn ${r.turn} ${fmt(overheadOf(r))} ms (STT ${e1(r.sttFinalMs! - LATENCY.stt)}, LLM ${e1(r.llmTtftMs! - LATENCY.llm)}, TTS ${e1(r.ttsTtfbMs! - LATENCY.tts)}; GC ${gcIn(r).toFixed(0)} ms, event-loop stalls ${stallsIn(r).ms.toFixed(0)} ms with ${stallsIn(r).cpuMs.toFixed(0)} ms of CPU)`).join('; ')}. With ${overhead.length} turns the p95 is ${worstRank(overhead.length - Math.ceil(0.95 * overhead.length) + 1)} turn, so it moves with whatever else the machine is doing.
- Stalls: garbage collection paused the process ${gcAll.length} times for 5 ms or more (${gcAll.filter((g) => g.ms >= 20).length} for 20 ms or more, longest ${gcAll.length ? Math.max(...gcAll.map((g) => g.ms)).toFixed(0) : '—'} ms), inside the end-of-turn → first-audio span of ${gcTurns.length} of the ${plainOk.length} measured turns (median overhead of those ${fmt(med(gcTurns.map(overheadOf)))} ms). Event-loop delay over each input: p99 ${fmt(med(results.map((r) => r.loopDelayMs.p99)))} ms (median of the inputs), max ${fmt(Math.max(...results.map((r) => r.loopDelayMs.max)))} ms; ${stallAll.length} stalls over ${STALL_MS} ms, ${stallAll.filter((g) => g.cpuMs < g.ms / 2).length} of them with the process using less than half a core meanwhile (waiting for the CPU rather than busy).
- The first turn after start is slower (median ${fmt(med(coldOverhead))} ms of overhead; STT ${e1(excess(cold, 'sttFinalMs', LATENCY.stt))}, LLM ${e1(excess(cold, 'llmTtftMs', LATENCY.llm))}, TTS ${e1(excess(cold, 'ttsTtfbMs', LATENCY.tts))} over configured): the first connection to each server and the first run of the SDK, multipart, decoder and resampler code. It is shown on its own row and kept out of the headline, which describes the steady state.
- The barge-in inputs' turns carry more TTS overhead than the plain ones: their first sentence is long, and the server sends it at once, so the first frame waits for decoding the whole first read (about 0.5 s of audio); and a TTS or LLM response abandoned by a barge-in closes its keep-alive connection, so the next request opens a new one.
- The VAD puts the end of speech about ${fmt(med(trueV2v) - med(nums(plainOk.map((r) => r.voiceToVoiceMs))))} ms after the phrase's end in the input (its trailing silence trimmed at −46 dBFS; medians of the two voice-to-voice rows), so \`voiceToVoiceMs\` reads that much shorter than what the user waits; the overhead does not depend on it.
- Push-to-talk presses are held ${PTT_RELEASE_MS} ms past the end of speech: released within the VAD's 500 ms of silence, a turn gets no end-of-speech mark, so no \`eouDelayMs\` or \`voiceToVoiceMs\`.
- Five vs one sentence: the five-sentence reply reaches the speaker about one word-interval (${TOKEN_MS} ms) later, because the chunker passes a sentence on only when the next word shows it has ended, while the one-sentence stream ends right after its full stop. A pipeline that waited for the whole reply would show the ${(words(fiveText) - words(oneSentence[0]!)) * TOKEN_MS} ms difference.
- Barge-in clear is synchronous: the decision, the machine's transition and the sink's \`clear()\` run in one turn of the event loop. \`bargeInStopMs\` adds the VAD's confirmation (bargeInMinMs = 200 ms of speech) and starts at the VAD's onset, which is padded 100 ms early; from the interrupting question's real start it is the cross-check row.
- Limits: the servers run in the assistant's process on its event loop (their own time is in the server table); the network is loopback (no round trips, no TLS); the speaker is the paced virtual sink, so a real device's buffer comes on top of first audio and of the barge-in stop; the room has no echo.

Problems: ${problems.length ? `\n${problems.map((p) => `- ${p}`).join('\n')}` : 'none (every question produced a turn record with every field).'}
`;
}

async function main(): Promise<void> {
  const [flag, name] = process.argv.slice(2);
  if (flag === '--child') {
    const result = await runChild(name!);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  if (spawnSync('espeak-ng', ['--version']).status !== 0) throw new Error('espeak-ng is needed: apt-get install espeak-ng flite sox');
  const started = performance.now();
  for (const s of scenarios) prepare(s); // synthesize fixtures once, outside the measured children
  const only = process.env.BENCH_ONLY?.split(',');
  const results = scenarios.filter((s) => !only || only.includes(s.name)).map((s) => child(s.name));
  if (process.env.BENCH_DUMP) writeFileSync(process.env.BENCH_DUMP, JSON.stringify(results));
  const markdown = section(results, performance.now() - started);
  if (!only && TURNS >= 10) writeSection('pipeline', markdown);
  else process.stderr.write('(partial run: bench/RESULTS.md left alone)\n');
  process.stdout.write(markdown);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:pipeline failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
