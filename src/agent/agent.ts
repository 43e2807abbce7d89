/** What the conversation engine needs from whatever decides the reply (LLM loop, local intents). */
export interface Agent {
  readonly name: string;
  /** Phrases the embedded recognizer's grammar should accept (local commands). */
  phrases(): string[];
  /** Streams the reply to what the user said. The signal aborts on barge-in or cancel. */
  respond(userText: string, context: AgentContext): AsyncIterable<AgentOutput>;
  /** Records how the reply really ended: only `heardText` was played, maybe cut by the user. */
  commitReply(turn: number, outcome: ReplyOutcome): void;
  /** Takes what should be said the next time the assistant is idle (finished jobs). */
  announcements?(): string[];
}

export interface AgentContext {
  turn: number;
  signal: AbortSignal;
  /** Asks the user a yes/no question out loud; silence or anything unclear is no. */
  confirm(prompt: string): Promise<boolean>;
}

export type AgentOutput =
  | { type: 'text'; delta: string }
  | { type: 'tool_call'; name: string; arguments: unknown }
  | { type: 'tool_result'; name: string; ok: boolean; summary: string };

export interface ReplyOutcome {
  /** Everything the agent produced for speech. */
  fullText: string;
  /** What the user actually heard before the reply ended or was interrupted. */
  heardText: string;
  interrupted: boolean;
}

/**
 * The part of `text` heard after `playedMs` of `totalMs` of audio, in proportion to characters
 * (TTS engines give no word timings), cut back to a whole word.
 */
export function heardPart(text: string, playedMs: number, totalMs: number): string {
  if (totalMs <= 0 || playedMs >= totalMs) return text;
  if (playedMs <= 0) return '';
  const cut = Math.floor((text.length * playedMs) / totalMs);
  const space = text.lastIndexOf(' ', cut);
  return text.slice(0, space > 0 ? space : 0).trimEnd();
}
