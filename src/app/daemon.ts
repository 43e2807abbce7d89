import { join, resolve } from 'node:path';
import { defaultHistoryPath, HistoryStore } from '../agent/history-store.js';
import type { JobQueueEvent } from '../agent/jobs/queue.js';
import { loadBargeInVoiceActivityDetector, loadVoiceActivityDetector, loadWakeWordDetector } from '../audio/detectors.js';
import { EchoCanceller } from '../audio/aec/echo-canceller.js';
import { detectEchoCancellation } from '../audio/echo-cancel.js';
import type { AudioSink } from '../audio/frame.js';
import { levelDbfs } from '../audio/level.js';
import { LiveOutput } from '../audio/sinks/live-output.js';
import { openSpeakerSink } from '../audio/sinks/speaker.js';
import { LiveInput, type DeviceStatus } from '../audio/sources/live-input.js';
import { MicSource } from '../audio/sources/mic.js';
import { realClock } from '../clock.js';
import type { Config } from '../config/index.js';
import { AssistantMetrics } from '../metrics/assistant-metrics.js';
import { stateDir } from '../paths.js';
import type { ControlTarget, RemoteMicrophone, RemotePlayback, ServerEvent } from '../server/control.js';
import { controlSocketPath, startControlSocket } from '../server/control-socket.js';
import { startControlServer, type ControlServer } from '../server/http-server.js';
import type { JobView, TurnView } from '../server/protocol.js';
import { EngineHealth } from '../server/reachability.js';
import { loadOrCreateToken } from '../server/token.js';
import { Assistant } from './assistant.js';
import { jobView, serverEventOf } from './control-view.js';
import { createEngines, type Engines } from './engines.js';
import type { AssistantEvent } from './events.js';
import type { Logger } from './log.js';

export interface DaemonOptions {
  config: Config;
  modelsDir: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  log: Logger;
}

/** What the terminal panel shows; updated as things happen. */
export interface DaemonView {
  state: string;
  /** Microphone level, dBFS. */
  level: number;
  interim: string;
  lastTranscript: string;
  reply: string;
  pending: { id: string; prompt: string }[];
  jobs: JobView[];
  lastTurn: TurnView | null;
  /** Device and server trouble, one line each ("microphone: retrying in 4 s …"). */
  notices: string[];
  url?: string;
}

/**
 * `kai run`: the assistant on the microphone and speaker (each retried when missing or lost),
 * satellites over the control plane, the web page, /health and /metrics, the local control
 * socket, jobs and history kept on disk.
 */
export class Daemon implements ControlTarget {
  readonly startedAt = realClock.now();
  private readonly listeners = new Set<(event: ServerEvent) => void>();
  private readonly viewListeners = new Set<() => void>();
  private readonly metricsBook = new AssistantMetrics();
  private readonly engineHealth: EngineHealth;
  private readonly notices = new Map<string, string>();
  private server: ControlServer | null = null;
  private socket: { close(): Promise<void> } | null = null;
  private assistant!: Assistant;
  private engines!: Engines;
  private input!: LiveInput;
  private output!: LiveOutput;
  private token = '';
  private history!: HistoryStore;
  readonly view: DaemonView = { state: 'idle', level: Number.NEGATIVE_INFINITY, interim: '', lastTranscript: '', reply: '', pending: [], jobs: [], lastTurn: null, notices: [] };

  private constructor(private readonly options: DaemonOptions) {
    this.engineHealth = new EngineHealth(options.config);
  }

  /** Loads models and engines and opens the control plane; nothing listens to the microphone yet. */
  static async create(options: DaemonOptions): Promise<Daemon> {
    const daemon = new Daemon(options);
    await daemon.assemble();
    return daemon;
  }

  /** The web page's address with the token (for the person who started kai). */
  get pageUrl(): string | undefined {
    return this.server ? `${this.server.url}/#token=${this.token}` : undefined;
  }

  get url(): string | undefined {
    return this.server?.url;
  }

  get socketPath(): string {
    return controlSocketPath(this.options.config.server.socket, this.options.env);
  }

