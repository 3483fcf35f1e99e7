// Jest setup for every test project: tscni's own run-time and state directories (teardown marks,
// the port-forwarding lock, VLAN counts) point into the temporary directory, one per test
// process, so plugins the tests start never write to /run/tscni or /var/lib/cni/tscni of the
// machine. The plugins create them only when they need them; private-state-teardown.js removes
// them after the run.
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const root = join(tmpdir(), `tscni-test-${process.pid}`);
process.env.TSCNI_RUN_DIR ??= join(root, 'run');
process.env.TSCNI_STATE_DIR ??= join(root, 'state');
