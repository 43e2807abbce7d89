/**
 * Local intents: spoken commands answered without an LLM. Each intent is a few sentence
 * templates (see template.ts), maybe a tool call, and a spoken template answer.
 *
 * Slot values. `{package}` is filled only from values the caller gives the matcher:
 * `new IntentMatcher(DEFAULT_INTENTS, { slotValues: { package: names } })` where `names` are
 * the workspace's package folder names (e.g. the basenames of the folders the root
 * package.json `workspaces` globs match, or of `packages/*`). Each is said as its
 * `spokenForm` ("web-app" → "web app", "@kai/core" → "core") and the slot returns the name as
 * given ("web-app"), which is what `run_tests {package}` receives. With no values, only the
 * slot-less forms ("run the tests") match, so "run the tests in production" never does.
 */
import type { SlotSource } from './template.js';

/** What an intent's answer needs of a tool's result (a ToolResult fits). */
export interface IntentToolResult {
  ok: boolean;
  spoken: string;
  data?: unknown;
}

/** How a slot is filled: a list of values (the caller's `slotValues` replace them), or free text. */
export type SlotSpec = { type: 'values'; values?: readonly string[] } | { type: 'text'; maxWords: number };

export interface IntentToolCall {
  tool: string;
  args: Record<string, unknown>;
}

/** Intents the engine handles itself instead of calling a tool. */
export type IntentSpecial = 'stop' | 'help';

export interface AnswerContext {
  /** "I can run the tests, tell you the git status, …" for the help intent. */
  helpText: string;
}

export interface Intent {
  name: string;
  templates: string[];
  slots?: Record<string, SlotSpec>;
  /** What the user can say, for the help text: "run the tests" → "I can run the tests". */
  help?: string;
  /** The tool to call; null or absent means no tool (answer gets no result). */
  toToolCall?(slots: Record<string, string>): IntentToolCall | null;
  /** The spoken answer, given the tool's result (undefined when no tool ran). */
  answer(result: IntentToolResult | undefined, slots: Record<string, string>, context: AnswerContext): string;
  special?: IntentSpecial;
}

/** The tool's own spoken summary when it has one, else `fallback`. */
function spokenOr(result: IntentToolResult | undefined, fallback: string): string {
  const spoken = result?.spoken.trim() ?? '';
  return spoken !== '' ? spoken : fallback;
}

/** A date from the current_time tool's data, if it gives one (`{ iso }`, `{ now }` or `{ time }`, string or epoch ms). */
function dateFrom(data: unknown): Date | null {
  if (typeof data !== 'object' || data === null) return null;
  const record = data as Record<string, unknown>;
  for (const key of ['iso', 'now', 'time', 'date']) {
    const v = record[key];
    if (typeof v === 'string' || typeof v === 'number') {
      const d = new Date(v);
      if (!Number.isNaN(d.getTime())) return d;
    }
  }
  return null;
}

export const runTestsIntent: Intent = {
  name: 'run_tests',
  templates: [
    'run [all] [the] (tests | test suite) [in [the] {package} [package | folder]]',
    'run [the] {package} tests',
    'test {package}',
  ],
  slots: { package: { type: 'values' } },
  help: 'run the tests',
  toToolCall: (slots) => ({ tool: 'run_tests', args: slots.package === undefined ? {} : { package: slots.package } }),
  answer: (result, slots) => spokenOr(result, slots.package === undefined ? "I couldn't run the tests." : `I couldn't run the tests in ${slots.package}.`),
};

export const gitStatusIntent: Intent = {
  name: 'git_status',
  templates: ["[(what's | what is | show me | tell me)] [the] git status", 'are there [any] uncommitted changes'],
  help: 'tell you the git status',
  toToolCall: () => ({ tool: 'git_status', args: {} }),
  answer: (result) => spokenOr(result, "I couldn't read the git status."),
};

export const gitDiffIntent: Intent = {
  name: 'git_diff',
  templates: [
    "(what | what's | what has) changed",
    'what did i change',
    "show me the (diff | changes)",
    "(what's | what is) the diff",
    'git diff',
  ],
  help: 'what changed',
  toToolCall: () => ({ tool: 'git_diff', args: {} }),
  answer: (result) => spokenOr(result, "I couldn't read the changes."),
};