  private async assemble(): Promise<void> {
    const { config, modelsDir, cwd, env, log } = this.options;
    const [wake, vad, bargeInVad] = await Promise.all([
      loadWakeWordDetector(config.wakeword, modelsDir, { cwd }),
      loadVoiceActivityDetector(config.vad, modelsDir),
      loadBargeInVoiceActivityDetector(config, modelsDir),
    ]);
    this.history = new HistoryStore(defaultHistoryPath(env), { onWarning: (message) => log.log('warn', message) });
    const history = await this.history.load(config.agent.contextChars);
    this.engines = createEngines(config, {
      cwd,
      env,
      history,
      onHistoryChange: (changed) => {
        try {
          this.history.save(changed);
        } catch (err) {
          log.log('error', `cannot save the conversation history: ${(err as Error).message}`);
        }
      },
      onJobEvent: (event) => this.onJobEvent(event),
      onEngineSwitch: (port, usingFallback, reason) => {
        log.log(usingFallback ? 'warn' : 'info', usingFallback ? `${port}: using the embedded engine (${reason})` : `${port}: ${reason}`, { port });
        this.notice(port, usingFallback ? `${port}: using the embedded engine (${reason})` : undefined);
      },
    });
    const clock = realClock;
    this.input = new LiveInput({
      clock,
      ...(config.audio.input === 'mic' ? { local: MicSource.fromConfig(config) } : {}),
      onStatus: (status) => this.deviceStatus('microphone', status),
    });
    this.output = new LiveOutput({
      clock,
      ...(config.audio.output === 'speaker' ? { openLocal: (): Promise<AudioSink> => openSpeakerSink({ device: config.audio.playbackDevice }) } : {}),
      onStatus: (status) => this.deviceStatus('speaker', status),
    });
    const echoPath = await this.hearsItself();
    const aec = config.conversation.aec === 'on' || (config.conversation.aec === 'auto' && echoPath);
    log.log('info', 'starting', { echoPath, aec, input: config.audio.input, output: config.audio.output, stt: config.stt.engine, tts: config.tts.engine, llm: config.llm.baseUrl || 'local intents' });
    this.assistant = new Assistant({
      config,
      source: this.input,
      sink: this.output,
      clock,
      wake,
      vad,
      bargeInVad,
      ...this.engines,
      emit: (event) => this.onAssistantEvent(event),
      echoPath,
      ...(aec ? { echoCanceller: new EchoCanceller() } : {}),
    });
    this.assistant.hub.subscribe((frame) => {
      // A fast attack and a slow release, like a VU meter.
      const level = levelDbfs(frame.samples);
      this.view.level = level > this.view.level ? level : Math.max(level, this.view.level - 3);
      this.changed();
    });
    if (config.server.enabled) {
      this.token = loadOrCreateToken(config.server.tokenFile ? resolve(cwd, config.server.tokenFile) : join(stateDir(env), 'token'));
      this.server = await startControlServer({
        host: config.server.host,
        port: config.server.port,
        token: this.token,
        target: this,
        allowedOrigins: config.server.allowedOrigins,
        maxConnections: config.server.maxConnections,
        maxMessageBytes: config.server.maxMessageBytes,
        messagesPerSecond: config.server.messagesPerSecond,
      });
      this.view.url = this.server.url;
    }
    try {
      this.socket = await startControlSocket(this.socketPath, this);
    } catch (err) {
      await this.server?.close();
      throw err;
    }
  }

  /** Listens until the signal aborts, then stops everything (jobs put back, logs flushed). */
  async run(signal: AbortSignal): Promise<void> {
    const { log } = this.options;
    await this.engines.jobs.start();
    this.view.jobs = this.engines.jobs.list().map(jobView);
    try {
      await this.assistant.run(signal);
    } catch (err) {
      log.log('error', 'the audio input failed', { error: (err as Error).message });
    } finally {
      await this.shutdown();
    }
  }

  private async shutdown(): Promise<void> {
    const { log } = this.options;
    this.assistant.stop();
    await Promise.allSettled([this.engines.jobs.stop(), this.output.close(), this.server?.close(), this.socket?.close()]);
    log.log('info', 'stopped');
  }

  // ControlTarget

  now(): number {
    return realClock.now() - this.startedAt;
  }

  snapshot() {
    return { state: this.assistant.state || 'idle', pending: this.assistant.pending ? [this.assistant.pending] : [], jobs: this.view.jobs, lastTurn: this.view.lastTurn };
  }

