import { stat } from 'node:fs/promises';
import { z } from 'zod';
import type { AnyTool } from '../types.js';
import { OutsideWorkspaceError, type Workspace } from '../workspace.js';
import { NON_INTERACTIVE_ENV } from './command.js';
import { defineTool, failure, success, withWorkspace } from './common.js';
import { runShell, stripAnsi } from './process.js';

export type TestFramework = 'vitest' | 'jest' | 'node:test' | 'pytest' | 'go' | 'cargo';

export interface TestCounts {
  passed: number;
  failed: number;
  skipped: number;
  framework: TestFramework;
}

/**
 * Reads the summary counts out of a test run's output (ANSI colours are ignored).
 * Knows vitest, jest, node:test (TAP `# pass 5` and spec `ℹ pass 5`), pytest, go test and
 * cargo test. For go test without -v only package lines exist: `passed` is then the number
 * of `ok` packages and `failed` the number of `--- FAIL:` tests (or failed packages).
 * Returns null when no known summary is found.
 */
export function parseTestCounts(rawOutput: string): TestCounts | null {
  const output = stripAnsi(rawOutput).replace(/\r/g, '');
  return parseCargo(output) ?? parseJest(output) ?? parseVitest(output) ?? parseNodeTest(output) ?? parsePytest(output) ?? parseGo(output);
}

function counts(framework: TestFramework, passed = 0, failed = 0, skipped = 0): TestCounts {
  return { passed, failed, skipped, framework };
}

/** `test result: FAILED. 5 passed; 1 failed; 1 ignored; …` — summed over every test binary. */
function parseCargo(output: string): TestCounts | null {
  const re = /^test result: (?:ok|FAILED)\. (\d+) passed; (\d+) failed; (\d+) ignored/gm;
  let found: TestCounts | null = null;
  for (const m of output.matchAll(re)) {
    found ??= counts('cargo');
    found.passed += Number(m[1]);
    found.failed += Number(m[2]);
    found.skipped += Number(m[3]);
  }
  return found;
}

/** `Tests:       2 failed, 1 skipped, 140 passed, 143 total` */
function parseJest(output: string): TestCounts | null {
  const m = /^Tests:\s+(.*\d+ total)\s*$/m.exec(output);
  if (!m) return null;
  return fromParts('jest', (m[1] as string).split(','));
}

/** `      Tests  2 failed | 140 passed | 1 skipped (143)` */
function parseVitest(output: string): TestCounts | null {
  const m = /^\s*Tests\s{2,}(.*?)\s*\(\d+\)\s*$/m.exec(output);
  if (!m) return null;
  return fromParts('vitest', (m[1] as string).split('|'));
}

function fromParts(framework: TestFramework, parts: readonly string[]): TestCounts {
  const result = counts(framework);
  for (const part of parts) {
    const m = /(\d+)\s+([a-z ]+)/i.exec(part.trim());
    if (!m) continue;
    const n = Number(m[1]);
    const word = (m[2] as string).trim().toLowerCase();
    if (word === 'passed') result.passed += n;
    else if (word === 'failed') result.failed += n;
    else if (word === 'skipped' || word === 'todo' || word === 'pending') result.skipped += n;
  }
  return result;
}

/** TAP (`# pass 5`) or spec (`ℹ pass 5`) summary of node --test. */
function parseNodeTest(output: string): TestCounts | null {
  const field = (name: string): number | undefined => {
    const all = [...output.matchAll(new RegExp(`^(?:#|ℹ) ${name} (\\d+)\\s*$`, 'gm'))];
    const last = all[all.length - 1];
    return last ? Number(last[1]) : undefined;
  };
  const pass = field('pass');
  const fail = field('fail');
  if (pass === undefined || fail === undefined || field('tests') === undefined) return null;
  return counts('node:test', pass, fail + (field('cancelled') ?? 0), (field('skipped') ?? 0) + (field('todo') ?? 0));
}

/** `===== 3 passed, 1 failed, 2 skipped in 0.12s =====` (the last such line). */
function parsePytest(output: string): TestCounts | null {
  const lines = output.split('\n').filter(
    (l) =>
      /\bin \d+(?:\.\d+)?s\b/.test(l) &&
      (/\b\d+ (?:passed|failed|skipped|errors?|xfailed|xpassed|deselected)\b/.test(l) || /\bno tests ran\b/.test(l)),
  );
  const line = lines[lines.length - 1];
  if (line === undefined) return null;
  const result = counts('pytest');
  for (const m of line.matchAll(/(\d+) (passed|failed|skipped|errors?|xfailed|xpassed)\b/g)) {
    const n = Number(m[1]);
    switch (m[2]) {
      case 'passed':
      case 'xpassed':
        result.passed += n;
        break;
      case 'failed':
      case 'error':
      case 'errors':
        result.failed += n;
        break;
      default:
        result.skipped += n;
    }
  }
  return result;
}

/** go test: `--- PASS/FAIL/SKIP:` lines with -v, else `ok`/`FAIL` package lines and `--- FAIL:` tests. */
function parseGo(output: string): TestCounts | null {
  const count = (re: RegExp): number => [...output.matchAll(re)].length;
  const pass = count(/^--- PASS: /gm);
  const fail = count(/^--- FAIL: /gm);
  const skip = count(/^--- SKIP: /gm);
  const okPackages = count(/^ok\s+\S+\s+(?:\(cached\)|\d+(?:\.\d+)?s|\[no tests to run\])/gm);
  const failedPackages = count(/^FAIL\s+\S+\s+(?:\d+(?:\.\d+)?s|\[build failed\]|\[setup failed\])/gm);
  if (pass + fail + skip + okPackages + failedPackages === 0) return null;
  const verbose = pass + skip > 0 || /^=== RUN /m.test(output);
  return counts('go', verbose ? pass : okPackages, fail > 0 ? fail : failedPackages, skip);
}