export const lastCommitIntent: Intent = {
  name: 'last_commit',
  templates: [
    'read [me] the (last | latest) commit [message]',
    "(what was | what's | what is) the (last | latest) commit [message]",
    'show me the (last | latest) commit',
  ],
  help: 'read you the last commit',
  toToolCall: () => ({ tool: 'git_log', args: { n: 1 } }),
  answer: (result) => spokenOr(result, "I couldn't read the last commit."),
};

// Made once: every toLocale…String call builds an ICU formatter whose native memory the garbage
// collector does not see, so a long-running daemon would grow by megabytes an hour.
const SPOKEN_TIME = new Intl.DateTimeFormat('en-US', { hour: 'numeric', minute: '2-digit' });
const SPOKEN_DATE = new Intl.DateTimeFormat('en-US', { weekday: 'long', month: 'long', day: 'numeric' });

export const timeIntent: Intent = {
  name: 'time',
  templates: ['what time is it', "(what's | what is) the time", 'tell me the time', '(tell me | do you know) what time it is'],
  help: 'tell you the time',
  toToolCall: () => ({ tool: 'current_time', args: {} }),
  answer: (result) => {
    const d = result?.ok ? dateFrom(result.data) : null;
    if (d) return `It's ${SPOKEN_TIME.format(d)}.`;
    return spokenOr(result, "I couldn't tell the time.");
  },
};

export const dateIntent: Intent = {
  name: 'date',
  templates: ['what day is it [today]', "(what's | what is) the date [today]", "(what's | what is) today's date", 'tell me the date'],
  help: 'the date',
  toToolCall: () => ({ tool: 'current_time', args: {} }),
  answer: (result) => {
    const d = result?.ok ? dateFrom(result.data) : null;
    if (d) return `Today is ${SPOKEN_DATE.format(d)}.`;
    return spokenOr(result, "I couldn't tell the date.");
  },
};

export const stopIntent: Intent = {
  name: 'stop',
  templates: ['stop [it | that | talking]', 'cancel [it | that]', 'never mind', 'forget it', 'be quiet'],
  special: 'stop',
  answer: () => 'Okay.',
};

export const cancelJobIntent: Intent = {
  name: 'cancel_job',
  templates: ['(cancel | stop | kill | abort) the [running | current] job'],
  help: 'cancel a job',
  toToolCall: () => ({ tool: 'cancel_job', args: {} }),
  answer: (result) => spokenOr(result, result?.ok === false ? "I couldn't cancel the job." : 'Cancelled the job.'),
};

export const jobStatusIntent: Intent = {
  name: 'job_status',
  templates: [
    "(what's | what is) the job (status | doing)",
    "(what's | what is) the status of the job",
    "(how's | how is) the job (going | doing)",
    'is the job (done | finished) [yet]',
    'job status',
  ],
  help: 'check on a running job',
  toToolCall: () => ({ tool: 'job_status', args: {} }),
  answer: (result) => spokenOr(result, "I couldn't get the job's status."),
};

export const helpIntent: Intent = {
  name: 'help',
  templates: ['help', 'what can you do', 'what can i say', 'what commands (do you know | can i use)'],
  special: 'help',
  answer: (_result, _slots, context) => context.helpText,
};

/** The default local commands, in the order ties are broken. */
export const DEFAULT_INTENTS: readonly Intent[] = [
  runTestsIntent,
  gitStatusIntent,
  gitDiffIntent,
  lastCommitIntent,
  timeIntent,
  dateIntent,
  jobStatusIntent,
  cancelJobIntent,
  stopIntent,
  helpIntent,
];

/** Turns a SlotSpec plus the caller's values into what the template matcher takes. */
export function slotSource(spec: SlotSpec | undefined, callerValues: readonly string[] | undefined): SlotSource | readonly string[] {
  if (spec?.type === 'text') return { type: 'text', maxWords: spec.maxWords };
  return callerValues ?? spec?.values ?? [];
}
