import { z } from 'zod';
import { describeError, KaiError } from '../../errors.js';
import type { ToolSpec } from '../llm.js';
import type { AnyTool, Decision, ToolResult, Verdict } from './types.js';
import { Workspace } from './workspace.js';
import type { AuditEntry, AuditVia } from '../permissions/audit.js';

/** A tool name the model can call: snake_case, 2 to 64 characters. */
export const TOOL_NAME = /^[a-z][a-z0-9_]{1,63}$/;

/** Who settled a permission decision: a config rule, the built-in command policy, the mode, the user's answer, or no answer. */
export type DecisionSource = AuditVia;
export type { AuditEntry };

/** The gate's verdict; `via` (default 'rule') and `rule` are copied into the audit entry when present. */
export interface GateVerdict extends Verdict {
  via?: 'rule' | 'policy' | 'mode';
  rule?: string;
}

/** What the registry asks before running a tool; the permissions module implements it. */
export interface PermissionGate {
  check(tool: AnyTool, args: unknown): GateVerdict;
  record(entry: AuditEntry): void;
}

/** A gate that allows everything and keeps its audit entries in memory (tests, trusted setups). */
export function allowAll(): PermissionGate & { entries: AuditEntry[] } {
  const entries: AuditEntry[] = [];
  return {
    entries,
    check: () => ({ decision: 'allow', reason: 'everything is allowed', via: 'mode' }),
    record: (entry) => void entries.push(entry),
  };
}

export type ToolCallStatus = 'ok' | 'error' | 'denied' | 'invalid' | 'unknown' | 'timeout' | 'cancelled';

/** Every call ends in one of these; `result` is always something the model can read. */
export interface ToolCallOutcome {
  status: ToolCallStatus;
  result: ToolResult;
}

/** The wire form of one tool for OpenAI-compatible function calling. */
export interface FunctionToolSpec {
  type: 'function';
  function: { name: string; description: string; parameters: Record<string, unknown> };
}

export interface ToolRegistryOptions {
  /** Default per-tool time limit (a tool's own `timeoutMs` wins). */
  timeoutMs: number;
  /** Cap on the model-facing output of every result. */
  maxOutputChars: number;
  gate: PermissionGate;
  /** The workspace root handed to tools (realpath'd here); default: the current directory. */
  root?: string;
  /** After an abort, how long to wait for the tool to return its partial output (default 1000 ms). */
  abortGraceMs?: number;
}

export interface ToolCallOptions {
  /** Barge-in / cancel: reaches the running tool. */
  signal: AbortSignal;
  /** Asks the user a yes/no question ("Run npm install in the api folder?"). */
  confirm: (question: string) => Promise<boolean>;
}

/** The tool registry was given a bad tool set (a programming error, caught at start-up). */
export class ToolRegistryError extends KaiError {}

/** Validates, gates, runs (with timeout and cancel) and caps tool calls; never throws from `call`. */
export class ToolRegistry {
  private readonly tools = new Map<string, AnyTool>();
  private readonly options: ToolRegistryOptions;
  private readonly schemas = new Map<string, Record<string, unknown>>();
  private rootPromise: Promise<string> | undefined;

  constructor(tools: readonly AnyTool[], options: ToolRegistryOptions) {
    for (const tool of tools) {
      if (!TOOL_NAME.test(tool.name)) {
        throw new ToolRegistryError(
          `bad tool name "${tool.name}": use 2 to 64 lowercase letters, digits or _ starting with a letter`,
        );
      }
      if (this.tools.has(tool.name)) throw new ToolRegistryError(`two tools are called "${tool.name}"`);
      this.tools.set(tool.name, tool);
    }
    if (!(options.timeoutMs > 0)) throw new ToolRegistryError('the tool timeout must be positive');
    if (!(options.maxOutputChars >= 100)) throw new ToolRegistryError('maxOutputChars must be at least 100');
    this.options = options;
  }

  list(): AnyTool[] {
    return [...this.tools.values()];
  }

  get(name: string): AnyTool | undefined {
    return this.tools.get(name);
  }

  /** JSON Schema function specs (the zod input side, without `$schema`). */
  specs(): FunctionToolSpec[] {
    return this.list().map((tool) => ({
      type: 'function',
      function: { name: tool.name, description: tool.description, parameters: this.schemaOf(tool) },
    }));
  }

  /** The same tools in the form `ChatClient.stream({ tools })` takes. */
  toolSpecs(): ToolSpec[] {
    return this.list().map((tool) => ({ name: tool.name, description: tool.description, parameters: tool.input }));
  }

