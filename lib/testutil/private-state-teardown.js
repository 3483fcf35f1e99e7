// Jest global teardown, after every test of the run: removes the private state directories
// (private-state.js) of test processes that have ended: this run's workers, this process once its
// tests are done (--runInBand), and those an earlier, killed run left. A live process's directory
// (another jest run beside this one) is kept; only our own directories, never through a link.
const { lstatSync, readdirSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

module.exports = async function removePrivateState() {
  const dir = tmpdir();
  for (const name of readdirSync(dir)) {
    const m = /^tscni-test-(\d+)$/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && alive(pid)) continue;
    const path = join(dir, name);
    try {
      const st = lstatSync(path);
      if (!st.isDirectory() || st.uid !== process.getuid()) continue;
      rmSync(path, { recursive: true, force: true });
    } catch {
      // gone already, or not ours to remove: left for a later run
    }
  }
};
