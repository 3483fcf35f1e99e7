// Four projects: unit (no root), integration (root, real network namespaces),
// conformance (black-box against the bundles in bin/), e2e (real container runtimes driving bin/,
// each in its own sandbox). `make unit|integration|conformance|e2e`.
// The executable is compiled from ES modules by Bun; jest runs the same sources as CommonJS.
const tsJest = [
  'ts-jest',
  { diagnostics: false, tsconfig: { module: 'commonjs', moduleResolution: 'node', isolatedModules: true } },
];
const common = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': tsJest },
  moduleFileExtensions: ['ts', 'js', 'json'],
  setupFiles: ['<rootDir>/lib/testutil/private-state.js'],
  globalTeardown: '<rootDir>/lib/testutil/private-state-teardown.js',
};

module.exports = {
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/{cmd,lib,plugins,e2e}/**/*.test.ts'],
      testPathIgnorePatterns: ['\\.int\\.test\\.ts$', '\\.e2e\\.test\\.ts$'],
    },
    {
      ...common,
      displayName: 'integration',
      setupFilesAfterEnv: ['<rootDir>/lib/testutil/hang-guard.js'],
      testMatch: ['<rootDir>/{cmd,lib,plugins,examples}/**/*.int.test.ts'],
    },
    {
      ...common,
      displayName: 'conformance',
      setupFilesAfterEnv: ['<rootDir>/lib/testutil/hang-guard.js'],
      testMatch: ['<rootDir>/conformance/**/*.test.ts'],
    },
    {
      ...common,
      displayName: 'e2e',
      setupFilesAfterEnv: ['<rootDir>/lib/testutil/hang-guard.js'],
      testMatch: ['<rootDir>/e2e/**/*.e2e.test.ts'],
    },
  ],
};