  /**
   * The registry with a fixed confirmation callback, in the shape the coding-agent job backend takes
   * (`ToolRunner`: zod `specs()` for ChatClient.stream and `call(name, args, { signal })`).
   */
  withConfirm(confirm: ToolCallOptions['confirm']): {
    specs(): ToolSpec[];
    call(name: string, rawArgs: unknown, options: { signal: AbortSignal }): Promise<ToolCallOutcome>;
  } {
    return {
      specs: () => this.toolSpecs(),
      call: (name, rawArgs, options) => this.call(name, rawArgs, { signal: options.signal, confirm }),
    };
  }

  async call(name: string, rawArgs: unknown, options: ToolCallOptions): Promise<ToolCallOutcome> {
    try {
      return await this.callUnsafe(name, rawArgs, options);
    } catch (err) {
      // Only a broken gate or confirm callback can get here; still an answer, never a throw.
      return outcome('error', false, `${name} failed: ${describeError(err)}`, `${name} failed.`);
    }
  }

  private async callUnsafe(name: string, rawArgs: unknown, options: ToolCallOptions): Promise<ToolCallOutcome> {
    const tool = this.tools.get(name);
    if (!tool) {
      const known = [...this.tools.keys()].join(', ') || 'none';
      return outcome('unknown', false, `unknown tool "${oneLine(name, 80)}"; the tools are: ${known}`, `I don't have a tool called ${oneLine(name, 40)}.`);
    }

    const parsed = parseArguments(tool, rawArgs);
    if (!parsed.ok) return outcome('invalid', false, parsed.error, `The request to ${spokenName(tool)} was malformed.`);
    const args: unknown = parsed.value;

    if (options.signal.aborted) return cancelled(tool);

    const subject = safe(() => tool.subject(args), '');
    const verdict = this.options.gate.check(tool, args);
    const base = {
      tool: tool.name,
      subject,
      decision: verdict.decision,
      reason: verdict.reason,
      ...(typeof verdict.rule === 'string' ? { rule: verdict.rule } : {}),
    };
    const record = (extra: Pick<AuditEntry, 'via'> & { approved?: boolean }): void =>
      this.options.gate.record({ time: new Date().toISOString(), ...base, ...extra });

    if (verdict.decision === 'deny') {
      record({ via: verdict.via ?? 'rule' });
      return outcome(
        'denied',
        false,
        `${tool.name} was not run: ${verdict.reason}`,
        `I'm not allowed to ${safe(() => tool.describe(args), tool.name)}.`,
      );
    }
    if (verdict.decision === 'ask') {
      const question = asQuestion(safe(() => tool.describe(args), `use ${tool.name}`));
      let approved: boolean;
      try {
        approved = await raceAbort(options.confirm(question), options.signal);
      } catch (err) {
        if (options.signal.aborted) {
          record({ via: 'user', approved: false });
          return cancelled(tool);
        }
        record({ via: 'timeout', approved: false });
        return outcome('denied', false, `${tool.name} was not run: no answer to "${question}" (${describeError(err)})`, 'No answer, so I did nothing.');
      }
      record({ via: 'user', approved });
      if (!approved) {
        return outcome('denied', false, `${tool.name} was not run: the user said no to "${question}"`, "Okay, I won't.");
      }
    } else {
      record({ via: verdict.via ?? 'rule' });
    }

    let root: string;
    try {
      root = await this.root();
    } catch (err) {
      return outcome('error', false, `${tool.name} failed: ${describeError(err)}`, `${capitalize(spokenName(tool))} failed.`);
    }
    return this.execute(tool, args, root, options.signal);
  }

  private root(): Promise<string> {
    this.rootPromise ??= Workspace.open(this.options.root ?? process.cwd()).then((w) => w.root);
    const promise = this.rootPromise;
    // A missing folder may appear later: do not cache the failure.
    promise.catch(() => {
      if (this.rootPromise === promise) this.rootPromise = undefined;
    });
    return promise;
  }

