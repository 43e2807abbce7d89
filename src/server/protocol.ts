import { z } from 'zod';
import type { TurnRecord } from '../app/events.js';

/**
 * The control plane's wire format, version 1. Text frames carry one JSON object each; binary frames
 * carry remote audio (16 kHz mono s16le) once a client has sent `audio_start`. A client asks for
 * this version with the WebSocket subprotocol `kai.v1`; the server's first message is `welcome`.
 */
export const PROTOCOL_VERSION = 1;
export const SUBPROTOCOL = 'kai.v1';
/** Browsers cannot set headers on a WebSocket, so the token may come as a second subprotocol `bearer.TOKEN`. */
export const TOKEN_SUBPROTOCOL_PREFIX = 'bearer.';
export const REMOTE_AUDIO_RATE = 16_000;

const text = (max: number) => z.string().min(1).max(max);
/** An optional request id, echoed in the `ack` or `error` that answers it. */
const requestId = { id: z.string().max(64).optional() };

export const clientMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('ptt'), action: z.enum(['start', 'stop', 'toggle']), ...requestId }),
  z.strictObject({ type: z.literal('cancel'), ...requestId }),
  /** Typed input: skips the recognizer and goes straight to the agent. */
  z.strictObject({ type: z.literal('say'), text: text(2000), ...requestId }),
  z.strictObject({ type: z.literal('approve'), requestId: text(64), ...requestId }),
  z.strictObject({ type: z.literal('deny'), requestId: text(64), ...requestId }),
  z.strictObject({ type: z.literal('job_cancel'), jobId: text(128), ...requestId }),
  /**
   * Starts satellite audio: binary frames from now on are this client's microphone. With
   * `playback`, the assistant's speech comes back as binary frames (16 kHz s16le) while this
   * client is the active microphone.
   */
  z.strictObject({
    type: z.literal('audio_start'),
    sampleRate: z.literal(REMOTE_AUDIO_RATE),
    format: z.literal('s16le'),
    playback: z.boolean().default(true),
    ...requestId,
  }),
  z.strictObject({ type: z.literal('audio_stop'), ...requestId }),
  z.strictObject({ type: z.literal('ping'), ...requestId }),
]);
export type ClientMessage = z.infer<typeof clientMessageSchema>;
/** What a client writes (fields with defaults may be left out). */
export type ClientMessageInput = z.input<typeof clientMessageSchema>;

export interface PermissionRequestView {
  id: string;
  prompt: string;
}

export interface JobView {
  id: string;
  task: string;
  status: 'queued' | 'running' | 'done' | 'failed' | 'cancelled' | 'interrupted';
  /** The latest progress line, or the outcome once finished. */
  detail: string;
  createdAt: string;
}

/** A turn's record as the assistant reports it (the metric names DESIGN.md fixes). */
export type TurnView = TurnRecord;

export type ErrorCode = 'bad_json' | 'bad_message' | 'too_large' | 'rate_limited' | 'not_found' | 'not_allowed' | 'bad_audio';

/** Server → client. `t` is milliseconds since the daemon started. */
export type ServerMessage = { t: number } & (
  | {
      type: 'welcome';
      protocol: number;
      state: string;
      pending: PermissionRequestView[];
      jobs: JobView[];
      lastTurn: TurnView | null;
    }
  | { type: 'state'; value: string }
  | { type: 'wake'; keyword: string; score: number }
  | { type: 'transcript'; final: boolean; text: string }
  | { type: 'assistant'; text: string }
  | { type: 'tool_call'; name: string; arguments: unknown }
  | { type: 'tool_result'; name: string; ok: boolean; summary: string }
  | ({ type: 'permission_request' } & PermissionRequestView)
  | { type: 'permission_resolved'; id: string; approved: boolean; by: 'voice' | 'web' | 'timeout' | 'cancel' }
  | { type: 'job'; job: JobView }
  | ({ type: 'turn' } & TurnView)
  /** A speech, LLM or audio service failed (also said out loud). */
  | { type: 'service_error'; source: string; message: string }
  /** Satellite playback was cut (barge-in, cancel): drop any audio still buffered. */
  | { type: 'audio_clear' }
  | { type: 'ack'; id?: string }
  | { type: 'pong'; id?: string }
  /** The client did something wrong; `id` names its request when it had one. */
  | { type: 'error'; code: ErrorCode; message: string; id?: string }
);

/** Parses one text frame; the error is one sentence for the client. */
export function parseClientMessage(raw: string): { ok: true; message: ClientMessage } | { ok: false; code: ErrorCode; message: string; id?: string } {
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    return { ok: false, code: 'bad_json', message: 'messages must be JSON objects' };
  }
  const parsed = clientMessageSchema.safeParse(data);
  if (parsed.success) return { ok: true, message: parsed.data };
  const id = typeof data === 'object' && data !== null && typeof (data as { id?: unknown }).id === 'string' ? (data as { id: string }).id : undefined;
  const type = typeof data === 'object' && data !== null ? (data as { type?: unknown }).type : undefined;
  const issue = parsed.error.issues[0];
  const where = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
  const message =
    typeof type !== 'string'
      ? 'messages need a "type"'
      : issue?.code === 'invalid_union'
        ? `unknown message type "${type.slice(0, 40)}"`
        : `bad "${type.slice(0, 40)}" message${where}: ${issue?.message ?? 'invalid'}`;
  return { ok: false, code: 'bad_message', message, ...(id !== undefined ? { id } : {}) };
}
