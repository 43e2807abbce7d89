import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  assistantMessage,
  ChatClient,
  type ChatClientOptions,
  type ChatMessage,
  type LlmEvent,
  type ToolCall,
  type ToolSpec,
  validateToolArguments,
} from '../../src/agent/llm.js';
import { ProviderError } from '../../src/speech/types.js';
import { type ChatReply, type ChatServer, startChatServer, textReply } from '../helpers/chat-server.js';
import { failOnUnhandledRejections } from '../helpers/unhandled.js';

const hello: ChatMessage[] = [
  { role: 'system', content: 'You are Kai.' },
  { role: 'user', content: 'Hello?' },
];

const weather: ToolSpec = {
  name: 'get_weather',
  description: 'Current weather for a city.',
  parameters: z.object({ city: z.string(), unit: z.enum(['c', 'f']).default('c') }),
};
const time: ToolSpec = {
  name: 'get_time',
  description: 'Current time in a timezone.',
  parameters: z.object({ tz: z.string() }),
};

let server: ChatServer;

failOnUnhandledRejections();
beforeAll(async () => {
  server = await startChatServer();
});
afterAll(async () => {
  await server.close();
});

function client(overrides: Partial<ChatClientOptions> = {}): ChatClient {
  return new ChatClient({ baseURL: server.baseURL, model: 'test-model', timeoutMs: 1_000, ...overrides });
}

async function collect(iterable: AsyncIterable<LlmEvent>): Promise<LlmEvent[]> {
  const events: LlmEvent[] = [];
  for await (const e of iterable) events.push(e);
  return events;
}

function run(c: ChatClient, tools?: ToolSpec[], messages = hello): Promise<LlmEvent[]> {
  return collect(c.stream(messages, { signal: new AbortController().signal, ...(tools ? { tools } : {}) }));
}

const calls = (events: LlmEvent[]): ToolCall[] =>
  events.flatMap((e) => (e.type === 'tool_call' ? [e.call] : []));