  subscribe(listener: (event: ServerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  ptt(action: 'start' | 'stop' | 'toggle'): void {
    this.assistant.send({ type: action === 'start' ? 'PTT_START' : action === 'stop' ? 'PTT_STOP' : 'PTT_TOGGLE' });
  }

  cancel(): void {
    this.assistant.send({ type: 'CANCEL' });
  }

  say(text: string): void {
    this.assistant.say(text);
  }

  answer(requestId: string, approved: boolean): boolean {
    return this.assistant.answer(requestId, approved);
  }

  async cancelJob(jobId: string): Promise<boolean> {
    const job = this.engines.jobs.status(jobId);
    if (!job || (job.status !== 'queued' && job.status !== 'running')) return false;
    return (await this.engines.jobs.cancel(jobId)) !== undefined;
  }

  attachMicrophone(playback: RemotePlayback | null): RemoteMicrophone {
    const feed = this.input.attachRemote();
    const route = playback ? this.output.attachRemote(playback) : null;
    // The reply goes to the satellite that is talking; when it stops, back to the speaker (unless another took over).
    const stopFollowing = this.input.onActiveChange((active) => {
      if (!route) return;
      if (active === feed) this.output.route(route);
      else if (this.output.routed === route) this.output.route(null);
    });
    return {
      push: (samples) => feed.push(samples),
      close: () => {
        stopFollowing();
        feed.close();
        route?.detach();
      },
    };
  }

  async health(): Promise<Record<string, unknown>> {
    return {
      status: 'ok',
      state: this.assistant.state || 'idle',
      uptimeS: Math.round(this.now() / 1000),
      engines: await this.engineHealth.check(),
      devices: { microphone: this.notices.get('microphone') ?? 'ok', speaker: this.notices.get('speaker') ?? 'ok' },
      /** Consumers of the microphone stream: one or two at rest; more means something did not let go. */
      audioSubscribers: this.assistant.hub.subscriberCount,
    };
  }

  metrics(): string {
    return this.metricsBook.render();
  }

  onViewChange(listener: () => void): () => void {
    this.viewListeners.add(listener);
    return () => this.viewListeners.delete(listener);
  }

  // Events

  private onAssistantEvent(event: AssistantEvent): void {
    this.options.log.log(event.type === 'error' ? 'warn' : 'info', event.type, event as unknown as Record<string, unknown>);
    this.metricsBook.observe(event);
    const v = this.view;
    switch (event.type) {
      case 'state':
        v.state = event.value;
        if (event.value === 'listen') v.interim = '';
        break;
      case 'transcript':
        if (event.final) {
          v.lastTranscript = event.text;
          v.interim = '';
        } else v.interim = event.text;
        break;
      case 'assistant':
        v.reply = event.text;
        break;
      case 'permission_request':
        v.pending = [{ id: event.id, prompt: event.prompt }];
        break;
      case 'permission_resolved':
        v.pending = [];
        break;
      case 'turn': {
        const { type: _type, ...turn } = event;
        v.lastTurn = turn;
        break;
      }
    }
    this.broadcast(serverEventOf(event));
    this.changed();
  }

  private onJobEvent(event: JobQueueEvent): void {
    this.metricsBook.observeJob(event);
    const view = jobView(event.job);
    this.view.jobs = [...this.view.jobs.filter((j) => j.id !== view.id), view].slice(-20);
    this.options.log.log('info', `job ${event.type}`, { job: view });
    this.broadcast({ type: 'job', job: view });
    this.changed();
    if (event.type === 'done' || event.type === 'failed') this.assistant.announcePending();
  }

  private deviceStatus(device: 'microphone' | 'speaker', status: DeviceStatus): void {
    const { log } = this.options;
    if (status.local === 'retrying') {
      const line = `${device}: ${status.error}; retrying in ${Math.round(status.retryInMs / 1000)} s`;
      log.log('warn', line, { device, retryInMs: status.retryInMs });
      this.notice(device, line);
    } else if (status.local === 'running') {
      log.log('info', this.notices.has(device) ? `${device}: working again` : `${device}: running`, { device });
      this.notice(device, undefined);
    }
  }

  private notice(key: string, line: string | undefined): void {
    if (line === undefined) this.notices.delete(key);
    else this.notices.set(key, line);
    this.view.notices = [...this.notices.values()];
    this.changed();
  }

  private broadcast(event: ServerEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  private changed(): void {
    for (const listener of this.viewListeners) listener();
  }

  /** Whether the microphone hears the speaker (no echo cancellation in the OS). */
  private async hearsItself(): Promise<boolean> {
    const { config } = this.options;
    if (config.audio.input !== 'mic' || config.audio.output !== 'speaker') return false;
    if (config.conversation.echoCancellation !== 'auto') return config.conversation.echoCancellation === 'off';
    return !(await detectEchoCancellation(config.audio.captureDevice)).active;
  }
}
