import type { AnyTool, Decision, PermissionMode, ToolRisk, Verdict } from '../tools/types.js';
import { AuditLog, type AuditEntry, type AuditVia } from './audit.js';
import { judgeCommand, type CommandVerdict } from './command-policy.js';
import { parseRules, type MatchKind, type Rule } from './rules.js';

export type { AuditEntry, AuditVia } from './audit.js';

/** What the tool registry needs from permissions. */
export interface PermissionGate {
  check(tool: AnyTool, args: unknown): Verdict;
  record(entry: AuditEntry): void;
}

/** A verdict with where it came from, so the registry can fill AuditEntry.via / rule. */
export interface GateVerdict extends Verdict {
  via: 'rule' | 'policy' | 'mode';
  /** The config rule that decided, when via is 'rule'. */
  rule?: string;
  /** The command policy's verdict for run_command calls. */
  command?: CommandVerdict;
}

export interface PermissionsOptions {
  mode: PermissionMode;
  allow: readonly string[];
  ask: readonly string[];
  deny: readonly string[];
  /** Absolute, realpath'ed workspace root (commands' paths are resolved against it). */
  workspaceRoot: string;
  /** Where record() appends; omit to keep no log (tests). */
  audit?: AuditLog;
  /** Tools whose subject is a shell command judged by the command policy. Default ['run_command']. */
  commandTools?: readonly string[];
}

const MODE_NAMES: Record<PermissionMode, string> = {
  'read-only': 'read-only mode',
  ask: 'ask mode',
  'auto-edit': 'auto-edit mode',
  full: 'full mode',
};

/**
 * Decides whether a tool call may run. Order:
 *  1. config deny rules;
 *  2. the command policy's deny (run_command only) — no allow rule can override it;
 *  3. config ask rules;
 *  4. config allow rules (for commands every simple command must be covered by an allow rule or be
 *     a policy-allowed read-only command, matched with quotes removed; unparseable commands are never
 *     allowed by rules);
 *  5. the mode: read-only allows only reads and denies the rest; ask allows reads and asks for writes
 *     and commands; auto-edit allows reads and writes and asks for commands; full allows everything.
 *     For run_command the policy sets the risk: a command the policy allows counts as a read, anything
 *     else as exec. In full mode an ordinary policy 'ask' becomes allow, but an uncertain one
 *     (unparseable, computed command names, eval, code read from a pipe) still asks.
 * check() does not write the audit log; the registry calls record() once the decision is final
 * (including the user's answer to an ask).
 */
export class Permissions implements PermissionGate {
  readonly mode: PermissionMode;
  private readonly allowRules: Rule[];
  private readonly askRules: Rule[];
  private readonly denyRules: Rule[];
  private readonly root: string;
  private readonly audit: AuditLog | undefined;
  private readonly commandTools: ReadonlySet<string>;

  constructor(options: PermissionsOptions) {
    this.mode = options.mode;
    this.denyRules = parseRules(options.deny, 'deny');
    this.askRules = parseRules(options.ask, 'ask');
    this.allowRules = parseRules(options.allow, 'allow');
    this.root = options.workspaceRoot;
    this.audit = options.audit;
    this.commandTools = new Set(options.commandTools ?? ['run_command']);
  }

  check(tool: AnyTool, args: unknown): GateVerdict {
    let subject: string;
    try {
      subject = tool.subject(args as never);
    } catch {
      return { decision: 'deny', reason: `The arguments for ${tool.name} could not be read.`, via: 'policy' };
    }
    const isCommand = this.commandTools.has(tool.name);
    const kind: MatchKind = isCommand || tool.risk === 'exec' ? 'command' : 'path';
    const command = isCommand ? judgeCommand(subject, this.root) : undefined;
    // For commands, rules see the whole string and every simple command inside it.
    const texts = command ? [subject, ...command.parts.flatMap((p) => [p.command, p.plain])] : [subject];

    const deny = this.find(this.denyRules, tool.name, texts, kind);
    if (deny) return { decision: 'deny', reason: `The rule "${deny.text}" in agent.deny blocks this.`, via: 'rule', rule: deny.text, ...(command && { command }) };

    if (command?.decision === 'deny') return { decision: 'deny', reason: command.reason, via: 'policy', command };

    const ask = this.find(this.askRules, tool.name, texts, kind);
    if (ask) return { decision: 'ask', reason: `The rule "${ask.text}" in agent.ask needs your approval.`, via: 'rule', rule: ask.text, ...(command && { command }) };

    const allow = command ? this.allowCommand(tool.name, command) : this.find(this.allowRules, tool.name, texts, kind);
    if (allow) return { decision: 'allow', reason: `The rule "${allow.text}" in agent.allow permits this.`, via: 'rule', rule: allow.text, ...(command && { command }) };

    return this.byMode(tool, command);
  }

