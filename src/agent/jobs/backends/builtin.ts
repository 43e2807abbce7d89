/**
 * The built-in coding agent: the assistant's own LLM in a loop over the same tool registry (and so
 * the same permission rules) — fully local with vLLM/Ollama.
 *
 * Loop: stream a reply → collect its tool calls → run each through the ToolRunner → feed the results
 * back as tool messages → repeat until the model answers without calling a tool. The final text is
 * the summary. Failures:
 * - run_tests failing `maxAttempts` times in total → the job fails with an escalation summary (the
 *   last test result, "I stopped so you can take a look") instead of thrashing;
 * - the model stopping while the last run_tests failed → failed ("tests still fail");
 * - more than `maxTurns` replies → failed ("ran out of steps");
 * - an LLM error → failed with its sentence.
 * Abort (cancel/shutdown) ends the stream and skips the remaining calls.
 */
import type { ChatMessage, LlmEvent, StreamOptions, ToolCall, ToolSpec } from '../../llm.js';
import { assistantMessage } from '../../llm.js';
import type { BackendOutcome, BackendRun, JobBackend } from '../queue.js';

/** What the built-in agent needs from the tool registry (ToolRegistry fits). */
export interface ToolRunner {
  specs(): readonly ToolSpec[];
  call(
    name: string,
    args: unknown,
    options: { signal: AbortSignal },
  ): Promise<{ status: string; result: { ok: boolean; output: string; spoken: string } }>;
}

/** What it needs from the LLM client (ChatClient fits). */
export interface ChatStreamer {
  stream(messages: readonly ChatMessage[], options: StreamOptions): AsyncIterable<LlmEvent>;
}

export interface BuiltinBackendOptions {
  chat: ChatStreamer;
  tools: ToolRunner;
  /** Failed run_tests calls before giving up; jobs.maxAttempts. */
  maxAttempts: number;
  /** Replies before giving up; default 40. */
  maxTurns?: number;
  /** Tool output fed back to the model is cut to this; default 12 000 characters. */
  maxToolOutputChars?: number;
  /** Replaces the default system prompt. */
  systemPrompt?: string;
}

export const CODING_AGENT_PROMPT = [
  'You are a careful coding agent working alone in a git repository; nobody reads your messages until the end.',
  'Work in this order:',
  '1. Plan: look at the relevant files (read_file, list or search tools) and decide the smallest change that does the task.',
  '2. Edit: change files with edit_file (exact replacements) or write_file (new files). Never touch files outside the task.',
  '3. Verify: call run_tests. If tests fail, read the failure, fix the cause and run them again.',
  '4. Commit: once the tests pass, call git_commit with a short imperative message describing the change.',
  'When you are finished, stop calling tools and reply with one or two plain sentences saying what you changed and whether the tests pass — it will be read aloud.',
  'If you cannot do the task, say why in one sentence and stop.',
].join('\n');

const TEST_TOOL = 'run_tests';

export class BuiltinBackend implements JobBackend {
  readonly name = 'builtin';
  private readonly o: BuiltinBackendOptions;

  constructor(options: BuiltinBackendOptions) {
    this.o = options;
  }

