import { describe, expect, it } from 'vitest';
import { failingTestNames, parseTestCounts, summarizeCounts } from '../../src/agent/tools/builtin/tests.js';

const vitest = `
 RUN  v3.2.4 /home/me/api

 ✓ tests/math.test.ts (3 tests) 2ms
 ❯ tests/server.test.ts (4 tests | 2 failed) 12ms
   ✓ server > starts 3ms
   × server > answers health 5ms
     → expected 500 to be 200 // Object.is equality
   × server > closes cleanly 2ms
     → timed out
   ↓ server > streams logs

⎯⎯⎯⎯⎯⎯⎯ Failed Tests 2 ⎯⎯⎯⎯⎯⎯⎯

 FAIL  tests/server.test.ts > server > answers health
AssertionError: expected 500 to be 200 // Object.is equality
 ❯ tests/server.test.ts:14:22

 FAIL  tests/server.test.ts > server > closes cleanly
Error: timed out

 Test Files  1 failed | 3 passed (4)
      Tests  2 failed | 140 passed | 1 skipped (143)
   Start at  10:21:03
   Duration  1.42s (transform 120ms, setup 0ms, collect 300ms, tests 40ms)
`;

const vitestColoured =
  '\x1b[2m Test Files \x1b[22m \x1b[1m\x1b[32m4 passed\x1b[39m\x1b[22m\x1b[90m (4)\x1b[39m\n' +
  '\x1b[2m      Tests \x1b[22m \x1b[1m\x1b[32m57 passed\x1b[39m\x1b[22m\x1b[2m | \x1b[22m\x1b[33m2 todo\x1b[39m\x1b[90m (59)\x1b[39m\n';

const jest = `
PASS src/utils.test.js
FAIL src/api.test.js
  ● api › returns 404 for unknown routes

    expect(received).toBe(expected) // Object.is equality

    Expected: 404
    Received: 500

  ● api › validates input

    TypeError: Cannot read properties of undefined

Test Suites: 1 failed, 3 passed, 4 total
Tests:       2 failed, 1 skipped, 2 todo, 40 passed, 45 total
Snapshots:   0 total
Time:        2.341 s
Ran all test suites.
`;

const nodeTap = `TAP version 13
# Subtest: adds
ok 1 - adds
  ---
  duration_ms: 0.6
  ...
# Subtest: divides by zero
not ok 2 - divides by zero
  ---
  duration_ms: 0.9
  failureType: 'testCodeFailure'
  error: 'Expected values to be strictly equal'
  ...
1..6
# tests 6
# suites 0
# pass 4
# fail 1
# cancelled 0
# skipped 1
# todo 0
# duration_ms 61.2
`;

const nodeSpec = `✔ adds (0.51ms)
✖ divides by zero (1.02ms)
  AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:
﹣ skips on windows (0.1ms) # SKIP
ℹ tests 7
ℹ suites 0
ℹ pass 5
ℹ fail 1
ℹ cancelled 0
ℹ skipped 1
ℹ todo 0
ℹ duration_ms 55.3

✖ failing tests:

test at test/math.test.mjs:9:1
✖ divides by zero (1.02ms)
  AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:
`;

const pytest = `============================= test session starts ==============================
platform linux -- Python 3.11.2, pytest-7.2.1, pluggy-1.0.0
rootdir: /home/me/proj
collected 6 items

tests/test_math.py ..F.ss                                                [100%]

=================================== FAILURES ===================================
_________________________________ test_divide __________________________________

    def test_divide():
>       assert divide(1, 0) == 0
E       ZeroDivisionError: division by zero

tests/test_math.py:12: ZeroDivisionError
=========================== short test summary info ============================
FAILED tests/test_math.py::test_divide - ZeroDivisionError: division by zero
==================== 3 passed, 1 failed, 2 skipped in 0.12s ====================
`;

const goPlain = `--- FAIL: TestParse (0.00s)
    parse_test.go:14: got 3, want 4
FAIL
FAIL	example.com/app/parser	0.004s
ok  	example.com/app/server	0.012s
ok  	example.com/app/store	(cached)
?   	example.com/app/cmd	[no test files]
FAIL
`;

const goVerbose = `=== RUN   TestAdd
--- PASS: TestAdd (0.00s)
=== RUN   TestSub
--- PASS: TestSub (0.00s)
=== RUN   TestTable
=== RUN   TestTable/zero
    --- PASS: TestTable/zero (0.00s)
--- PASS: TestTable (0.00s)
=== RUN   TestNetwork
    net_test.go:9: no network
--- SKIP: TestNetwork (0.00s)
=== RUN   TestDiv
    div_test.go:20: division by zero
--- FAIL: TestDiv (0.00s)
FAIL
FAIL	example.com/calc	0.003s
FAIL
`;

