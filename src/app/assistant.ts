import { randomBytes } from 'node:crypto';
import { createActor, type Snapshot } from 'xstate';
import type { Agent } from '../agent/agent.js';
import { CancellerGate, EchoGate } from '../audio/echo-gate.js';
import type { AudioSink, AudioSource } from '../audio/frame.js';
import { AudioHub } from '../audio/hub.js';
import { EchoCancelledSource, type EchoCancelling } from '../audio/sources/echo-cancelled.js';
import type { VoiceActivityDetector } from '../audio/vad/index.js';
import type { WakeWordDetector } from '../audio/wakeword/index.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config/index.js';
import type { SpeechToText, TextToSpeech } from '../speech/types.js';
import type { MachineEvent } from '../states/events.js';
import { conversationMachine, type ConversationActor, type MachineContext } from '../states/machine.js';
import { confirmation, errorAnnouncer, wakeEarcon } from './actors/announcers.js';
import { bargeInDetector } from './actors/barge-in.js';
import { listener } from './actors/listener.js';
import { reply } from './actors/reply.js';
import { wakeListener } from './actors/wake-listener.js';
import type { EventSink } from './events.js';
import { GatedSink, streamNow, TurnBook, type Runtime } from './runtime.js';

export interface AssistantParts {
  config: Config;
  source: AudioSource;
  /** The speaker; `onPlayed` (when it has one) feeds the self-speech gate. */
  sink: AudioSink & { onPlayed?: (listener: (samples: Int16Array, atMs: number) => void) => () => void };
  clock: Clock;
  wake: WakeWordDetector;
  vad: VoiceActivityDetector;
  bargeInVad: VoiceActivityDetector;
  stt: SpeechToText;
  confirmStt: SpeechToText;
  tts: TextToSpeech;
  agent: Agent;
  emit: EventSink;
  /**
   * Whether the microphone can hear the speaker: true for a real room without echo cancellation,
   * false for a simulated one (the input file holds no echo) or when the OS cancels it.
   */
  echoPath: boolean;
  /** kai's own echo canceller (conversation.aec): cleans the microphone before anything hears it. */
  echoCanceller?: EchoCancelling;
}

/** The assistant: the machine with real actors, on one microphone and one speaker. */
export class Assistant {
  readonly hub: AudioHub;
  readonly actor: ConversationActor;
  private readonly runtime: Runtime;
  private lastState = '';
  private lastTurn = 0;
  private readonly idleWaiters = new Set<() => void>();
  /** The confirmation being asked, if any (answerable by voice or by answer()). */
  private pendingRequest: { id: string; prompt: string } | null = null;
  private requestCount = 0;
  /** Request ids differ between runs, so an answer meant for an old request never settles a new one. */
  private readonly requestPrefix = randomBytes(3).toString('hex');

  constructor(parts: AssistantParts) {
    const { config } = parts;
    const canceller = parts.echoCanceller;
    const cleaned = canceller ? new EchoCancelledSource(parts.source, canceller) : undefined;
    this.hub = new AudioHub(cleaned ?? parts.source, { clock: parts.clock });
    const levelGate = new EchoGate({
      echoGainDb: parts.echoPath ? config.conversation.echoGainDb : Number.NEGATIVE_INFINITY,
      marginDb: config.conversation.bargeInMarginDb,
    });
    // With the canceller, its cleaned microphone is trusted as soon as it has shown it removes the echo.
    const echo = cleaned ? new CancellerGate(levelGate, cleaned) : levelGate;
    this.runtime = {
      hub: this.hub,
      speaker: new GatedSink(parts.sink),
      wake: parts.wake,
      vad: parts.vad,
      bargeInVad: parts.bargeInVad,
      echo,
      stt: parts.stt,
      confirmStt: parts.confirmStt,
      tts: parts.tts,
      agent: parts.agent,
      clock: parts.clock,
      settings: {
        bargeIn: config.conversation.bargeIn,
        bargeInMinMs: config.conversation.bargeInMinMs,
        earcons: config.conversation.earcons,
        vadPaddingMs: config.vad.paddingMs,
      },
      emit: parts.emit,
      turns: new TurnBook(),
      outages: new Set(),
      cursor: { lastWakeEndMs: Number.NEGATIVE_INFINITY, lastWakeScore: 0 },
    };
    parts.sink.onPlayed?.((samples, atMs) => {
      const streamMs = this.hub.streamMsAt(atMs);
      levelGate.playedAt(samples, streamMs);
      canceller?.playback(samples, streamMs);
    });
    const rt = this.runtime;
    const machine = conversationMachine.provide({
      actors: {
        wakeListener: wakeListener(rt),
        wakeEarcon: wakeEarcon(rt),
        listener: listener(rt),
        reply: reply(rt),
        bargeInDetector: bargeInDetector(rt),
        confirmation: confirmation(rt),
        errorAnnouncer: errorAnnouncer(rt),
      },
    });
    const c = config.conversation;
    this.actor = createActor(machine, {
      clock: parts.clock,
      input: {
        followUp: c.followUp,
        timeouts: {
          noSpeechMs: c.noSpeechMs,
          maxUtteranceMs: c.maxUtteranceMs,
          transcriptMs: c.transcriptTimeoutMs,
          thinkMs: c.thinkTimeoutMs,
          speakMs: c.speakTimeoutMs,
          confirmMs: c.confirmTimeoutMs,
          followUpMs: c.followUpMs,
          earconMs: 1500,
          errorMs: 8000,
        },
      },
    });
    this.actor.subscribe((snapshot) => this.observe(snapshot));
    this.actor.on('confirmed', ({ approved, by }) => this.settleRequest(approved, by));
  }

