import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import type {
  ChatCompletionChunk,
  ChatCompletionMessageParam,
  ChatCompletionTool,
} from 'openai/resources/chat/completions';
import { z } from 'zod';
import { ProviderError } from '../speech/types.js';

/** A tool call as the assistant message carries it back into the history (SDK-compatible). */
export interface AssistantToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** One history entry; every variant is assignable to the SDK's ChatCompletionMessageParam. */
export type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string }
  | { role: 'assistant'; content: string | null; tool_calls?: AssistantToolCall[] }
  | { role: 'tool'; tool_call_id: string; content: string };

/** A complete tool call. `arguments` is the parsed JSON, or undefined with `parseError` set. */
export interface ToolCall {
  id: string;
  name: string;
  arguments: unknown;
  /** The argument text exactly as the model wrote it (echo it back in the assistant message). */
  rawArguments: string;
  /** Set when `rawArguments` is not valid JSON; one line, meant to be sent back to the model. */
  parseError?: string;
}

export interface ToolSpec<T extends z.ZodType = z.ZodType> {
  name: string;
  description: string;
  parameters: T;
}

export interface LlmUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

export type LlmEvent =
  | { type: 'text'; delta: string }
  | { type: 'tool_call'; call: ToolCall }
  | { type: 'done'; finishReason: string; usage?: LlmUsage };

export interface ChatClientOptions {
  baseURL: string;
  /** Local servers usually need none. */
  apiKey?: string;
  model: string;
  temperature?: number;
  maxTokens?: number;
  /** Longest silence allowed from the server: before the first chunk and between chunks. */
  timeoutMs: number;
  /** Upper bound for a whole reply, headers to last chunk. */
  requestTimeoutMs?: number;
  /** Ask for a usage chunk at the end (`stream_options.include_usage`); default true. */
  includeUsage?: boolean;
}

export interface StreamOptions {
  tools?: readonly ToolSpec[];
  signal: AbortSignal;
}

const schemaCache = new WeakMap<z.ZodType, Record<string, unknown>>();

/** The wire form of a tool: JSON Schema of what the model must send (zod input side). */
export function toolToOpenAI(spec: ToolSpec): ChatCompletionTool {
  let parameters = schemaCache.get(spec.parameters);
  if (!parameters) {
    const { $schema: _ignored, ...schema } = z.toJSONSchema(spec.parameters, { io: 'input' });
    parameters = schema;
    schemaCache.set(spec.parameters, parameters);
  }
  return { type: 'function', function: { name: spec.name, description: spec.description, parameters } };
}

/** Checks a call's arguments against the tool's schema; the error is one line for the model. */
export function validateToolArguments<T extends z.ZodType>(
  spec: ToolSpec<T>,
  call: ToolCall,
): { ok: true; value: z.output<T> } | { ok: false; error: string } {
  if (call.parseError !== undefined) return { ok: false, error: call.parseError };
  const result = spec.parameters.safeParse(call.arguments);
  if (result.success) return { ok: true, value: result.data };
  const issues = result.error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    return path ? `${path}: ${issue.message}` : issue.message;
  });
  return { ok: false, error: `invalid arguments for ${spec.name}: ${issues.join('; ')}` };
}

/** The assistant history entry for a reply that produced `text` and `calls`. */
export function assistantMessage(text: string, calls: readonly ToolCall[] = []): ChatMessage {
  if (calls.length === 0) return { role: 'assistant', content: text };
  return {
    role: 'assistant',
    content: text === '' ? null : text,
    tool_calls: calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.rawArguments } })),
  };
}

/** Collects streamed tool-call fragments per index until the stream says they are complete. */
class ToolCallAssembler {
  private readonly parts = new Map<number, { id: string; name: string; args: string }>();

  add(fragments: readonly ChatCompletionChunk.Choice.Delta.ToolCall[]): void {
    fragments.forEach((fragment, position) => {
      // Some servers omit `index`; fall back to the position in the array.
      const index = typeof fragment.index === 'number' ? fragment.index : position;
      const part = this.parts.get(index) ?? { id: '', name: '', args: '' };
      if (fragment.id) part.id = fragment.id;
      if (fragment.function?.name) part.name += fragment.function.name;
      if (fragment.function?.arguments) part.args += fragment.function.arguments;
      this.parts.set(index, part);
    });
  }

