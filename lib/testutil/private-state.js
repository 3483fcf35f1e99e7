// Jest setup for every test project: tscni's own run-time and state directories (teardown marks,
// the port-forwarding lock, VLAN counts) point at a temporary directory of this test process, so
// plugins the tests start never write to /run/tscni or /var/lib/cni/tscni of the machine.
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

if (!process.env.TSCNI_TEST_STATE) {
  process.env.TSCNI_TEST_STATE = mkdtempSync(join(tmpdir(), 'tscni-test-state-'));
  process.env.TSCNI_RUN_DIR = join(process.env.TSCNI_TEST_STATE, 'run');
  process.env.TSCNI_STATE_DIR = join(process.env.TSCNI_TEST_STATE, 'state');
  const dir = process.env.TSCNI_TEST_STATE;
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
}