async function failure(c: ChatClient, reply: ChatReply): Promise<ProviderError> {
  server.enqueue(reply);
  const err = await run(c).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

/** One sentence: no newline, no stack, not empty. */
function expectSentence(message: string): void {
  expect(message).not.toMatch(/\n/);
  expect(message.length).toBeGreaterThan(10);
  expect(message.length).toBeLessThan(240);
}

describe('ChatClient streaming', () => {
  it('streams text deltas in order and ends with done', async () => {
    server.enqueue({
      type: 'stream',
      steps: [
        { type: 'text', text: 'Hel' },
        { type: 'text', text: 'lo, ', delayMs: 20 },
        { type: 'text', text: 'world.', delayMs: 20 },
        { type: 'finish', reason: 'stop' },
        { type: 'usage', promptTokens: 12, completionTokens: 3 },
      ],
    });
    const events = await run(client());
    expect(events).toEqual([
      { type: 'text', delta: 'Hel' },
      { type: 'text', delta: 'lo, ' },
      { type: 'text', delta: 'world.' },
      { type: 'done', finishReason: 'stop', usage: { promptTokens: 12, completionTokens: 3, totalTokens: 15 } },
    ]);
  });

  it('sends model, stream flag, messages and tools converted to JSON Schema', async () => {
    server.enqueue(textReply(['ok']));
    const before = server.requests.length;
    await run(client({ temperature: 0.2, maxTokens: 64, apiKey: 'sk-test' }), [weather, time]);
    const req = server.requests[before];
    expect(req?.path).toBe('/v1/chat/completions');
    expect(req?.authorization).toBe('Bearer sk-test');
    expect(req?.body['stream_options']).toEqual({ include_usage: true });
    expect(req?.model).toBe('test-model');
    expect(req?.stream).toBe(true);
    expect(req?.messages).toEqual(hello);
    expect(req?.body['temperature']).toBe(0.2);
    expect(req?.body['max_tokens']).toBe(64);
    expect(req?.tools).toEqual([
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'Current weather for a city.',
          parameters: {
            type: 'object',
            properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['c', 'f'], default: 'c' } },
            required: ['city'],
          },
        },
      },
      {
        type: 'function',
        function: {
          name: 'get_time',
          description: 'Current time in a timezone.',
          parameters: { type: 'object', properties: { tz: { type: 'string' } }, required: ['tz'] },
        },
      },
    ]);
  });

  it('omits tools when none are given', async () => {
    server.enqueue(textReply(['ok']));
    const before = server.requests.length;
    await run(client());
    expect(server.requests[before]?.tools).toBeUndefined();
  });

  it('assembles a tool call from fragments', async () => {
    server.enqueue({
      type: 'stream',
      steps: [
        { type: 'text', text: 'Let me check.' },
        { type: 'tool', index: 0, id: 'call_abc', name: 'get_' },
        { type: 'tool', index: 0, name: 'weather' },
        { type: 'tool', index: 0, arguments: '{"ci' },
        { type: 'tool', index: 0, arguments: 'ty": "Par' },
        { type: 'tool', index: 0, arguments: 'is"}' },
        { type: 'finish', reason: 'tool_calls' },
      ],
    });
    const events = await run(client(), [weather]);
    expect(events).toEqual([
      { type: 'text', delta: 'Let me check.' },
      {
        type: 'tool_call',
        call: { id: 'call_abc', name: 'get_weather', arguments: { city: 'Paris' }, rawArguments: '{"city": "Paris"}' },
      },
      { type: 'done', finishReason: 'tool_calls' },
    ]);
  });

  it('assembles two parallel tool calls with interleaved fragments', async () => {
    server.enqueue({
      type: 'stream',
      steps: [
        { type: 'tool', index: 0, id: 'call_1', name: 'get_weather' },
        { type: 'tool', index: 1, id: 'call_2', name: 'get_time' },
        { type: 'tool', index: 1, arguments: '{"tz":' },
        { type: 'tool', index: 0, arguments: '{"city":"Oslo",' },
        { type: 'tool', index: 1, arguments: '"Europe/Oslo"}' },
        { type: 'tool', index: 0, arguments: '"unit":"f"}' },
        { type: 'finish', reason: 'tool_calls' },
      ],
    });
    const events = await run(client(), [weather, time]);
    expect(calls(events)).toEqual([
      { id: 'call_1', name: 'get_weather', arguments: { city: 'Oslo', unit: 'f' }, rawArguments: '{"city":"Oslo","unit":"f"}' },
      { id: 'call_2', name: 'get_time', arguments: { tz: 'Europe/Oslo' }, rawArguments: '{"tz":"Europe/Oslo"}' },
    ]);
    expect(events.at(-1)).toEqual({ type: 'done', finishReason: 'tool_calls' });
  });

  it('emits tool calls at stream end when the server never says finish_reason', async () => {
    server.enqueue({ type: 'stream', steps: [{ type: 'tool', index: 0, id: 'c', name: 'get_time', arguments: '' }] });
    const events = await run(client(), [time]);
    expect(events).toEqual([
      { type: 'tool_call', call: { id: 'c', name: 'get_time', arguments: {}, rawArguments: '' } },
      { type: 'done', finishReason: 'unknown' },
    ]);
  });

  it('reports malformed tool arguments as a tool call with a parse error, not a throw', async () => {
    server.enqueue({
      type: 'stream',
      steps: [
        { type: 'tool', index: 0, id: 'call_bad', name: 'get_weather' },
        { type: 'tool', index: 0, arguments: "{city: 'Paris'" },
        { type: 'finish', reason: 'tool_calls' },
      ],
    });
    const [call] = calls(await run(client(), [weather]));
    expect(call?.id).toBe('call_bad');
    expect(call?.name).toBe('get_weather');
    expect(call?.arguments).toBeUndefined();
    expect(call?.rawArguments).toBe("{city: 'Paris'");
    expect(call?.parseError).toMatch(/^arguments are not valid JSON: /);
    expect(call?.parseError).not.toMatch(/\n/);
    const check = validateToolArguments(weather, call!);
    expect(check).toEqual({ ok: false, error: call?.parseError });
  });

  it('builds the assistant history entry from text and tool calls', async () => {
    const call: ToolCall = { id: 'c1', name: 'get_time', arguments: { tz: 'UTC' }, rawArguments: '{"tz":"UTC"}' };
    expect(assistantMessage('Hi.')).toEqual({ role: 'assistant', content: 'Hi.' });
    const entry = assistantMessage('', [call]);
    expect(entry).toEqual({
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_time', arguments: '{"tz":"UTC"}' } }],
    });
    // The history round-trips through the server as the SDK sends it.
    server.enqueue(textReply(['It is noon.']));
    const before = server.requests.length;
    const history: ChatMessage[] = [...hello, entry, { role: 'tool', tool_call_id: 'c1', content: '12:00' }];
    await run(client(), [time], history);
    expect(server.requests[before]?.messages).toEqual(history);
  });
});

