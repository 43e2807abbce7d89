import { createAgent } from '../../app/engines.js';
import type { PermissionMode } from '../../agent/tools/types.js';
import { UsageError } from '../../errors.js';
import { parseCommandArgs, type Command } from '../command.js';
import { commandContext, configOption } from '../context.js';

const MODES: readonly PermissionMode[] = ['read-only', 'ask', 'auto-edit', 'full'];

export const command: Command = {
  name: 'tools',
  summary: 'list the agent tools, or call one with the same permission checks (kai tools list|call)',
  usage: `Usage: kai tools list [--json] [--config FILE]
       kai tools call NAME --args JSON [--mode MODE] [--yes] [--config FILE]

list   every tool the assistant and the coding agent share, with its risk and description
call   runs one tool in the workspace (agent.workspace) through the permission gate:
  --args JSON   the tool's arguments, e.g. '{"path":"package.json"}'
  --mode MODE   read-only | ask | auto-edit | full (default: agent.mode)
  --yes         answer yes when the gate asks (otherwise an "ask" is refused)
Prints the tool's output; exit 0 when it succeeded, 1 when the tool failed, 2 when the call was
refused (denied, invalid arguments, unknown tool) with the reason.`,

  async run(argv, io) {
    const { values, positionals } = parseCommandArgs('tools', argv, {
      args: { type: 'string' },
      mode: { type: 'string' },
      yes: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      ...configOption,
    });
    const [sub, name, ...extra] = positionals;
    if (values.mode !== undefined && !MODES.includes(values.mode as PermissionMode)) {
      throw new UsageError(`--mode must be one of ${MODES.join(', ')}, got "${values.mode}"`);
    }
    const overrides: Record<string, unknown> = values.mode ? { 'agent.mode': values.mode } : {};
    const { config } = commandContext(io, values.config, overrides);

    if (sub === 'list' && name === undefined) {
      const { agent } = createAgent(config, { cwd: io.cwd, env: io.env });
      const tools = agent.tools.list();
      if (values.json) {
        for (const t of tools) io.stdout.write(`${JSON.stringify({ name: t.name, risk: t.risk, description: t.description })}\n`);
      } else {
        const width = Math.max(...tools.map((t) => t.name.length));
        for (const t of tools) io.stdout.write(`${t.name.padEnd(width)}  ${t.risk.padEnd(5)}  ${t.description.split('\n')[0]}\n`);
      }
      return 0;
    }
    if (sub !== 'call' || name === undefined || extra.length > 0) throw new UsageError('use kai tools list, or kai tools call NAME --args JSON; run: kai tools --help');

    let args: unknown = {};
    if (values.args !== undefined) {
      try {
        args = JSON.parse(values.args);
      } catch {
        throw new UsageError(`--args is not valid JSON: ${values.args}`);
      }
    }
    const { agent } = createAgent(config, { cwd: io.cwd, env: io.env });
    const outcome = await agent.tools.call(name, args, { signal: io.signal, confirm: async () => values.yes });
    if (values.json) io.stdout.write(`${JSON.stringify({ status: outcome.status, ...outcome.result })}\n`);
    else if (outcome.status === 'ok' || outcome.status === 'error') io.stdout.write(`${outcome.result.output}\n`);
    if (['denied', 'invalid', 'unknown'].includes(outcome.status)) {
      if (!values.json) io.stderr.write(`kai tools: ${outcome.status}: ${outcome.result.output.split('\n')[0]}\n`);
      return 2;
    }
    return outcome.status === 'ok' && outcome.result.ok ? 0 : 1;
  },
};
