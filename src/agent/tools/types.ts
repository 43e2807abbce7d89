import type { z } from 'zod';

/** How much a tool can change: reading is free, writes and commands go through permissions. */
export type ToolRisk = 'read' | 'write' | 'exec';

export interface ToolContext {
  /** Aborted on barge-in, cancel or the tool's timeout; long work must stop when it fires. */
  signal: AbortSignal;
  /** The workspace root, already resolved with realpath; tools never touch anything outside it. */
  root: string;
}

/** What a tool returns: one form for the model, one for the ear. */
export interface ToolResult {
  ok: boolean;
  /** For the model: complete but size-capped by the registry. */
  output: string;
  /** For the user: one or two short sentences ("142 passed, 2 failed in the api package."). */
  spoken: string;
  /** Structured details for the event log and tests. */
  data?: unknown;
  /** The tool refused to act (a path outside the workspace): reported as denied, like the gate's refusals. */
  refused?: boolean;
}

export interface Tool<I extends z.ZodType = z.ZodType> {
  /** snake_case, unique in the registry. */
  name: string;
  /** For the model: what it does and when to use it. */
  description: string;
  input: I;
  risk: ToolRisk;
  /** Default from the registry when absent. */
  timeoutMs?: number;
  /** The action in plain words for a spoken confirmation: "run npm install in the api folder". */
  describe(args: z.output<I>): string;
  /** What permission rules match against in `Tool(pattern)`: the command, the path… */
  subject(args: z.output<I>): string;
  execute(args: z.output<I>, context: ToolContext): Promise<ToolResult>;
}

/** A tool of any input type (method parameters are bivariant, so every Tool<I> fits). */
export type AnyTool = Tool<z.ZodType>;

export type PermissionMode = 'read-only' | 'ask' | 'auto-edit' | 'full';
export type Decision = 'allow' | 'ask' | 'deny';

/** The permission gate's verdict on one call, with the reason in words. */
export interface Verdict {
  decision: Decision;
  reason: string;
}
