import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_INTENTS } from '../agent/intents/intents.js';
import { IntentMatcher, readDictionaryWords } from '../agent/intents/matcher.js';
import type { ConversationHistory } from '../agent/history.js';
import { createJobQueue, jobTools, type JobQueue } from '../agent/jobs/index.js';
import type { JobQueueEvent } from '../agent/jobs/queue.js';
import { ChatClient } from '../agent/llm.js';
import { AuditLog, defaultAuditPath } from '../agent/permissions/audit.js';
import { Permissions } from '../agent/permissions/gate.js';
import { ToolAgent } from '../agent/tool-agent.js';
import { builtinTools } from '../agent/tools/index.js';
import { ToolRegistry } from '../agent/tools/registry.js';
import type { PermissionMode } from '../agent/tools/types.js';
import type { Config } from '../config/index.js';
import { UsageError } from '../errors.js';
import { FallbackSpeechToText, FallbackTextToSpeech } from '../speech/fallback.js';
import { HttpSpeechToText } from '../speech/stt-http.js';
import { DEFAULT_MODEL_DIR, PocketsphinxSpeechToText } from '../speech/stt-pocketsphinx.js';
import { RealtimeSpeechToText } from '../speech/stt-realtime.js';
import { EspeakTextToSpeech } from '../speech/tts-espeak.js';
import { HttpTextToSpeech } from '../speech/tts-http.js';
import type { SpeechToText, TextToSpeech } from '../speech/types.js';

export interface Engines {
  stt: SpeechToText;
  /** Yes/no answers: the embedded grammar recognizer, which cannot mishear them as a command. */
  confirmStt: SpeechToText;
  tts: TextToSpeech;
  agent: ToolAgent;
  /** Delegated coding jobs; start() resumes the backlog, stop() puts running jobs back. */
  jobs: JobQueue;
}

export interface EngineEnvironment {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Told when a job finishes, so the assistant can say so at the next quiet moment. */
  onJobFinished?: () => void;
  /** Every job event (queued, progress, done…), for the control plane. */
  onJobEvent?: (event: JobQueueEvent) => void;
  /** A server engine could not be reached and the embedded one stands in (or the server is back). */
  onEngineSwitch?: (port: 'stt' | 'tts', usingFallback: boolean, reason: string) => void;
  /** The conversation so far, and where to save it after each exchange. */
  history?: ConversationHistory;
  onHistoryChange?: (history: ConversationHistory) => void;
}

/**
 * The engines config asks for: servers where a URL is configured, embedded ones otherwise; a server
 * engine with `fallback` set hands over to the embedded one while the server cannot be reached.
 */
export function createEngines(config: Config, environment: EngineEnvironment): Engines {
  const { agent, jobs } = createAgent(config, environment);
  const phrases = agent.phrases();
  const switched = (port: 'stt' | 'tts') => (usingFallback: boolean, reason: string) => environment.onEngineSwitch?.(port, usingFallback, reason);
  let stt = createStt(config, phrases);
  if (config.stt.engine !== 'embedded' && config.stt.fallback) {
    const embedded = optional(() => new PocketsphinxSpeechToText({ phrases }));
    if (embedded) stt = new FallbackSpeechToText(stt, embedded, { onSwitch: switched('stt') });
  }
  let tts = createTts(config);
  if (config.tts.engine !== 'espeak' && config.tts.fallback) {
    tts = new FallbackTextToSpeech(tts, new EspeakTextToSpeech({ voice: config.tts.espeakVoice }), { onSwitch: switched('tts') });
  }
  return { stt, confirmStt: yesNoRecognizer(stt), tts, agent, jobs };
}

function optional<T>(make: () => T): T | undefined {
  try {
    return make();
  } catch {
    return undefined; // not installed: no stand-in
  }
}

/** Yes/no answers go to the embedded grammar engine; without pocketsphinx, the main recognizer hears them. */
function yesNoRecognizer(main: SpeechToText): SpeechToText {
  return optional(() => new PocketsphinxSpeechToText({ phrases: [] })) ?? main;
}

