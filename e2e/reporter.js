// A jest reporter for the e2e project: per client and cniVersion, the result, the time and what
// the runtime sent the plugins (from the reports e2e/harness/scenario.ts writes), then the plain
// closing line "e2e: N passed, M failed".
const { existsSync, readdirSync, readFileSync, rmSync } = require('node:fs');
const { join } = require('node:path');

const REPORTS = join(__dirname, '..', 'build', 'e2e', 'reports');

function facts(r) {
  const calls = r.calls.filter((c) => c.command !== 'VERSION');
  const probes = r.calls.filter((c) => c.command === 'VERSION');
  const out = [];
  out.push(
    `calls: ${calls.map((c) => `${c.plugin} ${c.command}${c.command === 'DEL' && !c.netns ? ' (no netns)' : ''}`).join(', ')}`,
  );
  if (probes.length) {
    const sent = [...new Set(probes.map((p) => `cniVersion ${p.cniVersion || '-'}, CNI_NETNS=${p.netns}`))];
    out.push(`VERSION probes: ${probes.length} (${sent.join('; ')})`);
  }
  const rc = [
    ...new Set(calls.filter((c) => c.runtimeConfig).map((c) => `${c.plugin}: ${JSON.stringify(c.runtimeConfig)}`)),
  ];
  if (rc.length) out.push(`runtimeConfig: ${rc.join('; ')}`);
  // Runtimes build CNI_ARGS from Go maps: the order varies between calls, the pairs do not.
  const args = [
    ...new Set(calls.flatMap((c) => (c.args ? c.args.split(';') : [])).map((kv) => kv.replace(/=.{40,}$/, '=…'))),
  ];
  if (args.length) out.push(`CNI_ARGS: ${args.sort().join(';')}`);
  const versions = [...new Set(calls.map((c) => `${c.plugin} ${c.cniVersion}`))];
  out.push(`cniVersion per plugin: ${versions.join(', ')}`);
  const netns = [
    ...new Set(
      calls.filter((c) => c.command === 'ADD').map((c) => (c.netns || '').replace(/[0-9a-f-]{16,}|\d+/g, '…')),
    ),
  ];
  out.push(`ADD netns: ${netns.join(', ')}`);
  return out;
}

class E2eReporter {
  onRunStart() {
    if (existsSync(REPORTS)) rmSync(REPORTS, { recursive: true, force: true });
  }

  onRunComplete(_contexts, results) {
    const reports = existsSync(REPORTS)
      ? readdirSync(REPORTS)
          .filter((f) => f.endsWith('.json'))
          .map((f) => JSON.parse(readFileSync(join(REPORTS, f), 'utf8')))
      : [];
    const lines = ['', 'scenario           result  seconds  steps (ms)'];
    for (const r of reports.sort((a, b) => a.tag.localeCompare(b.tag))) {
      const steps = r.steps.map((s) => `${s.step} ${s.ms}`).join(', ');
      lines.push(
        `${r.tag.padEnd(18)} ${(r.ok ? 'pass' : 'FAIL').padEnd(6)}  ${(r.ms / 1000).toFixed(1).padStart(7)}  ${steps}`,
      );
    }
    lines.push('', 'what the runtimes sent (1.0.0 runs):');
    for (const r of reports.filter((x) => x.tag.endsWith('1.0.0'))) {
      lines.push(`  ${r.tag.replace(/-1\.0\.0$/, '')}:`);
      for (const f of facts(r)) lines.push(`    ${f}`);
    }
    const failedNames = results.testResults.flatMap((f) =>
      f.testResults.filter((t) => t.status === 'failed').map((t) => `  failed: ${t.fullName}`),
    );
    const passed = results.numPassedTests;
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    lines.push(...failedNames, `e2e: ${passed} passed, ${failed} failed`, '');
    process.stdout.write(lines.join('\n'));
  }
}
module.exports = E2eReporter;