  /** Starts listening; resolves when the audio source ends, rejects if it fails. */
  async run(signal: AbortSignal): Promise<void> {
    this.actor.start();
    try {
      await this.hub.start(signal);
    } finally {
      this.flushTurn(this.lastTurn);
    }
  }

  send(event: MachineEvent): void {
    this.actor.send(event);
  }

  /** Typed input: the agent gets it as what the user said, without the recognizer. */
  say(text: string): void {
    const trimmed = text.trim();
    if (!trimmed) return;
    this.runtime.emit({ type: 'transcript', final: true, text: trimmed }, streamNow(this.runtime));
    this.actor.send({ type: 'TEXT_INPUT', text: trimmed });
  }

  /** The confirmation waiting for an answer, if any. */
  get pending(): { id: string; prompt: string } | null {
    return this.pendingRequest;
  }

  /** Answers the pending confirmation from outside the voice channel; false when `id` is not pending. */
  answer(id: string, approved: boolean): boolean {
    if (this.pendingRequest?.id !== id) return false;
    this.actor.send({ type: 'CONFIRM_ANSWER', approved });
    return true;
  }

  get state(): string {
    return this.lastState;
  }

  /** Resolves the next time the machine rests in idle (at once if it is there now). */
  whenIdle(): Promise<void> {
    if (this.lastState === 'idle') return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.add(resolve));
  }

  stop(): void {
    this.actor.stop();
  }

  private observe(snapshot: Snapshot<unknown> & { value?: unknown; context?: MachineContext }): void {
    const context = snapshot.context;
    if (!context || snapshot.value === undefined) return;
    const state = stateName(snapshot.value);
    if (context.turn !== this.lastTurn) {
      this.flushTurn(this.lastTurn);
      this.lastTurn = context.turn;
    }
    if (state === this.lastState) return;
    if (this.lastState === 'confirm') this.settleRequest(false, 'cancel');
    this.lastState = state;
    if (state === 'confirm') this.openRequest(context.confirmPrompt);
    if (state === 'speak') this.runtime.outages.clear(); // the services answered: the next failure is news again
    this.runtime.emit({ type: 'state', value: state }, streamNow(this.runtime));
    if (state === 'error' && context.error) {
      this.runtime.turns.peek(context.turn)?.errors.push(`${context.error.source}: ${context.error.message}`);
    }
    if (state === 'idle' || state === 'followUp') this.flushTurn(context.turn);
    if (state === 'idle') {
      for (const resolve of this.idleWaiters) resolve();
      this.idleWaiters.clear();
      queueMicrotask(() => this.announcePending());
    }
  }

  /**
   * Says what the agent has queued to announce (finished jobs) if the assistant is idle; otherwise
   * it waits for the next idle moment, never interrupting the user.
   */
  announcePending(): void {
    if (this.lastState !== 'idle' || this.actor.getSnapshot().status !== 'active') return;
    const news = this.runtime.agent.announcements?.() ?? [];
    if (news.length > 0) this.actor.send({ type: 'ANNOUNCE', text: news.join(' ') });
  }

  private openRequest(prompt: string): void {
    this.requestCount += 1;
    this.pendingRequest = { id: `${this.requestPrefix}-${this.requestCount}`, prompt };
    this.runtime.emit({ type: 'permission_request', ...this.pendingRequest }, streamNow(this.runtime));
  }

  /** Once per request: the machine's verdict, or "cancel" when the turn ended without one. */
  private settleRequest(approved: boolean, by: 'voice' | 'web' | 'timeout' | 'cancel'): void {
    const request = this.pendingRequest;
    if (!request) return;
    this.pendingRequest = null;
    this.runtime.emit({ type: 'permission_resolved', id: request.id, approved, by }, streamNow(this.runtime));
  }

  /** Reports a turn's record once, when the turn is over. */
  private flushTurn(turn: number): void {
    if (turn === 0) return;
    const metrics = this.runtime.turns.take(turn);
    if (metrics) this.runtime.emit({ type: 'turn', ...metrics.record() }, streamNow(this.runtime));
  }
}

/** The name a person would use: listen, think, confirm, speak… */
export function stateName(value: unknown): string {
  if (typeof value === 'string') return value;
  const [[top, child]] = Object.entries(value as Record<string, unknown>) as [[string, unknown]];
  if (top !== 'respond') return top;
  if (typeof child === 'string') return child;
  const think = (child as Record<string, unknown>).think;
  return think === 'confirm' ? 'confirm' : 'think';
}