describe('validateToolArguments', () => {
  const call = (args: unknown): ToolCall => ({ id: 'x', name: 'get_weather', arguments: args, rawArguments: JSON.stringify(args) });

  it('returns the parsed value with defaults applied', () => {
    expect(validateToolArguments(weather, call({ city: 'Rome' }))).toEqual({ ok: true, value: { city: 'Rome', unit: 'c' } });
  });

  it('summarises every problem in one line', () => {
    const result = validateToolArguments(weather, call({ city: 3, unit: 'k' }));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error).toMatch(/^invalid arguments for get_weather: city: .+; unit: .+/);
    expect(result.error).not.toMatch(/\n/);
  });

  it('reports a non-object argument', () => {
    const result = validateToolArguments(weather, call(null));
    expect(result.ok).toBe(false);
  });
});

describe('ChatClient abort', () => {
  it('aborting mid-stream closes the HTTP request and ends the iterator promptly', async () => {
    server.enqueue(textReply(['one ', 'two ', 'three ', 'four '], { delayMs: 300 }));
    const before = server.requests.length;
    const controller = new AbortController();
    const events: LlmEvent[] = [];
    let abortedAt = 0;
    for await (const e of client({ timeoutMs: 5_000 }).stream(hello, { signal: controller.signal })) {
      events.push(e);
      if (events.length === 1) {
        setTimeout(() => {
          abortedAt = performance.now();
          controller.abort();
        }, 50);
      }
    }
    const endedIn = performance.now() - abortedAt;
    expect(events).toEqual([{ type: 'text', delta: 'one ' }]);
    expect(endedIn).toBeLessThan(250);
    const req = server.requests[before];
    await req?.closed;
    expect(req?.closedEarly).toBe(true);
  });

  it('aborting before the headers arrive ends quietly and closes the socket', async () => {
    server.enqueue({ type: 'silent' });
    const before = server.requests.length;
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const events = await collect(client({ timeoutMs: 5_000 }).stream(hello, { signal: controller.signal }));
    expect(events).toEqual([]);
    const req = server.requests[before];
    await req?.closed;
    expect(req?.closedEarly).toBe(true);
  });

  it('an already aborted signal sends no request', async () => {
    const before = server.requests.length;
    const controller = new AbortController();
    controller.abort();
    expect(await collect(client().stream(hello, { signal: controller.signal }))).toEqual([]);
    expect(server.requests.length).toBe(before);
  });

  it('breaking out of the loop closes the HTTP request', async () => {
    server.enqueue(textReply(['a', 'b', 'c'], { delayMs: 200 }));
    const before = server.requests.length;
    for await (const e of client().stream(hello, { signal: new AbortController().signal })) {
      expect(e).toEqual({ type: 'text', delta: 'a' });
      break;
    }
    const req = server.requests[before];
    await req?.closed;
    expect(req?.closedEarly).toBe(true);
  });

  it('a slow consumer is not mistaken for a stalled server', async () => {
    server.enqueue(textReply(['a', 'b']));
    const events: LlmEvent[] = [];
    for await (const e of client({ timeoutMs: 200 }).stream(hello, { signal: new AbortController().signal })) {
      events.push(e);
      await new Promise((ok) => setTimeout(ok, 300));
    }
    expect(events.map((e) => e.type)).toEqual(['text', 'text', 'done']);
  });
});

