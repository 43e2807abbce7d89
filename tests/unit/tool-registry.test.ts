import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  allowAll,
  capOutput,
  ToolRegistry,
  ToolRegistryError,
  type AuditEntry,
  type GateVerdict,
  type PermissionGate,
} from '../../src/agent/tools/registry.js';
import type { AnyTool, Tool, ToolContext } from '../../src/agent/tools/types.js';
import { toolToOpenAI } from '../../src/agent/llm.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kai-registry-test-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function tool<I extends z.ZodType>(partial: Partial<Tool<I>> & { name: string; input: I }): AnyTool {
  const t: Tool<I> = {
    description: `the ${partial.name} tool`,
    risk: 'read',
    describe: () => `use ${partial.name}`,
    subject: () => partial.name,
    execute: async () => ({ ok: true, output: 'done', spoken: 'Done.' }),
    ...partial,
  };
  return t;
}

const echo = tool({
  name: 'echo',
  input: z.object({ text: z.string().describe('What to say'), times: z.number().int().min(1).optional() }),
  describe: (a) => `say ${a.text}`,
  subject: (a) => a.text,
  execute: async (a) => ({ ok: true, output: a.text.repeat(a.times ?? 1), spoken: a.text }),
});

function gate(decision: GateVerdict['decision'], via: GateVerdict['via'] = 'rule'): PermissionGate & { entries: AuditEntry[] } {
  const entries: AuditEntry[] = [];
  return { entries, check: () => ({ decision, reason: `${decision} by test`, via }), record: (e) => void entries.push(e) };
}

function registry(tools: AnyTool[], g: PermissionGate = allowAll(), extra: { timeoutMs?: number; maxOutputChars?: number } = {}): ToolRegistry {
  return new ToolRegistry(tools, { timeoutMs: extra.timeoutMs ?? 5000, maxOutputChars: extra.maxOutputChars ?? 1000, gate: g, root, abortGraceMs: 200 });
}

const noConfirm = async (): Promise<boolean> => {
  throw new Error('confirm must not be called');
};
const run = { signal: new AbortController().signal, confirm: noConfirm };

describe('ToolRegistry construction', () => {
  it('rejects duplicate names', () => {
    expect(() => registry([echo, echo])).toThrow(ToolRegistryError);
    expect(() => registry([echo, echo])).toThrow('two tools are called "echo"');
  });

  it.each(['Echo', 'e', '1tool', 'my-tool', 'has space', '_x', 'a'.repeat(65), ''])('rejects the bad name %j', (name) => {
    expect(() => registry([tool({ name, input: z.object({}) })])).toThrow(/bad tool name/);
  });

  it('accepts good names and lists tools in order', () => {
    const r = registry([echo, tool({ name: 'git_status2', input: z.object({}) }), tool({ name: 'ab', input: z.object({}) })]);
    expect(r.list().map((t) => t.name)).toEqual(['echo', 'git_status2', 'ab']);
  });
});

describe('ToolRegistry.specs', () => {
  it('gives JSON Schema of the input side, without $schema', () => {
    const withDefault = tool({ name: 'with_default', input: z.object({ n: z.number().default(3), flag: z.boolean().optional() }) });
    const specs = registry([echo, withDefault]).specs();
    expect(specs).toHaveLength(2);
    expect(specs[0]).toEqual({
      type: 'function',
      function: {
        name: 'echo',
        description: 'the echo tool',
        parameters: {
          type: 'object',
          properties: {
            text: { type: 'string', description: 'What to say' },
            times: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
          },
          required: ['text'],
        },
      },
    });
    const params = specs[1]?.function.parameters as { required?: string[]; $schema?: string };
    expect(params.$schema).toBeUndefined();
    // io: 'input' — a field with a default is optional for the caller.
    expect(params.required ?? []).not.toContain('n');
  });

  it('matches what the LLM client sends for toolSpecs()', () => {
    const r = registry([echo]);
    const viaClient = r.toolSpecs().map(toolToOpenAI);
    expect(viaClient).toEqual(r.specs());
  });
});

