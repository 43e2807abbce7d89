import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// Jobs and the audit log live under XDG_STATE_HOME: keep the tests' out of the real home.
const stateHome = mkdtempSync(join(tmpdir(), 'kai-test-state-'));

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    globalSetup: ['tests/helpers/global-setup.ts'],
    reporters: ['default', './tests/helpers/summary-reporter.ts'],
    env: { XDG_STATE_HOME: stateHome },
  },
});
