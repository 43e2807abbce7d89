import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKai } from '../helpers/cli.js';
import { concat, phrase, sharedModelsDir, silence, type Voice } from '../helpers/fixtures.js';
import { readJsonLines } from '../helpers/simulation.js';

/**
 * Offline `kai simulate` of "hey jarvis, run the tests": the embedded recognizer (pocketsphinx with the
 * intents' grammar), the local "run the tests" intent, the run_tests tool on the configured command,
 * and espeak saying the counts. No servers at all.
 */

const voice: Voice = { engine: 'flite', voice: 'rms' };

/** Prints what vitest prints at the end of a run with 12 passed and 2 failed tests. */
const FAKE_TESTS = `console.log(' RUN  v3.2.4 ' + process.cwd());
console.log('');
console.log(' Test Files  1 failed | 2 passed (3)');
console.log('      Tests  2 failed | 12 passed (14)');
console.log('   Duration  0.42s');
process.exitCode = 1;
`;

let base: string;
let workspace: string;

beforeAll(() => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'kai-offline-tests-')));
  workspace = join(base, 'project');
  mkdirSync(workspace);
  writeFileSync(join(workspace, 'fake-tests.mjs'), FAKE_TESTS);
});

afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

describe('offline kai simulate of "hey jarvis, run the tests"', () => {
  it('hears the command, runs the configured tests and says the counts', async () => {
    const config = join(base, 'kai.yaml');
    const audit = join(base, 'audit.jsonl');
    writeFileSync(
      config,
      [
        'agent:',
        `  workspace: ${JSON.stringify(workspace)}`,
        '  testCommand: node fake-tests.mjs',
        `  auditLog: ${JSON.stringify(audit)}`,
        'jobs:',
        `  dir: ${JSON.stringify(join(base, 'jobs'))}`,
        '',
      ].join('\n'),
    );
    const input = concat('offline-run-tests', [silence(1), phrase('hey jarvis', voice), silence(0.6), phrase('run the tests', voice), silence(1.5)]);
    const eventsFile = join(base, 'events.jsonl');
    const env = { KAI_MODELS_DIR: sharedModelsDir, XDG_CONFIG_HOME: join(base, 'no-config'), XDG_STATE_HOME: join(base, 'state') };

    const result = await runKai(['simulate', input, '--config', config, '--events', eventsFile, '--speed', '2'], { env, timeoutMs: 60_000 });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);

    const events = readJsonLines(eventsFile);
    expect(events.filter((e) => e.type === 'state').map((e) => e.value)).toEqual(['idle', 'wake', 'listen', 'think', 'speak', 'idle']);
    expect(events.filter((e) => e.type === 'error')).toEqual([]);
    const finals = events.filter((e) => e.type === 'transcript' && e.final);
    expect(finals.map((e) => e.text)).toEqual(['run the tests']);

    // the local intent, no LLM: run_tests with no arguments, then its result
    const call = events.findIndex((e) => e.type === 'tool_call');
    const done = events.findIndex((e) => e.type === 'tool_result');
    expect(events[call]).toMatchObject({ type: 'tool_call', name: 'run_tests', arguments: {} });
    expect(events[done]).toMatchObject({ type: 'tool_result', name: 'run_tests', ok: false, summary: '12 passed, 2 failed.' });
    expect(done).toBeGreaterThan(call);

    // it says the counts
    const said = events.filter((e) => e.type === 'assistant').map((e) => e.text);
    expect(said).toEqual(['12 passed, 2 failed.']);
    const turns = events.filter((e) => e.type === 'turn');
    expect(turns).toHaveLength(1);
    expect(turns[0]).toMatchObject({ turn: 1, transcript: 'run the tests', heardText: '12 passed, 2 failed.', interrupted: false });
    expect(turns[0]!.voiceToVoiceMs).toEqual(expect.any(Number));

    // run_tests is allowed by the default rule, and that decision is in the audit log
    expect(readJsonLines(audit)).toEqual([expect.objectContaining({ tool: 'run_tests', subject: 'node fake-tests.mjs', decision: 'allow', via: 'rule', rule: 'run_tests' })]);
  });
});
