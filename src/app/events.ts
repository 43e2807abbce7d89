/** What the assistant reports as it runs (kai simulate writes these as JSON lines). */
export type AssistantEvent =
  | { type: 'state'; value: string }
  | { type: 'wake'; keyword: string; score: number }
  | { type: 'transcript'; final: boolean; text: string }
  | { type: 'assistant'; text: string }
  | { type: 'tool_call'; name: string; arguments: unknown }
  | { type: 'tool_result'; name: string; ok: boolean; summary: string }
  | { type: 'error'; source: string; message: string }
  /** A risky action waits for a yes (spoken, or from the web page). */
  | { type: 'permission_request'; id: string; prompt: string }
  | { type: 'permission_resolved'; id: string; approved: boolean; by: 'voice' | 'web' | 'timeout' | 'cancel' }
  | ({ type: 'turn' } & TurnRecord);

/** One record per turn, with the metric names DESIGN.md fixes (benchmarks read them). */
export interface TurnRecord {
  turn: number;
  wakeScore: number | null;
  /** VAD end of speech → end-of-turn decision. */
  eouDelayMs: number | null;
  /** End of turn → final transcript. */
  sttFinalMs: number | null;
  /** LLM request → first token. */
  llmTtftMs: number | null;
  /** First sentence sent to TTS → its first audio. */
  ttsTtfbMs: number | null;
  /** End of user speech → first reply audio written to the sink. */
  voiceToVoiceMs: number | null;
  /** Speech onset → playback stopped (barge-in only). */
  bargeInStopMs: number | null;
  /** The barge-in decision → playback cleared (the part the pipeline controls). */
  bargeInClearMs: number | null;
  interrupted: boolean;
  transcript: string;
  heardText: string;
  errors: string[];
}

export type EventSink = (event: AssistantEvent, atMs: number) => void;