/** The tool-using agent: local intents, the LLM when configured, one registry and one permission gate. */
export function createAgent(config: Config, environment: EngineEnvironment): { agent: ToolAgent; jobs: JobQueue } {
  const root = workspaceRoot(config, environment.cwd);
  const chat = createChat(config);
  const audit = new AuditLog(config.agent.auditLog ? resolve(environment.cwd, config.agent.auditLog) : defaultAuditPath(environment.env));
  const registry = (mode: PermissionMode, extra: ReturnType<typeof jobTools> | [] = []) =>
    new ToolRegistry([...builtinTools({ testCommand: config.agent.testCommand }), ...extra], {
      timeoutMs: config.agent.toolTimeoutMs,
      maxOutputChars: config.agent.maxToolOutputChars,
      root,
      gate: new Permissions({ mode, allow: config.agent.allow, ask: config.agent.ask, deny: config.agent.deny, workspaceRoot: root, audit }),
    });
  // A delegated job was approved as a whole, so it may edit; commands still need rules to run,
  // because nobody is there to say yes while it works in the background.
  const jobMode: PermissionMode = config.agent.mode === 'read-only' || config.agent.mode === 'full' ? config.agent.mode : 'auto-edit';
  const jobs = createJobQueue(config.jobs, {
    workspace: root,
    ...(chat ? { chat } : {}),
    tools: registry(jobMode).withConfirm(async () => false),
    env: environment.env,
    onEvent: (event) => {
      environment.onJobEvent?.(event);
      if (event.type === 'done' || event.type === 'failed') environment.onJobFinished?.();
    },
  });
  const intents = createIntents(root);
  const agent = new ToolAgent({
    intents,
    tools: registry(config.agent.mode, jobTools(jobs)),
    ...(chat ? { chat } : {}),
    historyChars: config.agent.contextChars,
    announcements: () => jobs.takeAnnouncements(),
    ...(environment.history ? { history: environment.history } : {}),
    ...(environment.onHistoryChange ? { onHistoryChange: environment.onHistoryChange } : {}),
  });
  return { agent, jobs };
}

function createIntents(root: string): IntentMatcher {
  return new IntentMatcher(DEFAULT_INTENTS, { slotValues: { package: packageNames(root) }, knownWord: dictionary() });
}

/** The phrases of the local commands (what the embedded recognizer's grammar holds). */
export function commandPhrases(config: Config, cwd: string): string[] {
  return createIntents(workspaceRoot(config, cwd)).phrases();
}

function createChat(config: Config): ChatClient | undefined {
  const { llm } = config;
  if (!llm.baseUrl) return undefined;
  if (!llm.model) throw new UsageError('llm.model is empty; set the model name your LLM server serves (llm.model in the config)');
  return new ChatClient({
    baseURL: llm.baseUrl,
    apiKey: llm.apiKey || undefined,
    model: llm.model,
    temperature: llm.temperature,
    maxTokens: llm.maxTokens,
    timeoutMs: llm.timeoutMs,
  });
}

function workspaceRoot(config: Config, cwd: string): string {
  const dir = resolve(cwd, config.agent.workspace);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new UsageError(`agent.workspace ${dir} is not a folder; set agent.workspace to your project folder`);
  }
  return realpathSync(dir);
}

/** Monorepo package names the "run the tests in …" command understands. */
function packageNames(root: string): string[] {
  return ['packages', 'apps'].flatMap((parent) => {
    try {
      return readdirSync(join(root, parent), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    } catch {
      return [];
    }
  });
}

/** Words the embedded recognizer knows (commands with other words could never be heard). */
function dictionary(): ((word: string) => boolean) | undefined {
  const path = join(DEFAULT_MODEL_DIR, '..', 'cmudict-en-us.dict');
  if (!existsSync(path)) return undefined;
  const words = readDictionaryWords(path);
  return (word) => words.has(word);
}

export function createStt(config: Config, phrases: string[]): SpeechToText {
  const { stt } = config;
  if (stt.engine === 'embedded') return new PocketsphinxSpeechToText({ phrases });
  if (!stt.baseUrl) throw new UsageError(`stt.engine is ${stt.engine} but stt.baseUrl is empty; set the server URL or use stt.engine: embedded`);
  const common = {
    apiKey: stt.apiKey || undefined,
    model: stt.model,
    language: stt.language || undefined,
    prompt: stt.prompt || undefined,
    timeoutMs: stt.timeoutMs,
  };
  if (stt.engine === 'http') return new HttpSpeechToText({ ...common, baseURL: stt.baseUrl, stream: stt.stream });
  return new RealtimeSpeechToText({ ...common, url: stt.baseUrl, dialect: stt.dialect });
}

export function createTts(config: Config): TextToSpeech {
  const { tts } = config;
  if (tts.engine === 'espeak') return new EspeakTextToSpeech({ voice: tts.espeakVoice });
  if (!tts.baseUrl) throw new UsageError('tts.engine is http but tts.baseUrl is empty; set the server URL or use tts.engine: espeak');
  return new HttpTextToSpeech({
    baseURL: tts.baseUrl,
    apiKey: tts.apiKey || undefined,
    model: tts.model,
    voice: tts.voice,
    speed: tts.speed,
    format: tts.format,
    timeoutMs: tts.timeoutMs,
  });
}