  /** Completed calls in index order; empties the assembler. */
  flush(): ToolCall[] {
    const calls = [...this.parts.entries()].sort(([a], [b]) => a - b).map(([index, p]) => finishCall(index, p));
    this.parts.clear();
    return calls;
  }
}

function finishCall(index: number, part: { id: string; name: string; args: string }): ToolCall {
  const id = part.id || `call_${index}`;
  // Models often send "" for a tool without parameters.
  const text = part.args.trim() === '' ? '{}' : part.args;
  try {
    return { id, name: part.name, arguments: JSON.parse(text) as unknown, rawArguments: part.args };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return {
      id,
      name: part.name,
      arguments: undefined,
      rawArguments: part.args,
      parseError: `arguments are not valid JSON: ${firstLine(reason)}`,
    };
  }
}

/** Streaming chat completions against any OpenAI-compatible server (OpenAI, vLLM, Ollama, llama-server). */
export class ChatClient {
  private readonly client: OpenAI;
  private readonly options: ChatClientOptions;

  constructor(options: ChatClientOptions) {
    this.options = options;
    this.client = new OpenAI({
      baseURL: options.baseURL,
      // The SDK refuses to start without a key; local servers ignore it.
      apiKey: options.apiKey ?? 'no-key',
      // Retries are the assistant's decision: a spoken reply must not wait silently through them.
      maxRetries: 0,
      // Our own timers (idle + whole request) are tighter; this only backs them up.
      timeout: (options.requestTimeoutMs ?? 600_000) + options.timeoutMs,
      // Malformed stream lines are reported as ProviderError; keep the SDK from printing them too.
      logLevel: 'off',
    });
  }

  get model(): string {
    return this.options.model;
  }

  /**
   * Streams one reply. Text deltas come as they arrive; tool calls once complete; `done` last.
   * Aborting `signal` cancels the HTTP request and ends the iteration quietly (no `done`).
   * Failures, including a server silent for `timeoutMs`, are thrown as ProviderError('llm').
   */
  async *stream(messages: readonly ChatMessage[], options: StreamOptions): AsyncGenerator<LlmEvent, void, undefined> {
    const { signal } = options;
    if (signal.aborted) return;
    const o = this.options;
    const request = new AbortController();
    const onAbort = () => request.abort();
    signal.addEventListener('abort', onAbort, { once: true });

    let timedOut: 'idle' | 'total' | undefined;
    let idleTimer: NodeJS.Timeout | undefined;
    const armIdle = () => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => {
        timedOut ??= 'idle';
        request.abort();
      }, o.timeoutMs);
    };
    const pauseIdle = () => clearTimeout(idleTimer);
    const totalTimer =
      o.requestTimeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut ??= 'total';
            request.abort();
          }, o.requestTimeoutMs);

    // Typed, not cast: proves ChatMessage stays compatible with the SDK's message type.
    const wireMessages: ChatCompletionMessageParam[] = [...messages];
    const tools = options.tools?.length ? options.tools.map(toolToOpenAI) : undefined;
    const assembler = new ToolCallAssembler();
    let finishReason: string | undefined;
    let usage: LlmUsage | undefined;

    try {
      armIdle();
      const chunks = await this.client.chat.completions.create(
        {
          model: o.model,
          messages: wireMessages,
          stream: true,
          ...(o.includeUsage === false ? {} : { stream_options: { include_usage: true } }),
          ...(tools ? { tools } : {}),
          ...(o.temperature === undefined ? {} : { temperature: o.temperature }),
          ...(o.maxTokens === undefined ? {} : { max_tokens: o.maxTokens }),
        },
        { signal: request.signal },
      );

      for await (const chunk of chunks) {
        pauseIdle();
        if (chunk.usage) usage = toUsage(chunk.usage);
        for (const choice of chunk.choices ?? []) {
          const delta = choice.delta;
          if (delta?.tool_calls?.length) assembler.add(delta.tool_calls);
          if (typeof delta?.content === 'string' && delta.content !== '') {
            yield { type: 'text', delta: delta.content };
          }
          if (choice.finish_reason) {
            finishReason = choice.finish_reason;
            for (const call of assembler.flush()) yield { type: 'tool_call', call };
          }
        }
        // Re-armed only after the consumer comes back: a slow consumer is not a stalled server.
        armIdle();
      }
      // The SDK ends its iteration quietly when the request is aborted.
      if (timedOut) throw timeoutError(timedOut, o);
      if (signal.aborted) return;
      for (const call of assembler.flush()) yield { type: 'tool_call', call };
      yield usage
        ? { type: 'done', finishReason: finishReason ?? 'unknown', usage }
        : { type: 'done', finishReason: finishReason ?? 'unknown' };
    } catch (err) {
      if (timedOut) throw timeoutError(timedOut, o);
      if (signal.aborted) return;
      throw toProviderError(err, o);
    } finally {
      clearTimeout(idleTimer);
      clearTimeout(totalTimer);
      signal.removeEventListener('abort', onAbort);
      // Ends the HTTP request when the consumer stops early.
      request.abort();
    }
  }
}