describe('ChatClient failures', () => {
  // One client for all failures: each test also proves it still works afterwards.
  const shared = () => client({ timeoutMs: 300 });
  let c: ChatClient;
  beforeAll(() => {
    c = shared();
  });
  afterEach(async () => {
    server.enqueue(textReply(['still ', 'fine']));
    const events = await run(c);
    expect(events.at(-1)).toEqual({ type: 'done', finishReason: 'stop' });
  });

  it('server down → retryable, names the server', async () => {
    const down = await startChatServer();
    const baseURL = down.baseURL;
    await down.close();
    const err = await run(new ChatClient({ baseURL, model: 'm', timeoutMs: 1_000 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    const p = err as ProviderError;
    expect(p.source).toBe('llm');
    expect(p.retryable).toBe(true);
    expect(p.message).toBe(`could not reach the LLM server at ${baseURL}`);
  });

  it('HTTP 500 → retryable, with the server message', async () => {
    const err = await failure(c, { type: 'status', status: 500, message: 'CUDA out of memory' });
    expect(err.retryable).toBe(true);
    expect(err.message).toBe('the LLM server failed (HTTP 500): CUDA out of memory');
    expectSentence(err.message);
  });

  it('HTTP 401 → not retryable, says bad key', async () => {
    const err = await failure(c, { type: 'status', status: 401, message: 'Incorrect API key provided' });
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/rejected the API key \(HTTP 401\)/);
    expectSentence(err.message);
  });

  it('HTTP 404 → not retryable, names the model', async () => {
    const err = await failure(c, { type: 'status', status: 404, message: 'The model `x` does not exist' });
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/does not know the model "test-model" \(HTTP 404\)/);
    expectSentence(err.message);
  });

  it('HTTP 429 → retryable', async () => {
    const err = await failure(c, { type: 'status', status: 429, message: 'Rate limit reached' });
    expect(err.retryable).toBe(true);
    expect(err.message).toBe('the LLM server is busy (HTTP 429): Rate limit reached');
  });

  it('connection reset mid-stream → retryable', async () => {
    const err = await failure(c, {
      type: 'stream',
      steps: [{ type: 'text', text: 'partial' }, { type: 'reset', delayMs: 30 }],
    });
    expect(err.retryable).toBe(true);
    expect(err.message).toBe('the connection to the LLM server broke in the middle of the reply');
  });

  it('stall after the headers → retryable timeout', async () => {
    const started = performance.now();
    const err = await failure(c, { type: 'stream', steps: [{ type: 'text', text: 'Hi' }, { type: 'stall' }] });
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/^the LLM server at .+ sent nothing for 0\.3 s$/);
  });

  it('stall before the first chunk → retryable timeout', async () => {
    const err = await failure(c, { type: 'stream', steps: [{ type: 'stall' }] });
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/sent nothing for 0\.3 s/);
  });

  it('no answer at all (no headers) → retryable timeout, socket closed', async () => {
    const before = server.requests.length;
    const err = await failure(c, { type: 'silent' });
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/sent nothing for 0\.3 s/);
    const req = server.requests[before];
    await req?.closed;
    expect(req?.closedEarly).toBe(true);
  });

  it('a fixed first-chunk latency under the timeout is fine', async () => {
    server.enqueue(textReply(['late'], { firstChunkDelayMs: 200 }));
    const events = await run(c);
    expect(events[0]).toEqual({ type: 'text', delta: 'late' });
  });

  it('garbage SSE line → not retryable, says malformed', async () => {
    const err = await failure(c, {
      type: 'stream',
      steps: [{ type: 'text', text: 'Hi' }, { type: 'raw', data: '{"choices": [oops' }],
    });
    expect(err.retryable).toBe(false);
    expect(err.message).toBe('the LLM server sent a malformed stream event (not JSON)');
  });

  it('an error object inside the stream → ProviderError with the server message', async () => {
    const err = await failure(c, {
      type: 'stream',
      steps: [{ type: 'raw', data: '{"error":{"message":"context length exceeded\\nmore"}}' }],
    });
    expect(err.message).toBe('the LLM server reported an error mid-reply: context length exceeded');
    expectSentence(err.message);
  });

  it('a whole-request limit stops an endless trickle', async () => {
    const trickle = client({ timeoutMs: 300, requestTimeoutMs: 250 });
    const err = await failure(trickle, textReply(['a', 'b', 'c', 'd', 'e', 'f'], { delayMs: 100 }));
    expect(err.retryable).toBe(true);
    expect(err.message).toBe('the LLM reply took longer than 0.25 s');
  });
});
