import type { JobView, PermissionRequestView, ServerMessage, TurnView } from './protocol.js';

/** A server message before the server stamps its time. */
export type ServerEvent = ServerMessage extends infer M ? (M extends { t: number } ? Omit<M, 't'> : never) : never;

/** Where a satellite's speech goes: binary frames and a "drop what you buffered" message. */
export interface RemotePlayback {
  send(samples: Int16Array): void;
  clear(): void;
}

/** A satellite microphone attached to the assistant. */
export interface RemoteMicrophone {
  /** False when audio had to be dropped (the client sends faster than real time for too long). */
  push(samples: Int16Array): boolean;
  close(): void;
}

/** What the control plane (WebSocket, control socket, HTTP) can see and do; the daemon provides it. */
export interface ControlTarget {
  /** Milliseconds since the daemon started (the `t` of every message). */
  now(): number;
  snapshot(): { state: string; pending: PermissionRequestView[]; jobs: JobView[]; lastTurn: TurnView | null };
  subscribe(listener: (event: ServerEvent) => void): () => void;
  ptt(action: 'start' | 'stop' | 'toggle'): void;
  cancel(): void;
  say(text: string): void;
  /** False when no such request is pending. */
  answer(requestId: string, approved: boolean): boolean;
  /** False when no such job is queued or running. */
  cancelJob(jobId: string): Promise<boolean>;
  attachMicrophone(playback: RemotePlayback | null): RemoteMicrophone;
  health(): Promise<Record<string, unknown>>;
  metrics(): string;
}
