// Four projects: unit (no root), integration (root, real network namespaces),
// conformance (black-box against the bundles in bin/), e2e (real container runtimes driving bin/,
// each in its own sandbox). `make unit|integration|conformance|e2e`.
// The executable is compiled from ES modules by Bun; jest runs the same sources as CommonJS.
const tsJest = [
  'ts-jest',
  { diagnostics: false, tsconfig: { module: 'commonjs', moduleResolution: 'node', isolatedModules: true } },
];
// Root suites run real programs on a machine that may be busy (CI's 2 cores, other jobs): a test's
// time limit guards against hangs only, never asserts speed, so it is generous everywhere but unit.
const HANG_GUARD_MS = 180_000;
const common = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': tsJest },
  moduleFileExtensions: ['ts', 'js', 'json'],
  setupFiles: ['<rootDir>/lib/testutil/private-state.js'],
};

module.exports = {
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/{lib,plugins,e2e}/**/*.test.ts'],
      testPathIgnorePatterns: ['\\.int\\.test\\.ts$', '\\.e2e\\.test\\.ts$'],
    },
    {
      ...common,
      displayName: 'integration',
      testTimeout: HANG_GUARD_MS,
      testMatch: ['<rootDir>/{lib,plugins,examples}/**/*.int.test.ts'],
    },
    {
      ...common,
      displayName: 'conformance',
      testTimeout: HANG_GUARD_MS,
      testMatch: ['<rootDir>/conformance/**/*.test.ts'],
    },
    { ...common, displayName: 'e2e', testTimeout: HANG_GUARD_MS, testMatch: ['<rootDir>/e2e/**/*.e2e.test.ts'] },
  ],
};
