/** Everything that can happen to the conversation; actors and the outside world send these. */
export type MachineEvent =
  /** atMs: end of the wake phrase on the audio timeline; the user's words are taken from there. */
  | { type: 'WAKE_DETECTED'; keyword: string; score: number; atMs?: number }
  | { type: 'PTT_START' }
  | { type: 'PTT_STOP' }
  | { type: 'PTT_TOGGLE' }
  | { type: 'CANCEL' }
  /** Typed input (web page, control socket): goes to the agent as the transcript of a new turn. */
  | { type: 'TEXT_INPUT'; text: string }
  /** An answer to the pending confirmation from outside the voice channel (the web page). */
  | { type: 'CONFIRM_ANSWER'; approved: boolean }
  /** From the listener: the VAD heard speech start / the utterance end (silence). */
  | { type: 'SPEECH_START'; atMs?: number }
  | { type: 'SPEECH_END' }
  | { type: 'TRANSCRIPT_INTERIM'; text: string }
  | { type: 'TRANSCRIPT_FINAL'; text: string }
  /** From the reply: the first audio of the answer went to the speaker. */
  | { type: 'AUDIO_STARTED' }
  | { type: 'REPLY_DONE'; askedQuestion: boolean }
  /** From the reply: a risky tool wants a spoken yes before it runs. */
  | { type: 'CONFIRM_REQUEST'; prompt: string }
  /** From the barge-in detector: the user talks over the reply. */
  | { type: 'BARGE_IN'; atMs?: number }
  /** Something to tell the user while nothing else is going on (a finished job). */
  | { type: 'ANNOUNCE'; text: string }
  /** A speech, LLM or audio service failed; the machine says so and goes idle. */
  | { type: 'SERVICE_ERROR'; source: string; message: string };

/** Sent to the listener actor. */
export type ListenerCommand = { type: 'FINISH' };

/** Sent to the reply actor. */
export type ReplyCommand = { type: 'CONFIRMED'; approved: boolean; timedOut: boolean };

/** Emitted by the machine when a confirmation is settled, and by whom. */
export type ConfirmationSettled = { type: 'confirmed'; approved: boolean; by: 'voice' | 'web' | 'timeout' };
