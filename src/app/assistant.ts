import { createActor, type Snapshot } from 'xstate';
import type { Agent } from '../agent/agent.js';
import { EchoGate } from '../audio/echo-gate.js';
import type { AudioSink, AudioSource } from '../audio/frame.js';
import { AudioHub } from '../audio/hub.js';
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
}

/** The assistant: the machine with real actors, on one microphone and one speaker. */
export class Assistant {
  readonly hub: AudioHub;
  readonly actor: ConversationActor;
  private readonly runtime: Runtime;
  private lastState = '';
  private lastTurn = 0;
  private readonly idleWaiters = new Set<() => void>();

  constructor(parts: AssistantParts) {
    const { config } = parts;
    this.hub = new AudioHub(parts.source, { clock: parts.clock });
    const echo = new EchoGate({
      echoGainDb: parts.echoPath ? config.conversation.echoGainDb : Number.NEGATIVE_INFINITY,
      marginDb: config.conversation.bargeInMarginDb,
    });
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
      cursor: { lastWakeEndMs: Number.NEGATIVE_INFINITY, lastWakeScore: 0 },
    };
    parts.sink.onPlayed?.((samples, atMs) => echo.playedAt(samples, this.hub.streamMsAt(atMs)));
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
    this.lastState = state;
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
