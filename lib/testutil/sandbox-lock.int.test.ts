/**
 * The sandbox sweep against real processes, locks and namespaces (root): a process that made a
 * sandbox is killed with SIGKILL before its destroy(); the next Sandbox.create removes what it
 * left, and leaves alone a live sandbox of another process, names without a lock, and names
 * without the test prefix. The other processes run sandbox-lock.driver.ts under Bun; this one
 * (a jest worker under Node) holds a lock too. Everything the test makes is removed afterwards,
 * also on failure.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requirePrograms } from './programs';
import { REPO_ROOT, Sandbox, run, runOk } from './sandbox';
import { LOCK_DIR, sweepDeadSandboxes, type Swept } from './sandbox-lock';

const BUN = join(REPO_ROOT, 'node_modules', '.bin', 'bun');
const DRIVER = join(__dirname, 'sandbox-lock.driver.ts');

interface Made {
  pid: number;
  prefix: string;
  dir: string;
  namespaces: string[];
  lock: string;
}
interface Owner {
  child: ChildProcess;
  made: Made;
  exited: Promise<void>;
}

const owners: Owner[] = [];
const mine: Sandbox[] = [];
const extraNamespaces: string[] = [];
const extraFiles: string[] = [];

const rand = (): string => randomBytes(3).toString('hex');
const nsExists = (ns: string): boolean => existsSync(`/run/netns/${ns}`);
/** True when another process holds the flock on `file` (`flock` exits 1 without waiting). */
const locked = async (file: string): Promise<boolean> => (await run(['flock', '--nonblock', file, 'true'])).code === 1;

/** Starts a driver process with a sandbox of its own; resolves once the sandbox exists. */
function startOwner(tag: string): Promise<Owner> {
  const child = spawn(BUN, [DRIVER, 'own', tag], { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      const owner = { child, made: JSON.parse(out.slice(0, nl)) as Made, exited };
      owners.push(owner);
      resolve(owner);
    });
    void exited.then(() => reject(new Error(`driver exited before its sandbox was made: ${err}${out}`)));
  });
}

const sweepIn = async (): Promise<Swept> => (await runOk([BUN, DRIVER, 'sweep'])).json as Swept;

/** Everything the owner made is there (or, with `present: false`, gone). */
function expectMade(m: Made, present: boolean): void {
  expect({ namespaces: m.namespaces.map(nsExists), dir: existsSync(m.dir), lock: existsSync(m.lock) }).toEqual({
    namespaces: m.namespaces.map(() => present),
    dir: present,
    lock: present,
  });
}

async function kill(o: Owner): Promise<void> {
  if (o.child.exitCode === null && o.child.signalCode === null && o.child.pid) process.kill(o.child.pid, 'SIGKILL');
  await o.exited;
}

afterAll(async () => {
  for (const o of owners) await kill(o);
  for (const sb of mine) await sb.destroy();
  // What the killed drivers left: their locks are free now, so this removes exactly that.
  sweepDeadSandboxes();
  for (const ns of extraNamespaces) await run(['ip', 'netns', 'del', ns]);
  for (const f of extraFiles) rmSync(f, { force: true });
});

describe('sandboxes of dead processes', () => {
  it('a sandbox whose process was SIGKILLed is removed by the next Sandbox.create; a live one of another process is not', async () => {
    requirePrograms('flock', 'ip');
    const [dead, live] = await Promise.all([startOwner('swdead'), startOwner('swlive')]);
    expectMade(dead.made, true);
    expectMade(live.made, true);
    expect(await locked(dead.made.lock)).toBe(true);

    await kill(dead);
    // Killing removes nothing by itself; the kernel only dropped the lock.
    expectMade(dead.made, true);
    expect(await locked(dead.made.lock)).toBe(false);

    const sb = await Sandbox.create('swnext');
    mine.push(sb);
    expectMade(dead.made, false);
    expectMade(live.made, true);
    expect(await locked(live.made.lock)).toBe(true);
    // This process (Node) holds its own sandbox's lock.
    expect(await locked(join(LOCK_DIR, `${sb.prefix}.lock`))).toBe(true);

    // A sandbox ended by its destroy() leaves nothing either, lock file included.
    live.child.stdin?.end();
    await live.exited;
    expect(live.child.exitCode).toBe(0);
    expectMade(live.made, false);
    await sb.destroy();
    expect(existsSync(join(LOCK_DIR, `${sb.prefix}.lock`))).toBe(false);
    expect(existsSync(sb.dir)).toBe(false);
  });

  it('sweeps in several processes at once remove a dead sandbox once, and nothing of a live one', async () => {
    const [dead, live] = await Promise.all([startOwner('swdead2'), startOwner('swlive2')]);
    await kill(dead);
    const results = await Promise.all([sweepIn(), sweepIn(), sweepIn(), sweepIn()]);
    // Other runs' dead sandboxes may be swept too; ours went exactly once, all of it.
    const ours = (xs: string[]): string[] => xs.filter((x) => x.includes(dead.made.prefix));
    const sandboxes = results.flatMap((r) => ours(r.sandboxes));
    const namespaces = results.flatMap((r) => ours(r.namespaces));
    const paths = results.flatMap((r) => ours(r.paths));
    expect({ sandboxes, namespaces: namespaces.sort(), paths }).toEqual({
      sandboxes: [dead.made.prefix],
      namespaces: [...dead.made.namespaces].sort(),
      paths: [dead.made.dir],
    });
    expect(
      results.flatMap((r) => [...r.sandboxes, ...r.namespaces, ...r.paths]).filter((x) => x.includes(live.made.prefix)),
    ).toEqual([]);
    expectMade(dead.made, false);
    expectMade(live.made, true);
    live.child.stdin?.end();
    await live.exited;
    expectMade(live.made, false);
  });

  it('leaves alone namespaces without a lock file, names without the test prefix, and lock files still being made', async () => {
    // A sandbox from before the locks (or a bench script's): nothing says whether it is in use.
    const legacy = `tscni-t-${process.pid}-${rand()}-legacy`;
    // A lock file and namespace that are not a test sandbox's, unlocked.
    const foreign = `notscni-${rand()}`;
    for (const ns of [`${legacy}-host`, `${foreign}-host`]) {
      await runOk(['ip', 'netns', 'add', ns]);
      extraNamespaces.push(ns);
    }
    mkdirSync(LOCK_DIR, { recursive: true, mode: 0o700 });
    const foreignLock = join(LOCK_DIR, `${foreign}.lock`);
    writeFileSync(foreignLock, '{}');
    extraFiles.push(foreignLock);
    // Lock files between creation and rename: a young one may be its maker's, an old one is not.
    const young = join(LOCK_DIR, `tscni-t-${process.pid}-${rand()}.new`);
    const old = join(LOCK_DIR, `tscni-t-${process.pid}-${rand()}.new`);
    for (const f of [young, old]) {
      writeFileSync(f, '{}');
      extraFiles.push(f);
    }
    const hourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(old, hourAgo, hourAgo);

    const sb = await Sandbox.create('swkeep');
    mine.push(sb);
    expect({
      legacy: nsExists(`${legacy}-host`),
      foreign: nsExists(`${foreign}-host`),
      foreignLock: existsSync(foreignLock),
      young: existsSync(young),
      old: existsSync(old),
    }).toEqual({ legacy: true, foreign: true, foreignLock: true, young: true, old: false });
    await sb.destroy();
    expect(readdirSync(LOCK_DIR)).not.toContain(`${sb.prefix}.lock`);
  });
});
