import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// Jobs and the audit log live under XDG_STATE_HOME: keep the tests' out of the real home.
const stateHome = mkdtempSync(join(tmpdir(), 'kai-test-state-'));

/**
 * Runs in real time with an echo path: the assistant's echo and its cancellation depend on the audio keeping pace,
 * so these files run on their own, after the rest, instead of competing for the CPU with them.
 */
const realTime = ['tests/e2e/simulate-echo.test.ts'];

export default defineConfig({
  test: {
    projects: [
      { extends: true, test: { name: 'suite', include: ['tests/**/*.test.ts'], exclude: realTime } },
      { extends: true, test: { name: 'real time', include: realTime, fileParallelism: false, sequence: { groupOrder: 1 } } },
    ],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    globalSetup: ['tests/helpers/global-setup.ts'],
    reporters: ['default', './tests/helpers/summary-reporter.ts'],
    env: { XDG_STATE_HOME: stateHome },
  },
});