  async run(job: BackendRun): Promise<BackendOutcome> {
    const { signal } = job;
    const maxTurns = this.o.maxTurns ?? 40;
    const cap = this.o.maxToolOutputChars ?? 12_000;
    const files = job.files.length ? `\n\nFiles to start from: ${job.files.join(', ')}` : '';
    const messages: ChatMessage[] = [
      { role: 'system', content: this.o.systemPrompt ?? CODING_AGENT_PROMPT },
      { role: 'user', content: `Task: ${job.task}${files}` },
    ];
    let testFailures = 0;
    let lastTests: { ok: boolean; spoken: string } | undefined;
    let committed = false;
    let toolCalls = 0;
    const cancelled = (): BackendOutcome => ({ ok: false, summary: '', reason: 'cancelled' });
    const detail = () => ({ turns: turn, toolCalls, testFailures, committed });
    let turn = 0;

    job.progress('planning');
    for (; turn < maxTurns; turn++) {
      if (signal.aborted) return cancelled();
      let text = '';
      const calls: ToolCall[] = [];
      try {
        for await (const event of this.o.chat.stream(messages, { tools: this.o.tools.specs(), signal })) {
          if (event.type === 'text') text += event.delta;
          else if (event.type === 'tool_call') calls.push(event.call);
        }
      } catch (err) {
        if (signal.aborted) return cancelled();
        const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
        return { ok: false, summary: '', reason: `the coding model failed: ${why}`, detail: detail() };
      }
      if (signal.aborted) return cancelled();
      messages.push(assistantMessage(text, calls));

      if (calls.length === 0) {
        const summary = firstSentences(text) || 'The coding agent finished.';
        if (lastTests && !lastTests.ok) {
          return {
            ok: false,
            summary: '',
            reason: `the tests still fail (${trimEnd(lastTests.spoken)}) and the agent stopped`,
            detail: detail(),
          };
        }
        return { ok: true, summary, detail: detail() };
      }

      for (const call of calls) {
        if (signal.aborted) return cancelled();
        toolCalls++;
        if (call.parseError !== undefined) {
          messages.push({ role: 'tool', tool_call_id: call.id, content: `error: ${call.parseError}` });
          continue;
        }
        job.progress(describeCall(call));
        let content: string;
        let ok = false;
        let spoken = '';
        try {
          const r = await this.o.tools.call(call.name, call.arguments, { signal });
          ok = r.result.ok;
          spoken = r.result.spoken;
          // A failed call says how it failed (denied by the user, timed out…) so the model can adapt.
          content = ok ? r.result.output : `[${r.status}] ${r.result.output}`;
        } catch (err) {
          if (signal.aborted) return cancelled();
          content = `error: ${err instanceof Error ? err.message : String(err)}`;
        }
        if (signal.aborted) return cancelled();
        messages.push({ role: 'tool', tool_call_id: call.id, content: clip(content, cap) });

        if (call.name === TEST_TOOL) {
          lastTests = { ok, spoken };
          if (ok) job.progress(`tests pass${spoken ? `: ${trimEnd(spoken)}` : ''}`);
          else {
            testFailures++;
            job.progress(`tests fail (attempt ${testFailures} of ${this.o.maxAttempts})`);
            if (testFailures >= this.o.maxAttempts) {
              return {
                ok: false,
                summary: '',
                reason:
                  `the tests still fail after ${testFailures} attempts (${trimEnd(spoken) || 'see the job log'}); ` +
                  'I stopped so you can take a look',
                detail: detail(),
              };
            }
          }
        }
        if (call.name === 'git_commit' && ok) {
          committed = true;
          job.progress('committed');
        }
      }
    }
    return { ok: false, summary: '', reason: `the coding agent ran out of steps after ${maxTurns} replies`, detail: detail() };
  }
}

/** Progress words for one call: "editing src/x.ts", "running the tests", "committing". */
export function describeCall(call: ToolCall): string {
  const args = typeof call.arguments === 'object' && call.arguments !== null ? (call.arguments as Record<string, unknown>) : {};
  const path = typeof args['path'] === 'string' ? args['path'] : typeof args['file'] === 'string' ? args['file'] : undefined;
  switch (call.name) {
    case 'edit_file':
      return `editing ${path ?? 'a file'}`;
    case 'write_file':
      return `writing ${path ?? 'a file'}`;
    case 'read_file':
      return `reading ${path ?? 'a file'}`;
    case TEST_TOOL:
      return 'running the tests';
    case 'git_commit':
      return 'committing';
    default:
      return `using ${call.name}${path ? ` on ${path}` : ''}`;
  }
}

function firstSentences(text: string, count = 2): string {
  const clean = text.replace(/\s+/g, ' ').trim();
  return clean.split(/(?<=[.!?])\s+/).slice(0, count).join(' ');
}

function trimEnd(text: string): string {
  return text.trim().replace(/[.\s]+$/, '');
}

function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  const head = Math.floor(max * 0.6);
  return `${text.slice(0, head)}\n…[${text.length - max} characters cut]…\n${text.slice(text.length - (max - head))}`;
}