  private async execute(tool: AnyTool, args: unknown, root: string, signal: AbortSignal): Promise<ToolCallOutcome> {
    const limitMs = tool.timeoutMs ?? this.options.timeoutMs;
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new ToolTimeoutError(`${tool.name} timed out`)), limitMs);
    const combined = AbortSignal.any([signal, timeout.signal]);
    const running = (async (): Promise<ToolResult> => tool.execute(args, { signal: combined, root }))();
    void running.catch(() => undefined);
    try {
      const settled = await settleOrAbort(running, combined);
      if (!combined.aborted && settled.kind === 'value') {
        return this.capped(settled.value.refused ? 'denied' : settled.value.ok ? 'ok' : 'error', settled.value);
      }
      if (!combined.aborted && settled.kind === 'error') {
        return outcome('error', false, `${tool.name} failed: ${describeError(settled.error)}`, `${capitalize(spokenName(tool))} failed.`);
      }
      // Aborted: give the tool a moment to hand back what it has so far.
      const late = settled.kind === 'aborted' ? await settleWithin(running, this.options.abortGraceMs ?? 1000) : settled;
      const partial = late?.kind === 'value' && late.value.output ? `\npartial output:\n${late.value.output}` : '';
      const data = late?.kind === 'value' ? late.value.data : undefined;
      if (timeout.signal.aborted && !signal.aborted) {
        return this.capped('timeout', {
          ok: false,
          output: `${tool.name} timed out after ${seconds(limitMs)} and was stopped${partial}`,
          spoken: `${capitalize(spokenName(tool))} took too long, so I stopped it.`,
          ...(data === undefined ? {} : { data }),
        });
      }
      return this.capped('cancelled', {
        ok: false,
        output: `${tool.name} was cancelled by the user${partial}`,
        spoken: 'Stopped.',
        ...(data === undefined ? {} : { data }),
      });
    } finally {
      clearTimeout(timer);
    }
  }

  private capped(status: ToolCallStatus, result: ToolResult): ToolCallOutcome {
    return {
      status,
      result: {
        ...result,
        output: capOutput(String(result.output ?? ''), this.options.maxOutputChars),
        spoken: capOutput(String(result.spoken ?? ''), 400),
      },
    };
  }

  private schemaOf(tool: AnyTool): Record<string, unknown> {
    let schema = this.schemas.get(tool.name);
    if (!schema) {
      const { $schema: _ignored, ...rest } = z.toJSONSchema(tool.input, { io: 'input', unrepresentable: 'any' });
      schema = rest;
      this.schemas.set(tool.name, schema);
    }
    return schema;
  }
}

/** The registry ran a tool for longer than its limit. */
export class ToolTimeoutError extends KaiError {}

/**
 * Keeps the head and the tail of `text` within `max` characters and says how much was cut.
 * The result is never longer than `max` (unless `max` is too small to say anything).
 */
export function capOutput(text: string, max: number): string {
  if (text.length <= max) return text;
  const note = (cut: number): string => `\n[... ${cut} characters cut ...]\n`;
  const room = max - note(text.length).length;
  if (room <= 0) return text.slice(0, max);
  const head = Math.ceil(room * 0.6);
  const tail = room - head;
  const cut = text.length - head - tail;
  return `${text.slice(0, head)}${note(cut)}${tail > 0 ? text.slice(text.length - tail) : ''}`;
}

function parseArguments(tool: AnyTool, raw: unknown): { ok: true; value: unknown } | { ok: false; error: string } {
  let value = raw;
  if (value === undefined || value === null) value = {};
  if (typeof value === 'string') {
    const text = value.trim() === '' ? '{}' : value;
    try {
      value = JSON.parse(text) as unknown;
    } catch (err) {
      return { ok: false, error: `invalid arguments for ${tool.name}: not valid JSON (${oneLine(describeError(err), 120)})` };
    }
  }
  const result = tool.input.safeParse(value);
  if (result.success) return { ok: true, value: result.data };
  const issues = result.error.issues.map((issue) => {
    const where = issue.path.map(String).join('.');
    return where ? `${where}: ${issue.message}` : issue.message;
  });
  return { ok: false, error: oneLine(`invalid arguments for ${tool.name}: ${issues.join('; ')}`, 500) };
}

type Settled<T> = { kind: 'value'; value: T } | { kind: 'error'; error: unknown } | { kind: 'aborted' };

function settleOrAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<Settled<T>> {
  if (signal.aborted) return Promise.resolve({ kind: 'aborted' });
  return new Promise((resolve) => {
    const onAbort = (): void => resolve({ kind: 'aborted' });
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve({ kind: 'value', value });
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        resolve({ kind: 'error', error });
      },
    );
  });
}

function settleWithin<T>(promise: Promise<T>, ms: number): Promise<Settled<T> | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve({ kind: 'value', value });
      },
      (error: unknown) => {
        clearTimeout(timer);
        resolve({ kind: 'error', error });
      },
    );
  });
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function outcome(status: ToolCallStatus, ok: boolean, output: string, spoken: string): ToolCallOutcome {
  return { status, result: { ok, output, spoken } };
}

function cancelled(tool: AnyTool): ToolCallOutcome {
  return outcome('cancelled', false, `${tool.name} was cancelled by the user before it ran`, 'Stopped.');
}

function asQuestion(description: string): string {
  const text = capitalize(description.trim().replace(/[.?!]+$/, ''));
  return `${text}?`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function spokenName(tool: AnyTool): string {
  return tool.name.replace(/_/g, ' ');
}

function safe<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}

function oneLine(text: string, max: number): string {
  const line = text.replace(/\s*\n\s*/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(2))} s`;
}