describe('ToolRegistry.call', () => {
  it('runs a valid call and records the decision', async () => {
    const g = allowAll();
    const outcome = await registry([echo], g).call('echo', { text: 'hi', times: 2 }, run);
    expect(outcome).toEqual({ status: 'ok', result: { ok: true, output: 'hihi', spoken: 'hi' } });
    expect(g.entries).toHaveLength(1);
    expect(g.entries[0]).toMatchObject({ tool: 'echo', subject: 'hi', decision: 'allow', via: 'mode' });
    expect(() => new Date(g.entries[0]?.time ?? '').toISOString()).not.toThrow();
  });

  it('accepts JSON text arguments and empty text for no arguments', async () => {
    const noArgs = tool({ name: 'no_args', input: z.object({}) });
    const r = registry([echo, noArgs]);
    expect((await r.call('echo', '{"text":"x"}', run)).status).toBe('ok');
    expect((await r.call('no_args', '', run)).status).toBe('ok');
    expect((await r.call('no_args', undefined, run)).status).toBe('ok');
  });

  it('turns invalid arguments into an "invalid" outcome with a one-line error', async () => {
    const g = allowAll();
    const outcome = await registry([echo], g).call('echo', { text: 5, times: 0 }, run);
    expect(outcome.status).toBe('invalid');
    expect(outcome.result.ok).toBe(false);
    expect(outcome.result.output).toMatch(/^invalid arguments for echo: text: .*; times: /);
    expect(outcome.result.output).not.toContain('\n');
    expect(g.entries).toHaveLength(0);
    const bad = await registry([echo]).call('echo', '{not json', run);
    expect(bad.status).toBe('invalid');
    expect(bad.result.output).toMatch(/not valid JSON/);
  });

  it('answers an unknown tool with the list of known ones', async () => {
    const outcome = await registry([echo, tool({ name: 'other', input: z.object({}) })]).call('rm_rf', {}, run);
    expect(outcome.status).toBe('unknown');
    expect(outcome.result.output).toBe('unknown tool "rm_rf"; the tools are: echo, other');
    expect(outcome.result.spoken).toBeTruthy();
  });

  it('asks on "ask" and runs when the user says yes', async () => {
    const g = gate('ask');
    const questions: string[] = [];
    const install = tool({
      name: 'install',
      input: z.object({ dir: z.string() }),
      describe: (a) => `run npm install in the ${a.dir} folder`,
    });
    const outcome = await registry([install], g).call('install', { dir: 'api' }, {
      signal: new AbortController().signal,
      confirm: async (q) => {
        questions.push(q);
        return true;
      },
    });
    expect(questions).toEqual(['Run npm install in the api folder?']);
    expect(outcome.status).toBe('ok');
    expect(g.entries).toEqual([expect.objectContaining({ decision: 'ask', approved: true, via: 'user' })]);
  });

  it('does not run when the user says no', async () => {
    const g = gate('ask');
    let ran = false;
    const t = tool({ name: 'danger', input: z.object({}), execute: async () => ((ran = true), { ok: true, output: '', spoken: '' }) });
    const outcome = await registry([t], g).call('danger', {}, { signal: new AbortController().signal, confirm: async () => false });
    expect(outcome.status).toBe('denied');
    expect(outcome.result.ok).toBe(false);
    expect(outcome.result.output).toMatch(/the user said no to "Use danger\?"/);
    expect(ran).toBe(false);
    expect(g.entries).toEqual([expect.objectContaining({ decision: 'ask', approved: false, via: 'user' })]);
  });

  it('treats a failing confirmation as no answer (via timeout)', async () => {
    const g = gate('ask');
    const outcome = await registry([echo], g).call('echo', { text: 'x' }, {
      signal: new AbortController().signal,
      confirm: async () => {
        throw new Error('no answer within 8 s');
      },
    });
    expect(outcome.status).toBe('denied');
    expect(g.entries[0]).toMatchObject({ approved: false, via: 'timeout' });
  });

  it('denies without asking on "deny"', async () => {
    const g = gate('deny', 'mode');
    const outcome = await registry([echo], g).call('echo', { text: 'x' }, run);
    expect(outcome.status).toBe('denied');
    expect(outcome.result.output).toBe('echo was not run: deny by test');
    expect(outcome.result.spoken).toBe("I'm not allowed to say x.");
    expect(g.entries).toEqual([expect.objectContaining({ decision: 'deny', via: 'mode', reason: 'deny by test' })]);
  });

  it('times out a slow tool and aborts its signal', async () => {
    let seen: AbortSignal | undefined;
    const slow = tool({
      name: 'slow',
      input: z.object({}),
      timeoutMs: 50,
      execute: (_a, ctx: ToolContext) =>
        new Promise((resolve) => {
          seen = ctx.signal;
          ctx.signal.addEventListener('abort', () => resolve({ ok: false, output: 'half done', spoken: '' }));
        }),
    });
    const started = Date.now();
    const outcome = await registry([slow]).call('slow', {}, run);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(outcome.status).toBe('timeout');
    expect(outcome.result.output).toBe('slow timed out after 0.05 s and was stopped\npartial output:\nhalf done');
    expect(seen?.aborted).toBe(true);
  });

  it('times out even a tool that ignores its signal', async () => {
    const stuck = tool({ name: 'stuck', input: z.object({}), execute: () => new Promise(() => undefined) });
    const outcome = await registry([stuck], allowAll(), { timeoutMs: 30 }).call('stuck', {}, run);
    expect(outcome.status).toBe('timeout');
  });

  it('passes the caller abort to the tool and reports "cancelled"', async () => {
    let seen: AbortSignal | undefined;
    const slow = tool({
      name: 'slow',
      input: z.object({}),
      execute: (_a, ctx) =>
        new Promise((_resolve, reject) => {
          seen = ctx.signal;
          ctx.signal.addEventListener('abort', () => reject(new Error('aborted')));
        }),
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    const outcome = await registry([slow]).call('slow', {}, { signal: controller.signal, confirm: noConfirm });
    expect(outcome.status).toBe('cancelled');
    expect(outcome.result.ok).toBe(false);
    expect(seen?.aborted).toBe(true);
    const before = await registry([slow]).call('slow', {}, { signal: AbortSignal.abort(), confirm: noConfirm });
    expect(before.status).toBe('cancelled');
  });

  it('cancels while waiting for a confirmation', async () => {
    const g = gate('ask');
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    const outcome = await registry([echo], g).call('echo', { text: 'x' }, { signal: controller.signal, confirm: () => new Promise(() => undefined) });
    expect(outcome.status).toBe('cancelled');
    expect(g.entries[0]).toMatchObject({ approved: false });
  });

  it('turns a throwing tool into an "error" outcome', async () => {
    const broken = tool({
      name: 'broken',
      input: z.object({}),
      execute: async () => {
        throw new Error('disk on fire\nstack...');
      },
    });
    const outcome = await registry([broken]).call('broken', {}, run);
    expect(outcome.status).toBe('error');
    expect(outcome.result.output).toMatch(/^broken failed: unexpected error: disk on fire/);
    const failing = tool({ name: 'failing', input: z.object({}), execute: async () => ({ ok: false, output: 'no', spoken: 'No.' }) });
    expect((await registry([failing]).call('failing', {}, run)).status).toBe('error');
  });

  it('never throws, even when the gate does', async () => {
    const badGate: PermissionGate = {
      check: () => {
        throw new Error('gate broke');
      },
      record: () => undefined,
    };
    const outcome = await registry([echo], badGate).call('echo', { text: 'x' }, run);
    expect(outcome.status).toBe('error');
    expect(outcome.result.output).toMatch(/gate broke/);
  });

  it('caps the output, keeping head and tail and saying how much was cut', async () => {
    const big = tool({
      name: 'big',
      input: z.object({}),
      execute: async () => ({ ok: true, output: `HEAD${'x'.repeat(5000)}TAIL`, spoken: 'Big.' }),
    });
    const outcome = await registry([big], allowAll(), { maxOutputChars: 500 }).call('big', {}, run);
    const out = outcome.result.output;
    expect(out.length).toBeLessThanOrEqual(500);
    expect(out.startsWith('HEAD')).toBe(true);
    expect(out.endsWith('TAIL')).toBe(true);
    expect(out).toMatch(/\[\.\.\. \d+ characters cut \.\.\.\]/);
    const cut = Number(/(\d+) characters cut/.exec(out)?.[1]);
    expect(out.length - out.match(/\n\[.*\]\n/)![0].length + cut).toBe(5008);
  });

  it('capOutput leaves short text alone', () => {
    expect(capOutput('short', 100)).toBe('short');
  });

  it('copies via and rule from the verdict into the audit entry', async () => {
    const entries: AuditEntry[] = [];
    const g: PermissionGate = {
      check: () => ({ decision: 'allow', reason: 'allowed by run_command(git *)', via: 'policy', rule: 'echo(*)' }),
      record: (e) => void entries.push(e),
    };
    await registry([echo], g).call('echo', { text: 'x' }, run);
    expect(entries[0]).toMatchObject({ via: 'policy', rule: 'echo(*)', reason: 'allowed by run_command(git *)' });
  });

  it('withConfirm() gives the job backend a runner with zod specs and a bound confirmation', async () => {
    const questions: string[] = [];
    const runner = registry([echo], gate('ask')).withConfirm(async (q) => (questions.push(q), false));
    expect(runner.specs().map((s) => s.name)).toEqual(['echo']);
    const outcome = await runner.call('echo', { text: 'hi' }, { signal: new AbortController().signal });
    expect(outcome.status).toBe('denied');
    expect(questions).toEqual(['Say hi?']);
  });

  it('hands the realpath of the root to tools', async () => {
    let seenRoot = '';
    const where = tool({ name: 'where', input: z.object({}), execute: async (_a, ctx) => ((seenRoot = ctx.root), { ok: true, output: '', spoken: '' }) });
    await registry([where]).call('where', {}, run);
    const { realpath } = await import('node:fs/promises');
    expect(seenRoot).toBe(await realpath(root));
  });
});
