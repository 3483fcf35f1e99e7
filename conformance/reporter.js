// A jest reporter for the conformance suite: a table per test file, then the plain closing line
// "N passed, M failed[, K skipped]".
class ConformanceReporter {
  onRunComplete(_contexts, results) {
    const rows = results.testResults.map((f) => {
      const name = f.testFilePath.replace(/^.*conformance\//, '');
      return {
        name,
        passed: f.numPassingTests,
        failed: f.numFailingTests + (f.testExecError ? 1 : 0),
        skipped: f.numPendingTests,
      };
    });
    const w = Math.max(10, ...rows.map((r) => r.name.length));
    const out = [`${'area'.padEnd(w)}  passed  failed  skipped`];
    for (const r of rows)
      out.push(
        `${r.name.padEnd(w)}  ${String(r.passed).padStart(6)}  ${String(r.failed).padStart(6)}  ${String(r.skipped).padStart(7)}`,
      );
    const failedNames = results.testResults.flatMap((f) =>
      f.testResults.filter((t) => t.status === 'failed').map((t) => `  failed: ${t.fullName}`),
    );
    const passed = results.numPassedTests;
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const skipped = results.numPendingTests;
    process.stdout.write(
      `\n${out.join('\n')}\n${failedNames.join('\n')}${failedNames.length ? '\n' : ''}${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`,
    );
  }
}
module.exports = ConformanceReporter;
