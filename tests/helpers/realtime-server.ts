import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { WebSocketServer, type WebSocket } from 'ws';

export type RealtimeDialectName = 'openai' | 'speaches' | 'vllm';

export type Failure =
  /** Refuse the WebSocket upgrade with this HTTP status. */
  | { type: 'reject'; status: number }
  /** Close the socket (code 1011) after this many appends. */
  | { type: 'close'; afterAppends: number }
  /** Take everything, never send the final transcript. */
  | { type: 'stall' }
  /** Answer the first append with text that is not JSON. */
  | { type: 'garbage' }
  /** Answer the first append with an `error` event. */
  | { type: 'error'; message: string; errorType?: string };

export interface Script {
  /** Transcript pieces sent after the commit (ignored by speaches, which sends no deltas). */
  deltas: string[];
  /** The final transcript; by default the deltas joined. */
  final?: string;
  /** Delay before each reply event after the commit, in ms. */
  delayMs: number;
  /** openai/speaches: send speech_started on the first append and speech_stopped at the commit. */
  speechEvents: boolean;
  failure?: Failure;
}

export interface Received {
  /** performance.now() when the message arrived. */
  at: number;
  raw: string;
  /** The parsed message, or null when it was not JSON. */
  json: Record<string, unknown> | null;
}

export interface Connection {
  /** Path and query of the upgrade request. */
  path: string;
  headers: IncomingMessage['headers'];
  received: Received[];
  /** Resolves with the close code and performance.now() when the socket closed. */
  closed: Promise<{ code: number; at: number }>;
  isClosed(): boolean;
}

export interface RealtimeServer {
  /** ws://127.0.0.1:PORT/v1/realtime */
  url: string;
  dialect: RealtimeDialectName;
  connections: Connection[];
  /** Upgrade requests seen, including refused ones. */
  upgrades: number;
  /** Replaces part of the script for the next connections. */
  set(script: Partial<Script>): void;
  /** Back to the default happy script. */
  reset(): void;
  /** Resolves when the n-th (0-based) connection has been accepted. */
  connection(n: number): Promise<Connection>;
  close(): Promise<void>;
}

const defaultScript = (): Script => ({ deltas: ['run the', ' tests', ' please'], delayMs: 0, speechEvents: true });

/** Decoded audio bytes of every append a connection received. */
export function appendedBytes(connection: Connection): Buffer[] {
  return connection.received
    .filter((m) => m.json?.['type'] === 'input_audio_buffer.append')
    .map((m) => Buffer.from(String(m.json?.['audio']), 'base64'));
}

export function messageTypes(connection: Connection): string[] {
  return connection.received.map((m) => String(m.json?.['type'] ?? '<not json>'));
}

/** A scripted realtime transcription server speaking one dialect of PROTOCOLS.md on loopback. */
export async function startRealtimeServer(dialect: RealtimeDialectName): Promise<RealtimeServer> {
  let script = defaultScript();
  const connections: Connection[] = [];
  const waiters: (() => void)[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let upgrades = 0;

  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    verifyClient: (_info, done) => {
      upgrades++;
      const failure = script.failure;
      if (failure?.type === 'reject') done(false, failure.status, 'Refused by the test script');
      else done(true);
    },
  });
  await new Promise<void>((ok) => wss.once('listening', () => ok()));
  const { port } = wss.address() as AddressInfo;

  wss.on('connection', (ws, req) => {
    const current = script;
    let closedFlag = false;
    const connection: Connection = {
      path: req.url ?? '',
      headers: req.headers,
      received: [],
      closed: new Promise((ok) =>
        ws.once('close', (code) => {
          closedFlag = true;
          ok({ code, at: performance.now() });
        }),
      ),
      isClosed: () => closedFlag,
    };
    connections.push(connection);
    waiters.splice(0).forEach((w) => w());
    ws.on('error', () => undefined);
    serve(ws, connection, current);
  });

  function later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  }

  function serve(ws: WebSocket, connection: Connection, s: Script): void {
    const send = (event: Record<string, unknown>) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(event));
    };
    let appends = 0;
    const itemId = `item_${connections.length}`;
    send(dialect === 'vllm' ? { type: 'session.created', id: 'sess_1' } : { type: 'session.created', session: {} });

    ws.on('message', (data) => {
      const raw = String(data);
      let json: Record<string, unknown> | null = null;
      try {
        json = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        json = null;
      }
      connection.received.push({ at: performance.now(), raw, json });
      const type = json?.['type'];
      if (type === 'session.update') send({ type: 'session.updated', session: {} });
      else if (type === 'input_audio_buffer.append') onAppend();
      else if (type === 'input_audio_buffer.commit' && (dialect !== 'vllm' || json?.['final'] === true)) onCommit();
    });

    function onAppend(): void {
      appends++;
      const f = s.failure;
      if (f?.type === 'close' && appends === f.afterAppends) ws.close(1011, 'test server gave up');
      if (appends !== 1) return;
      if (s.speechEvents && dialect !== 'vllm') send({ type: 'input_audio_buffer.speech_started', audio_start_ms: 0, item_id: itemId });
      if (f?.type === 'garbage') ws.send('<html>502 Bad Gateway</html>');
      if (f?.type === 'error') {
        send({ type: 'error', error: { type: f.errorType ?? 'invalid_request_error', code: 'test', message: f.message } });
      }
    }

    function onCommit(): void {
      if (s.failure) return; // every failure mode withholds the final
      const replies: Record<string, unknown>[] = [];
      const text = s.final ?? s.deltas.join('');
      if (dialect === 'vllm') {
        for (const delta of s.deltas) replies.push({ type: 'transcription.delta', delta });
        replies.push({ type: 'transcription.done', text });
      } else {
        if (s.speechEvents) replies.push({ type: 'input_audio_buffer.speech_stopped', audio_end_ms: 1000, item_id: itemId });
        replies.push({ type: 'input_audio_buffer.committed', item_id: itemId, previous_item_id: null });
        if (dialect === 'openai') {
          for (const delta of s.deltas) {
            replies.push({ type: 'conversation.item.input_audio_transcription.delta', item_id: itemId, content_index: 0, delta });
          }
        }
        replies.push({ type: 'conversation.item.input_audio_transcription.completed', item_id: itemId, content_index: 0, transcript: text });
      }
      if (s.delayMs <= 0) replies.forEach(send);
      else replies.forEach((r, i) => later(s.delayMs * (i + 1), () => send(r)));
    }
  }

  return {
    url: `ws://127.0.0.1:${port}/v1/realtime`,
    dialect,
    connections,
    get upgrades() {
      return upgrades;
    },
    set: (partial) => void (script = { ...script, ...partial }),
    reset: () => void (script = defaultScript()),
    connection: async (n) => {
      while (connections.length <= n) await new Promise<void>((ok) => waiters.push(ok));
      return connections[n]!;
    },
    close: async () => {
      timers.forEach(clearTimeout);
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((ok) => wss.close(() => ok()));
    },
  };
}
