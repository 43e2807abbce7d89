import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One thing the scripted stream does, after waiting `delayMs` (default 0). */
export type ChatStep = { delayMs?: number } & (
  | { type: 'text'; text: string }
  /** One tool-call fragment; send id/name first and arguments in later fragments, like real servers. */
  | { type: 'tool'; index: number; id?: string; name?: string; arguments?: string }
  | { type: 'finish'; reason: string }
  | { type: 'usage'; promptTokens: number; completionTokens: number }
  /** An SSE `data:` line sent verbatim (garbage, a mid-stream `{"error":…}` object, …). */
  | { type: 'raw'; data: string }
  /** Destroys the socket (connection reset mid-stream). */
  | { type: 'reset' }
  /** Sends nothing more, ever; the socket stays open. */
  | { type: 'stall' }
);

export type ChatReply =
  | {
      type: 'stream';
      steps: ChatStep[];
      /** Wait after the headers before the first chunk (benchmarks subtract it). */
      firstChunkDelayMs?: number;
      /** Send `data: [DONE]` and end the response after the steps; default true. */
      done?: boolean;
    }
  /** An OpenAI-style JSON error body with this status. */
  | { type: 'status'; status: number; message: string }
  /** Accepts the request and never answers, not even headers. */
  | { type: 'silent' };

export interface RecordedChatRequest {
  path: string;
  authorization: string | undefined;
  body: Record<string, unknown>;
  model: unknown;
  messages: unknown;
  tools: unknown;
  stream: unknown;
  /** True once the client went away before the reply was complete. */
  closedEarly: boolean;
  /** Resolves when the connection for this request closed (either side). */
  closed: Promise<void>;
}

export interface ChatServer {
  /** http://127.0.0.1:PORT/v1 — what the client takes as baseURL. */
  baseURL: string;
  requests: RecordedChatRequest[];
  /** Queues the reply for the next request; without one the server streams "ok". */
  enqueue(...replies: ChatReply[]): void;
  close(): Promise<void>;
}

/** A stream of text deltas `parts`, then finish_reason 'stop'. */
export function textReply(parts: string[], options: { delayMs?: number; firstChunkDelayMs?: number } = {}): ChatReply {
  const steps: ChatStep[] = parts.map((text) => ({ type: 'text', text, delayMs: options.delayMs ?? 0 }));
  steps.push({ type: 'finish', reason: 'stop' });
  return { type: 'stream', steps, firstChunkDelayMs: options.firstChunkDelayMs ?? 0 };
}

const sleep = (ms: number) => new Promise<void>((ok) => setTimeout(ok, ms));

/** A loopback OpenAI-compatible `/chat/completions` server that plays scripted replies. */
export async function startChatServer(): Promise<ChatServer> {
  const queue: ChatReply[] = [];
  const requests: RecordedChatRequest[] = [];

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    let closeDone!: () => void;
    const recorded: RecordedChatRequest = {
      path: req.url ?? '',
      authorization: req.headers.authorization,
      body: {},
      model: undefined,
      messages: undefined,
      tools: undefined,
      stream: undefined,
      closedEarly: false,
      closed: new Promise<void>((ok) => (closeDone = ok)),
    };
    requests.push(recorded);
    res.on('close', () => {
      if (!res.writableFinished) recorded.closedEarly = true;
      closeDone();
    });

    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    try {
      recorded.body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    } catch {
      recorded.body = {};
    }
    Object.assign(recorded, {
      model: recorded.body['model'],
      messages: recorded.body['messages'],
      tools: recorded.body['tools'],
      stream: recorded.body['stream'],
    });

    if (!recorded.path.endsWith('/chat/completions')) {
      return sendJson(res, 404, { error: { message: `no route ${recorded.path}`, type: 'not_found' } });
    }
    const reply = queue.shift() ?? textReply(['ok']);
    if (reply.type === 'silent') return;
    if (reply.type === 'status') {
      return sendJson(res, reply.status, { error: { message: reply.message, type: 'error', code: reply.status } });
    }
    await play(reply, String(recorded.model), res);
  };

  const server = createServer({ noDelay: true }, (req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;

  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    enqueue: (...replies) => void queue.push(...replies),
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function play(reply: Extract<ChatReply, { type: 'stream' }>, model: string, res: ServerResponse): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  res.flushHeaders();
  if (reply.firstChunkDelayMs) await sleep(reply.firstChunkDelayMs);
  let first = true;
  const chunk = (delta: Record<string, unknown>, finish: string | null = null, extra: Record<string, unknown> = {}) => {
    if (first) delta = { role: 'assistant', ...delta };
    first = false;
    const body = {
      id: 'chatcmpl-test',
      object: 'chat.completion.chunk',
      created: Math.floor(Date.now() / 1000),
      model,
      choices: [{ index: 0, delta, finish_reason: finish }],
      ...extra,
    };
    res.write(`data: ${JSON.stringify(body)}\n\n`);
  };

  for (const step of reply.steps) {
    if (step.delayMs) await sleep(step.delayMs);
    if (res.destroyed) return;
    switch (step.type) {
      case 'text':
        chunk({ content: step.text });
        break;
      case 'tool': {
        const fn: Record<string, string> = {};
        if (step.name !== undefined) fn['name'] = step.name;
        if (step.arguments !== undefined) fn['arguments'] = step.arguments;
        const call: Record<string, unknown> = { index: step.index, function: fn };
        if (step.id !== undefined) Object.assign(call, { id: step.id, type: 'function' });
        chunk({ tool_calls: [call] });
        break;
      }
      case 'finish':
        chunk({}, step.reason);
        break;
      case 'usage':
        res.write(
          `data: ${JSON.stringify({
            id: 'chatcmpl-test',
            object: 'chat.completion.chunk',
            created: Math.floor(Date.now() / 1000),
            model,
            choices: [],
            usage: {
              prompt_tokens: step.promptTokens,
              completion_tokens: step.completionTokens,
              total_tokens: step.promptTokens + step.completionTokens,
            },
          })}\n\n`,
        );
        break;
      case 'raw':
        res.write(`data: ${step.data}\n\n`);
        break;
      case 'reset':
        res.socket?.resetAndDestroy();
        return;
      case 'stall':
        return;
    }
  }
  if (reply.done === false) return void res.end();
  res.end('data: [DONE]\n\n');
}
