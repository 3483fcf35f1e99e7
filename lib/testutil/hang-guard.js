// Jest setup for the root suites (integration, conformance, e2e): they run real programs on a
// machine that may be busy (CI's 2 cores, other jobs), so a test's time limit only guards against
// hangs and never asserts speed. Per-project `testTimeout` does not exist in jest 29; this does.
require('@jest/globals').jest.setTimeout(180_000);