  record(entry: AuditEntry): void {
    this.audit?.append(entry);
  }

  private find(rules: Rule[], toolName: string, texts: string[], kind: MatchKind): Rule | undefined {
    return rules.find((r) => r.tool === toolName && texts.some((t) => r.matches(t, kind)));
  }

  /** An allow rule applies to a command only when every part is covered. Returns the first rule used. */
  private allowCommand(toolName: string, command: CommandVerdict): Rule | undefined {
    const rules = this.allowRules.filter((r) => r.tool === toolName);
    if (rules.length === 0 || command.parts.length === 0) return undefined;
    let used: Rule | undefined;
    for (const part of command.parts) {
      const rule = rules.find((r) => r.matches(part.plain, 'command'));
      if (rule) used ??= rule;
      else if (part.decision !== 'allow') return undefined;
    }
    return used;
  }

  private byMode(tool: AnyTool, command: CommandVerdict | undefined): GateVerdict {
    const risk: ToolRisk = command ? (command.decision === 'allow' ? 'read' : 'exec') : tool.risk;
    const what = command ? 'run this command' : describeRisk(risk, tool.name);
    const withCommand = command ? { command } : {};
    const decided = (decision: Decision, reason: string, via: 'mode' | 'policy' = 'mode'): GateVerdict => ({ decision, reason, via, ...withCommand });
    switch (this.mode) {
      case 'read-only':
        if (risk === 'read') return decided('allow', command ? command.reason : `${capitalize(MODE_NAMES[this.mode])} lets ${tool.name} read.`);
        return decided('deny', `${capitalize(MODE_NAMES[this.mode])} does not let the assistant ${what}.`);
      case 'ask':
        if (risk === 'read') return decided('allow', command ? command.reason : `${capitalize(MODE_NAMES[this.mode])} lets ${tool.name} read without asking.`);
        if (command) return decided('ask', command.reason, 'policy');
        return decided('ask', `${capitalize(MODE_NAMES[this.mode])} asks before the assistant can ${what}.`);
      case 'auto-edit':
        if (risk === 'read') return decided('allow', command ? command.reason : `${capitalize(MODE_NAMES[this.mode])} lets ${tool.name} read without asking.`);
        if (risk === 'write') return decided('allow', `${capitalize(MODE_NAMES[this.mode])} lets ${tool.name} change files without asking.`);
        if (command) return decided('ask', command.reason, 'policy');
        return decided('ask', `${capitalize(MODE_NAMES[this.mode])} asks before the assistant can ${what}.`);
      case 'full':
        if (command?.decision === 'ask' && command.uncertain) return decided('ask', command.reason, 'policy');
        return decided('allow', `${capitalize(MODE_NAMES[this.mode])} lets ${tool.name} run without asking.`);
    }
  }
}

function describeRisk(risk: ToolRisk, toolName: string): string {
  if (risk === 'write') return `change files with ${toolName}`;
  if (risk === 'exec') return `run programs with ${toolName}`;
  return `read with ${toolName}`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Builds the audit line for a decision; `via` defaults to the verdict's own source. */
export function auditEntry(
  tool: AnyTool,
  subject: string,
  verdict: Verdict & { via?: AuditVia; rule?: string },
  extra: { approved?: boolean; via?: AuditVia; time?: Date } = {},
): AuditEntry {
  const entry: AuditEntry = {
    time: (extra.time ?? new Date()).toISOString(),
    tool: tool.name,
    subject,
    decision: verdict.decision,
    reason: verdict.reason,
    via: extra.via ?? verdict.via ?? 'mode',
  };
  if (extra.approved !== undefined) entry.approved = extra.approved;
  if (verdict.rule !== undefined) entry.rule = verdict.rule;
  return entry;
}