function toUsage(u: NonNullable<ChatCompletionChunk['usage']>): LlmUsage {
  return { promptTokens: u.prompt_tokens, completionTokens: u.completion_tokens, totalTokens: u.total_tokens };
}

function timeoutError(kind: 'idle' | 'total', o: ChatClientOptions): ProviderError {
  const message =
    kind === 'idle'
      ? `the LLM server at ${o.baseURL} sent nothing for ${seconds(o.timeoutMs)}`
      : `the LLM reply took longer than ${seconds(o.requestTimeoutMs ?? 0)}`;
  return new ProviderError('llm', message, { retryable: true });
}

/** Maps SDK, fetch and parse failures to one sentence for the user. */
export function toProviderError(err: unknown, o: Pick<ChatClientOptions, 'baseURL' | 'model'>): ProviderError {
  if (err instanceof ProviderError) return err;
  const fail = (message: string, retryable: boolean) => new ProviderError('llm', message, { cause: err, retryable });

  if (err instanceof APIUserAbortError) return fail('the LLM request was cancelled', true);
  if (err instanceof APIConnectionTimeoutError) return fail(`the LLM server at ${o.baseURL} did not answer in time`, true);
  if (err instanceof APIConnectionError) return fail(`could not reach the LLM server at ${o.baseURL}`, true);
  if (err instanceof APIError) {
    const detail = serverDetail(err);
    const suffix = detail ? `: ${detail}` : '';
    const status = err.status;
    if (status === 401 || status === 403) {
      return fail(`the LLM server rejected the API key (HTTP ${status}); check llm.apiKey`, false);
    }
    if (status === 404) {
      return fail(`the LLM server does not know the model "${o.model}" (HTTP 404); check the model name and base URL`, false);
    }
    if (status === 408 || status === 409 || status === 429) return fail(`the LLM server is busy (HTTP ${status})${suffix}`, true);
    if (status !== undefined && status >= 500) return fail(`the LLM server failed (HTTP ${status})${suffix}`, true);
    if (status !== undefined) return fail(`the LLM server refused the request (HTTP ${status})${suffix}`, false);
    return fail(`the LLM server reported an error mid-reply${suffix}`, false);
  }
  if (err instanceof SyntaxError) return fail('the LLM server sent a malformed stream event (not JSON)', false);
  if (isConnectionBreak(err)) return fail('the connection to the LLM server broke in the middle of the reply', true);
  const message = err instanceof Error ? err.message : String(err);
  return fail(`the LLM request failed: ${firstLine(message)}`, false);
}

/** undici reports a socket closed mid-body as TypeError('terminated') with the socket error as cause. */
function isConnectionBreak(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (e.message === 'terminated' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET') return true;
  }
  return false;
}

function serverDetail(err: APIError): string {
  const body: unknown = err.error;
  const raw =
    typeof body === 'object' && body !== null && 'message' in body && typeof body.message === 'string'
      ? body.message
      : typeof body === 'string'
        ? body
        : '';
  const line = firstLine(raw).replace(/\.$/, '');
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}

function firstLine(text: string): string {
  return (text.split('\n')[0] ?? '').trim();
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(2))} s`;
}
