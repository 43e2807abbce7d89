import { stat } from 'node:fs/promises';
import { z } from 'zod';
import { defineTool, failure, normalizeSubject, success, withWorkspace } from './common.js';
import { runShell, type ProcessResult } from './process.js';

const commandInput = z.object({
  command: z.string().min(1).describe('Shell command line, run with /bin/sh -c'),
  cwd: z.string().min(1).optional().describe('Folder to run it in, relative to the workspace root; default the root'),
});

/** Environment that keeps programs from waiting for a terminal or colouring their output. */
export const NON_INTERACTIVE_ENV: Record<string, string> = {
  CI: '1',
  NO_COLOR: '1',
  FORCE_COLOR: '0',
  GIT_TERMINAL_PROMPT: '0',
  GIT_PAGER: 'cat',
  PAGER: 'cat',
  DEBIAN_FRONTEND: 'noninteractive',
};

export const runCommandTool = defineTool({
  name: 'run_command',
  description:
    'Run a shell command in the workspace (non-interactive; stdin is empty). Returns the combined stdout/stderr and the exit code.',
  input: commandInput,
  risk: 'exec',
  describe: (a) => `run ${spokenCommand(a.command)}${a.cwd && normalizeSubject(a.cwd) !== '.' ? ` in the ${normalizeSubject(a.cwd)} folder` : ''}`,
  subject: (a) => a.command.trim(),
  execute: (a, context) =>
    withWorkspace('run_command', context, async (ws) => {
      const cwd = await ws.resolve(a.cwd ?? '.', { mustExist: true });
      if (!(await stat(cwd)).isDirectory()) return failure(`${ws.relative(cwd)} is not a folder`, 'That is not a folder.');
      const result = await runShell(a.command, { cwd, signal: context.signal, env: NON_INTERACTIVE_ENV });
      return commandResult(a.command, result);
    }),
});

/** The model-facing and spoken forms of a finished command. */
export function commandResult(command: string, result: ProcessResult): ReturnType<typeof success> {
  const data = { exitCode: result.code, signal: result.signal, aborted: result.aborted, cutChars: result.cutChars };
  const short = spokenCommand(command);
  if (result.spawnError) return failure(`could not start the command: ${result.spawnError}`, `I couldn't start ${short}.`, data);
  const body = result.output.trimEnd();
  const status = result.aborted
    ? 'stopped'
    : result.code === null
      ? `killed by ${result.signal ?? 'a signal'}`
      : `exit code ${result.code}`;
  const output = `$ ${command}\n${body}${body ? '\n' : ''}[${status}]`;
  if (result.code === 0) return success(output, `Finished running ${short}.`, data);
  if (result.aborted) return failure(output, `I stopped ${short}.`, data);
  return failure(output, `Running ${short} failed${result.code === null ? '' : ` with exit code ${result.code}`}.`, data);
}

/** A command as it can be read out: the first words, not a page of flags. */
export function spokenCommand(command: string): string {
  const oneLine = command.trim().replace(/\s+/g, ' ');
  return oneLine.length > 60 ? `${oneLine.slice(0, 57)}…` : oneLine;
}
