import { currentTimeTool, type CurrentTimeOptions } from './builtin/clock.js';
import { runCommandTool } from './builtin/command.js';
import { fileTools } from './builtin/files.js';
import { gitTools } from './builtin/git.js';
import { runTestsTool } from './builtin/tests.js';
import type { AnyTool } from './types.js';

export interface BuiltinToolsOptions {
  /** agent.testCommand: what run_tests runs. */
  testCommand: string;
  /** Options of current_time (time source, zone). */
  clock?: CurrentTimeOptions;
}

/** Every built-in tool: files, grep, commands, git, tests and the clock. */
export function builtinTools(options: BuiltinToolsOptions): AnyTool[] {
  return [...fileTools, runCommandTool, ...gitTools, runTestsTool(options.testCommand), currentTimeTool(options.clock)];
}

export type * from './types.js';
export * from './registry.js';
export { OutsideWorkspaceError, Workspace, WorkspacePathError, type ResolveOptions } from './workspace.js';
export { editFileTool, grepTool, listFilesTool, readFileTool, writeFileTool, fileTools, atomicWrite } from './builtin/files.js';
export { runCommandTool, spokenCommand } from './builtin/command.js';
export { gitCommitTool, gitDiffTool, gitLogTool, gitStatusTool, gitTools } from './builtin/git.js';
export {
  failingTestNames,
  parseTestCounts,
  runTestsTool,
  summarizeCounts,
  type TestCounts,
  type TestFramework,
} from './builtin/tests.js';
export { currentTimeTool, spokenTime, type CurrentTimeOptions } from './builtin/clock.js';
export { globToRegExp } from './builtin/common.js';
export { runProcess, HeadTailBuffer, type ProcessResult, type RunOptions } from './builtin/process.js';