const cargo = `   Compiling calc v0.1.0 (/home/me/calc)
    Finished test [unoptimized + debuginfo] target(s) in 0.61s
     Running unittests src/lib.rs (target/debug/deps/calc-1a2b3c)

running 6 tests
test tests::adds ... ok
test tests::subtracts ... ok
test tests::slow ... ignored
test tests::divides ... FAILED
test tests::multiplies ... ok
test tests::negates ... ok

failures:

---- tests::divides stdout ----
thread 'tests::divides' panicked at 'attempt to divide by zero', src/lib.rs:30:5

failures:
    tests::divides

test result: FAILED. 4 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s

     Running tests/integration.rs (target/debug/deps/integration-9f8e7d)

running 2 tests
test it_works ... ok
test it_parses ... ok

test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

   Doc-tests calc

running 0 tests

test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
`;

describe('parseTestCounts', () => {
  it('reads vitest summaries', () => {
    expect(parseTestCounts(vitest)).toEqual({ passed: 140, failed: 2, skipped: 1, framework: 'vitest' });
    expect(parseTestCounts(vitestColoured)).toEqual({ passed: 57, failed: 0, skipped: 2, framework: 'vitest' });
  });

  it('reads jest summaries', () => {
    expect(parseTestCounts(jest)).toEqual({ passed: 40, failed: 2, skipped: 3, framework: 'jest' });
    expect(parseTestCounts('Tests:       12 passed, 12 total\n')).toEqual({ passed: 12, failed: 0, skipped: 0, framework: 'jest' });
  });

  it('reads node:test TAP and spec summaries', () => {
    expect(parseTestCounts(nodeTap)).toEqual({ passed: 4, failed: 1, skipped: 1, framework: 'node:test' });
    expect(parseTestCounts(nodeSpec)).toEqual({ passed: 5, failed: 1, skipped: 1, framework: 'node:test' });
    expect(parseTestCounts('# tests 5\n# pass 5\n# fail 0\n')).toEqual({ passed: 5, failed: 0, skipped: 0, framework: 'node:test' });
  });

  it('reads pytest summaries', () => {
    expect(parseTestCounts(pytest)).toEqual({ passed: 3, failed: 1, skipped: 2, framework: 'pytest' });
    expect(parseTestCounts('3 passed, 1 failed, 2 skipped in 0.12s')).toEqual({ passed: 3, failed: 1, skipped: 2, framework: 'pytest' });
    expect(parseTestCounts('===== 1 failed, 10 passed, 1 xfailed, 2 warnings, 1 error in 3.02s (0:00:03) =====')).toEqual({
      passed: 10,
      failed: 2,
      skipped: 1,
      framework: 'pytest',
    });
    expect(parseTestCounts('12 passed in 0.50s\n')).toEqual({ passed: 12, failed: 0, skipped: 0, framework: 'pytest' });
    expect(parseTestCounts('============ no tests ran in 0.01s ============')).toEqual({ passed: 0, failed: 0, skipped: 0, framework: 'pytest' });
  });

  it('reads go test output with and without -v', () => {
    expect(parseTestCounts(goPlain)).toEqual({ passed: 2, failed: 1, skipped: 0, framework: 'go' });
    expect(parseTestCounts(goVerbose)).toEqual({ passed: 3, failed: 1, skipped: 1, framework: 'go' });
    expect(parseTestCounts('ok  \texample.com/app\t0.010s\n')).toEqual({ passed: 1, failed: 0, skipped: 0, framework: 'go' });
  });

  it('reads cargo test output, summing every test binary', () => {
    expect(parseTestCounts(cargo)).toEqual({ passed: 6, failed: 1, skipped: 1, framework: 'cargo' });
  });

  it('returns null for output it does not know', () => {
    expect(parseTestCounts('')).toBeNull();
    expect(parseTestCounts('make: *** [test] Error 1\n')).toBeNull();
    expect(parseTestCounts('ok 1 - some TAP line without summary\n')).toBeNull();
  });
});

describe('failingTestNames', () => {
  it('finds the failing tests per framework', () => {
    expect(failingTestNames(vitest)).toEqual(['server > answers health', 'server > closes cleanly']);
    expect(failingTestNames(jest)).toEqual(['api › returns 404 for unknown routes', 'api › validates input']);
    expect(failingTestNames(nodeTap)).toEqual(['divides by zero']);
    expect(failingTestNames(nodeSpec)).toEqual(['divides by zero']);
    expect(failingTestNames(pytest)).toEqual(['test_divide']);
    expect(failingTestNames(goVerbose)).toEqual(['TestDiv']);
    expect(failingTestNames(goPlain)).toEqual(['TestParse']);
    expect(failingTestNames(cargo)).toEqual(['tests::divides']);
  });

  it('is empty for unknown output', () => {
    expect(failingTestNames('nothing here')).toEqual([]);
  });
});

describe('summarizeCounts', () => {
  it('speaks the counts', () => {
    expect(summarizeCounts({ passed: 142, failed: 2, skipped: 0, framework: 'vitest' })).toBe('142 passed, 2 failed');
    expect(summarizeCounts({ passed: 5, failed: 0, skipped: 1, framework: 'jest' })).toBe('5 passed, 1 skipped');
    expect(summarizeCounts({ passed: 0, failed: 0, skipped: 0, framework: 'pytest' })).toBe('no tests ran');
  });
});