/** Names of failing tests, in order of appearance, without duplicates. */
export function failingTestNames(rawOutput: string, framework?: TestFramework, max = 10): string[] {
  const output = stripAnsi(rawOutput).replace(/\r/g, '');
  const which = framework ?? parseTestCounts(output)?.framework;
  const patterns: Record<TestFramework, RegExp[]> = {
    vitest: [/^\s*FAIL\s+\S+\s+>\s+(.+?)\s*$/gm, /^\s*[×✗]\s+(.+?)(?:\s+\d+(?:\.\d+)?\s*m?s)?\s*$/gm],
    jest: [/^\s*●\s+(?!Test suite failed to run)(.+?)\s*$/gm],
    'node:test': [/^\s*not ok \d+ - (.+?)(?:\s+#.*)?\s*$/gm, /^\s*✖ (?!failing tests:)(.+?) \(\d+(?:\.\d+)?m?s\)\s*$/gm],
    pytest: [/^(?:FAILED|ERROR) \S*?::(\S+)(?: - .*)?$/gm],
    go: [/^\s*--- FAIL: (\S+)/gm],
    cargo: [/^test (\S+) \.\.\. FAILED\s*$/gm],
  };
  if (!which) return [];
  const names: string[] = [];
  for (const re of patterns[which]) {
    for (const m of output.matchAll(re)) {
      const name = (m[1] as string).trim();
      if (name && !names.includes(name)) names.push(name);
    }
  }
  return names.slice(0, max);
}

/** "142 passed, 2 failed, 1 skipped" (zero failed/skipped left out; "no tests ran" when all zero). */
export function summarizeCounts(c: TestCounts): string {
  const parts = [`${c.passed} passed`];
  if (c.failed) parts.push(`${c.failed} failed`);
  if (c.skipped) parts.push(`${c.skipped} skipped`);
  return c.passed + c.failed + c.skipped === 0 ? 'no tests ran' : parts.join(', ');
}

/** The run_tests tool for a configured command (agent.testCommand). */
export function runTestsTool(testCommand: string): AnyTool {
  return defineTool({
    name: 'run_tests',
    description: `Run the project's test suite (\`${testCommand}\`) and report passed/failed/skipped counts and failing test names. Give \`package\` to run it in one package of a monorepo (packages/<name>, apps/<name> or <name>).`,
    input: z.object({ package: z.string().min(1).optional() }),
    risk: 'exec',
    describe: (a) => `run the tests${a.package ? ` in the ${a.package} package` : ''} with ${testCommand}`,
    subject: () => testCommand,
    execute: (a, context) =>
      withWorkspace('run_tests', context, async (ws) => {
        const cwd = a.package ? await packageFolder(ws, a.package) : ws.root;
        if (cwd === undefined) return failure(`no package named ${a.package} in packages/, apps/ or the workspace root`, `I can't find a package called ${a.package}.`);
        const run = await runShell(testCommand, { cwd, signal: context.signal, env: NON_INTERACTIVE_ENV });
        if (run.spawnError) return failure(`could not start the tests: ${run.spawnError}`, `I couldn't start the tests.`);
        const output = stripAnsi(run.output).trimEnd();
        const parsed = parseTestCounts(output);
        const failing = parsed ? failingTestNames(output, parsed.framework) : [];
        const status = run.aborted ? 'stopped' : run.code === null ? `killed by ${run.signal ?? 'a signal'}` : `exit code ${run.code}`;
        const summary = parsed ? `${parsed.framework}: ${summarizeCounts(parsed)}; ${status}` : status;
        const failingLine = failing.length ? `\nfailing: ${failing.join('; ')}` : '';
        const text = `[${summary}]${failingLine}\n$ ${testCommand}\n${output}`;
        const data = { counts: parsed, failing, exitCode: run.code };
        const ok = run.code === 0 && (parsed?.failed ?? 0) === 0;
        let spoken: string;
        if (parsed) {
          const names = failing.slice(0, 3);
          spoken = `${capitalize(summarizeCounts(parsed))}${names.length ? `: ${names.join(', ')}` : ''}.`;
          if (parsed.failed === 0 && run.code !== 0 && !run.aborted) spoken += ` But the test command failed with exit code ${run.code}.`;
        } else if (run.aborted) {
          spoken = 'I stopped the tests.';
        } else {
          spoken = run.code === 0 ? 'The tests passed.' : `The tests failed${run.code === null ? '' : ` with exit code ${run.code}`}.`;
        }
        if (a.package) spoken = `In the ${a.package} package: ${spoken.charAt(0).toLowerCase()}${spoken.slice(1)}`;
        return ok ? success(text, spoken, data) : failure(text, spoken, data);
      }),
  });
}

/** The folder of a monorepo package inside the workspace, or undefined when there is none. */
async function packageFolder(ws: Workspace, name: string): Promise<string | undefined> {
  for (const candidate of [`packages/${name}`, `apps/${name}`, name]) {
    try {
      const dir = await ws.resolve(candidate, { mustExist: true });
      if ((await stat(dir)).isDirectory()) return dir;
    } catch (err) {
      if (err instanceof OutsideWorkspaceError) throw err;
    }
  }
  return undefined;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
