import { assign, emit, fromCallback, fromPromise, sendTo, setup, type ActorRefFrom } from 'xstate';
import type { ConfirmationSettled, ListenerCommand, MachineEvent, ReplyCommand } from './events.js';

/** How long each waiting state may wait before the machine moves on (ms). */
export interface Timeouts {
  /** listen: no speech at all after the wake word. */
  noSpeechMs: number;
  /** listen: an utterance that never ends (a TV in the room) is cut here. */
  maxUtteranceMs: number;
  /** listen: end of utterance decided, waiting for the final transcript. */
  transcriptMs: number;
  /** think: the reply has not started playing. */
  thinkMs: number;
  /** speak: a reply longer than this is cut. */
  speakMs: number;
  /** think.confirm: how long the user has to answer once the question was asked; silence is no. */
  confirmMs: number;
  /** followUp: the window to answer without the wake word. */
  followUpMs: number;
  /** wake: the earcon must finish in this time. */
  earconMs: number;
  /** error: the spoken error must finish in this time. */
  errorMs: number;
}

export type FollowUpPolicy = 'off' | 'question' | 'always';

export interface MachineInput {
  timeouts: Timeouts;
  followUp: FollowUpPolicy;
}

/** How the current turn was started (wake word, push-to-talk held or toggled, or just by talking), which decides how it ends. */
export type TalkMode = 'wake' | 'hold' | 'toggle' | 'voice';

export interface MachineContext {
  timeouts: Timeouts;
  followUp: FollowUpPolicy;
  mode: TalkMode;
  /** Increments with each user turn; every reply chunk carries it. */
  turn: number;
  interim: string;
  transcript: string;
  /** The last reply ended with a question (for the follow-up window). */
  askedQuestion: boolean;
  confirmPrompt: string;
  error: { source: string; message: string } | null;
  /** Where on the audio timeline the user's words begin (wake phrase end, speech onset). */
  listenFromMs: number | undefined;
  announcement: string;
}

export interface ListenerInput {
  turn: number;
  mode: TalkMode;
  /** Audio from here on belongs to the utterance (undefined: from now, with a short pre-roll). */
  fromMs: number | undefined;
  /** followUp: only watch for speech; the listen state's listener transcribes it. */
  watchOnly: boolean;
}

export interface ReplyInput {
  turn: number;
  transcript: string;
  /** Set when the reply is an announcement to speak as is, not an answer to the user. */
  announcement: string;
}

export interface ConfirmationInput {
  turn: number;
  prompt: string;
  /** How long to wait for an answer after the question has been spoken. */
  listenMs: number;
}

/** What the user answered: only a clear yes approves. */
export type ConfirmationAnswer = 'yes' | 'no' | 'timeout';

/** Time allowed for saying the question itself, on top of confirmMs, before the machine gives up. */
const QUESTION_ALLOWANCE_MS = 20_000;

function atMsOf(event: MachineEvent): number | undefined {
  return 'atMs' in event ? event.atMs : undefined;
}

/**
 * Placeholders: the definition names its actors, the app provides the real ones with
 * `machine.provide({ actors })`. Each one reports back with MachineEvents.
 */
const idleActor = fromCallback<MachineEvent>(() => () => {});

/**
 * The conversation: idle → wake → listen → think → speak, with barge-in, push-to-talk,
 * confirmation, a follow-up window and an error announcement. Pure: no I/O, no clocks
 * beyond XState's delays.
 */
export const conversationMachine = setup({
  types: {
    context: {} as MachineContext,
    events: {} as MachineEvent,
    input: {} as MachineInput,
    emitted: {} as ConfirmationSettled,
  },
  actors: {
    /** idle: the wake-word listener on the microphone. */
    wakeListener: idleActor,
    /** wake: plays the earcon; done when it has been heard. */
    wakeEarcon: fromPromise<void, { turn: number }>(() => new Promise<void>(() => {})),
    /** listen / followUp: VAD + streaming STT; accepts ListenerCommand. */
    listener: fromCallback<ListenerCommand, ListenerInput>(() => () => {}),
    /** think + speak: agent → sentences → TTS → speaker; accepts ReplyCommand; stopping it clears playback. */
    reply: fromCallback<ReplyCommand, ReplyInput>(() => () => {}),
    /** speak: watches the microphone for the user talking over the reply. */
    bargeInDetector: fromCallback<MachineEvent, { turn: number }>(() => () => {}),
    /** think.confirm: asks the question and listens for yes or no. */
    confirmation: fromPromise<ConfirmationAnswer, ConfirmationInput>(() => new Promise<ConfirmationAnswer>(() => {})),
    /** error: a short spoken error or earcon. */
    errorAnnouncer: fromPromise<void, { source: string; message: string }>(() => new Promise<void>(() => {})),
  },
  delays: {
    noSpeech: ({ context }) => context.timeouts.noSpeechMs,
    maxUtterance: ({ context }) => context.timeouts.maxUtteranceMs,
    transcript: ({ context }) => context.timeouts.transcriptMs,
    think: ({ context }) => context.timeouts.thinkMs,
    speak: ({ context }) => context.timeouts.speakMs,
    confirm: ({ context }) => context.timeouts.confirmMs + QUESTION_ALLOWANCE_MS,
    followUp: ({ context }) => context.timeouts.followUpMs,
    earcon: ({ context }) => context.timeouts.earconMs,
    errorAnnouncement: ({ context }) => context.timeouts.errorMs,
  },
  guards: {
    hasText: ({ event }) => event.type === 'TEXT_INPUT' && event.text.trim() !== '',
    hasTranscript: ({ event }) => event.type === 'TRANSCRIPT_FINAL' && event.text.trim() !== '',
    endsByVoice: ({ context }) => context.mode !== 'hold',
    isHold: ({ context }) => context.mode === 'hold',
    wantsFollowUp: ({ context, event }) =>
      event.type === 'REPLY_DONE' &&
      (context.followUp === 'always' || (context.followUp === 'question' && event.askedQuestion)),
  },
  actions: {
    startTurn: assign(({ context, event }) => ({
      turn: context.turn + 1,
      mode: event.type === 'PTT_START' ? 'hold' : event.type === 'PTT_TOGGLE' ? 'toggle' : ('wake' as TalkMode),
      interim: '',
      transcript: '',
      error: null,
      listenFromMs: atMsOf(event),
      announcement: '',
    })),
    /** Barge-in and answers in the follow-up window start a turn without a wake earcon. */
    startTurnByVoice: assign(({ context, event }) => ({
      turn: context.turn + 1,
      mode: event.type === 'PTT_START' ? 'hold' : event.type === 'PTT_TOGGLE' ? 'toggle' : ('voice' as TalkMode),
      interim: '',
      transcript: '',
      listenFromMs: atMsOf(event),
      announcement: '',
    })),
    startTextTurn: assign(({ context, event }) => ({
      turn: context.turn + 1,
      mode: 'voice' as TalkMode,
      interim: '',
      transcript: event.type === 'TEXT_INPUT' ? event.text.trim() : '',
      error: null,
      listenFromMs: undefined,
      announcement: '',
    })),
    finishUtterance: sendTo('listener', { type: 'FINISH' } satisfies ListenerCommand),
    keepInterim: assign({ interim: ({ event }) => (event.type === 'TRANSCRIPT_INTERIM' ? event.text : '') }),
    startAnnouncement: assign(({ context, event }) => ({
      turn: context.turn + 1,
      transcript: '',
      error: null,
      announcement: event.type === 'ANNOUNCE' ? event.text : '',
    })),
    keepTranscript: assign({ transcript: ({ event }) => (event.type === 'TRANSCRIPT_FINAL' ? event.text.trim() : '') }),
    keepPrompt: assign({ confirmPrompt: ({ event }) => (event.type === 'CONFIRM_REQUEST' ? event.prompt : '') }),
    keepQuestion: assign({ askedQuestion: ({ event }) => event.type === 'REPLY_DONE' && event.askedQuestion }),
    keepServiceError: assign({
      error: ({ event }) => (event.type === 'SERVICE_ERROR' ? { source: event.source, message: event.message } : null),
    }),
    keepTimeout: assign({ error: (_, params: { source: string; message: string }) => params }),
    keepActorError: assign({
      error: ({ event }) => ({
        source: 'internal',
        message: 'error' in event && event.error instanceof Error ? event.error.message : 'something went wrong',
      }),
    }),
  },
}).createMachine({
  id: 'kai',
  context: ({ input }) => ({
    timeouts: input.timeouts,
    followUp: input.followUp,
    mode: 'wake',
    turn: 0,
    interim: '',
    transcript: '',
    askedQuestion: false,
    confirmPrompt: '',
    error: null,
    listenFromMs: undefined,
    announcement: '',
  }),
  initial: 'idle',
  on: {
    CANCEL: { target: '.idle' },
    SERVICE_ERROR: { target: '.error', actions: 'keepServiceError' },
  },
  states: {
    idle: {
      invoke: { id: 'wakeListener', src: 'wakeListener', onError: { target: 'error', actions: 'keepActorError' } },
      on: {
        WAKE_DETECTED: { target: 'wake', actions: 'startTurn' },
        PTT_START: { target: 'wake', actions: 'startTurn' },
        PTT_TOGGLE: { target: 'wake', actions: 'startTurn' },
        ANNOUNCE: { target: 'respond', actions: 'startAnnouncement' },
        TEXT_INPUT: { guard: 'hasText', target: '#kai.respond', actions: 'startTextTurn' },
      },
    },
    wake: {
      invoke: {
        id: 'wakeEarcon',
        src: 'wakeEarcon',
        input: ({ context }) => ({ turn: context.turn }),
        onDone: 'listen',
        onError: 'listen',
      },
      after: { earcon: 'listen' },
      on: { PTT_STOP: 'idle', TEXT_INPUT: { guard: 'hasText', target: '#kai.respond', actions: 'startTextTurn' }, },
    },
    listen: {
      invoke: {
        id: 'listener',
        src: 'listener',
        input: ({ context }) => ({ turn: context.turn, mode: context.mode, fromMs: context.listenFromMs, watchOnly: false }),
        onError: { target: 'error', actions: 'keepActorError' },
      },
      initial: 'waiting',
      on: {
        TRANSCRIPT_INTERIM: { actions: 'keepInterim' },
        TRANSCRIPT_FINAL: [{ guard: 'hasTranscript', target: 'respond', actions: 'keepTranscript' }, { target: 'idle' }],
        TEXT_INPUT: { guard: 'hasText', target: '#kai.respond', actions: 'startTextTurn' },
      },
      states: {
        waiting: {
          after: { noSpeech: '#kai.idle' },
          on: {
            SPEECH_START: 'hearing',
            PTT_STOP: { guard: 'isHold', target: 'finalizing', actions: 'finishUtterance' },
            PTT_TOGGLE: { target: 'finalizing', actions: 'finishUtterance' },
          },
        },
        hearing: {
          after: { maxUtterance: { target: 'finalizing', actions: 'finishUtterance' } },
          on: {
            SPEECH_END: { guard: 'endsByVoice', target: 'finalizing', actions: 'finishUtterance' },
            PTT_STOP: { guard: 'isHold', target: 'finalizing', actions: 'finishUtterance' },
            PTT_TOGGLE: { target: 'finalizing', actions: 'finishUtterance' },
          },
        },
        finalizing: {
          after: {
            transcript: {
              target: '#kai.error',
              actions: { type: 'keepTimeout', params: { source: 'stt', message: 'the speech recognizer took too long' } },
            },
          },
        },
      },
    },
    respond: {
      invoke: {
        id: 'reply',
        src: 'reply',
        input: ({ context }) => ({ turn: context.turn, transcript: context.transcript, announcement: context.announcement }),
        onError: { target: 'error', actions: 'keepActorError' },
      },
      initial: 'think',
      on: {
        REPLY_DONE: [{ guard: 'wantsFollowUp', target: 'followUp', actions: 'keepQuestion' }, { target: 'idle', actions: 'keepQuestion' }],
        PTT_START: { target: 'listen', actions: 'startTurnByVoice' },
        PTT_TOGGLE: { target: 'listen', actions: 'startTurnByVoice' },
        // A new typed request replaces the reply in progress (its reply actor restarts).
        TEXT_INPUT: { guard: 'hasText', target: '#kai.respond', reenter: true, actions: 'startTextTurn' },
      },
      states: {
        think: {
          initial: 'working',
          on: { AUDIO_STARTED: 'speak' },
          states: {
            working: {
              after: {
                think: {
                  target: '#kai.error',
                  actions: { type: 'keepTimeout', params: { source: 'agent', message: 'the answer took too long' } },
                },
              },
              on: { CONFIRM_REQUEST: { target: 'confirm', actions: 'keepPrompt' } },
            },
            confirm: {
              invoke: {
                id: 'confirmation',
                src: 'confirmation',
                input: ({ context }) => ({ turn: context.turn, prompt: context.confirmPrompt, listenMs: context.timeouts.confirmMs }),
                onDone: {
                  target: 'working',
                  actions: [
                    sendTo(
                      'reply',
                      ({ event }) => ({ type: 'CONFIRMED', approved: event.output === 'yes', timedOut: event.output === 'timeout' }) satisfies ReplyCommand,
                    ),
                    emit(({ event }) => ({ type: 'confirmed', approved: event.output === 'yes', by: event.output === 'timeout' ? 'timeout' : 'voice' }) as const),
                  ],
                },
                onError: {
                  target: 'working',
                  actions: [
                    sendTo('reply', { type: 'CONFIRMED', approved: false, timedOut: false } satisfies ReplyCommand),
                    emit({ type: 'confirmed', approved: false, by: 'voice' } as const),
                  ],
                },
              },
              after: {
                confirm: {
                  target: 'working',
                  actions: [
                    sendTo('reply', { type: 'CONFIRMED', approved: false, timedOut: true } satisfies ReplyCommand),
                    emit({ type: 'confirmed', approved: false, by: 'timeout' } as const),
                  ],
                },
              },
              on: {
                CONFIRM_ANSWER: {
                  target: 'working',
                  actions: [
                    sendTo('reply', ({ event }) => ({ type: 'CONFIRMED', approved: event.approved, timedOut: false }) satisfies ReplyCommand),
                    emit(({ event }) => ({ type: 'confirmed', approved: event.approved, by: 'web' }) as const),
                  ],
                },
              },
            },
          },
        },
        speak: {
          invoke: {
            id: 'bargeInDetector',
            src: 'bargeInDetector',
            input: ({ context }) => ({ turn: context.turn }),
            onError: { target: '#kai.error', actions: 'keepActorError' },
          },
          after: { speak: '#kai.idle' },
          on: {
            BARGE_IN: { target: '#kai.listen.hearing', actions: 'startTurnByVoice' },
            WAKE_DETECTED: { target: '#kai.listen', actions: 'startTurnByVoice' },
          },
        },
      },
    },
    followUp: {
      invoke: {
        id: 'listener',
        src: 'listener',
        input: ({ context }) => ({ turn: context.turn, mode: context.mode, fromMs: undefined, watchOnly: true }),
        onError: { target: 'error', actions: 'keepActorError' },
      },
      after: { followUp: 'idle' },
      on: {
        TEXT_INPUT: { guard: 'hasText', target: '#kai.respond', actions: 'startTextTurn' },
        SPEECH_START: { target: 'listen.hearing', actions: 'startTurnByVoice' },
        WAKE_DETECTED: { target: 'listen', actions: 'startTurnByVoice' },
        PTT_START: { target: 'listen', actions: 'startTurnByVoice' },
        PTT_TOGGLE: { target: 'listen', actions: 'startTurnByVoice' },
      },
    },
    error: {
      invoke: {
        id: 'errorAnnouncer',
        src: 'errorAnnouncer',
        input: ({ context }) => context.error ?? { source: 'internal', message: 'something went wrong' },
        onDone: 'idle',
        onError: 'idle',
      },
      after: { errorAnnouncement: 'idle' },
      on: {
        TEXT_INPUT: { guard: 'hasText', target: '#kai.respond', actions: 'startTextTurn' },
        PTT_START: { target: 'wake', actions: 'startTurn' },
        PTT_TOGGLE: { target: 'wake', actions: 'startTurn' },
      },
    },
  },
});

export type ConversationMachine = typeof conversationMachine;
export type ConversationActor = ActorRefFrom<ConversationMachine>;

/** Which child actors must be alive in each resting state (the tests hold the machine to it). */
export const expectedChildren: Record<string, string[]> = {
  idle: ['wakeListener'],
  wake: ['wakeEarcon'],
  'listen.waiting': ['listener'],
  'listen.hearing': ['listener'],
  'listen.finalizing': ['listener'],
  'respond.think.working': ['reply'],
  'respond.think.confirm': ['reply', 'confirmation'],
  'respond.speak': ['reply', 'bargeInDetector'],
  followUp: ['listener'],
  error: ['errorAnnouncer'],
};
