import { describe, it, expect, afterEach } from '@jest/globals';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NetworkName } from '../cni/names';
import { UnsafePathError } from '../sys/safe-fs';
import { NetworkStore, isLeaseName, parseLeaseContent } from './disk-store';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function fresh(): { data: string; store: NetworkStore; dir: string } {
  const data = mkdtempSync(join(tmpdir(), 'tscni-store-'));
  dirs.push(data);
  const store = NetworkStore.open(data, 'net1' as NetworkName);
  return { data, store, dir: join(data, 'net1') };
}
const a = { id: 'c1', ifname: 'eth0' };
const b = { id: 'c2', ifname: 'eth0' };

describe('NetworkStore', () => {
  it('writes leases in the reference format, mode 0600, and a lock file', async () => {
    const { store, dir } = fresh();
    await store.locked((s) => {
      expect(s.reserve('10.0.0.2', a)).toBe(true);
      expect(s.reserve('10.0.0.2', b)).toBe(false);
      s.setIndex(a, ['10.0.0.2']);
    });
    expect(readFileSync(join(dir, '10.0.0.2'), 'utf8')).toBe('c1\r\neth0');
    expect(statSync(join(dir, '10.0.0.2')).mode & 0o777).toBe(0o600);
    expect(existsSync(join(dir, 'lock'))).toBe(true);
    expect(
      readdirSync(dir)
        .filter((n) => !n.startsWith('.'))
        .sort(),
    ).toEqual(['10.0.0.2', 'lock']);
    expect(existsSync(join(dir, '.tscni', 'lease.tmp'))).toBe(false);
  });

  it('finds leases through the index and releases them', async () => {
    const { store, dir } = fresh();
    await store.locked((s) => {
      s.reserve('10.0.0.2', a);
      s.reserve('fd00::2', a);
      s.setIndex(a, ['10.0.0.2', 'fd00::2']);
    });
    const got = await store.locked((s) => s.leasesOf(a));
    expect(got).toEqual(['10.0.0.2', 'fd00::2']);
    await store.locked((s) => {
      s.release(got);
      s.setIndex(a, []);
    });
    expect(readdirSync(dir).filter(isLeaseName)).toEqual([]);
  });

  it('rebuilds the index when leases were written behind its back (reference, crash)', async () => {
    const { store, dir } = fresh();
    await store.locked(() => undefined);
    writeFileSync(join(dir, '10.0.0.7'), 'c9\r\neth1'); // as the reference would
    writeFileSync(join(dir, '10.0.0.8'), 'old-id'); // pre-0.8 legacy lease
    const found = await store.locked((s) => [
      s.leasesOf({ id: 'c9', ifname: 'eth1' }),
      s.leasesOf({ id: 'old-id', ifname: 'eth0' }),
    ]);
    expect(found).toEqual([['10.0.0.7'], ['10.0.0.8']]);
  });

  it('ignores stale index entries whose lease file changed owner', async () => {
    const { store, dir } = fresh();
    await store.locked((s) => {
      s.reserve('10.0.0.2', a);
      s.setIndex(a, ['10.0.0.2']);
    });
    rmSync(join(dir, '10.0.0.2'));
    writeFileSync(join(dir, '10.0.0.2'), 'c2\r\neth0');
    expect(await store.locked((s) => s.leasesOf(a))).toEqual([]);
  });

  it('marks the index stale while a change is in flight, so a crash forces a rebuild', async () => {
    const { store, dir } = fresh();
    const stamp = join(dir, '.tscni', 'stamp');
    await store.locked(() => undefined);
    expect(existsSync(stamp)).toBe(true);
    await store.locked((s) => {
      s.reserve('10.0.0.2', a);
      expect(existsSync(stamp)).toBe(false); // a kill -9 here leaves no stamp
      s.setIndex(a, ['10.0.0.2']);
    });
    expect(existsSync(stamp)).toBe(true);
    // simulate the kill: a lease linked, the index never written, no stamp
    writeFileSync(join(dir, '10.0.0.3'), 'c2\r\neth0');
    rmSync(stamp);
    expect(await store.locked((s) => s.leasesOf(b))).toEqual(['10.0.0.3']);
  });

  it('sees a change that left the directory mtime and size as they were (a coarse clock)', async () => {
    // Before Linux 6.13 a directory's mtime comes from a clock that ticks every few ms, and on ext4
    // its size stays 4096: a reference ADD right after ours can leave both unchanged. Simulated here
    // by giving the directory, after each change, the very timestamp the kernel gave our change.
    const { store, dir } = fresh();
    const tick = new Date(Math.floor(Date.now() / 1000) * 1000);
    await store.locked((s) => {
      s.reserve('10.0.0.2', a);
      s.setIndex(a, ['10.0.0.2']);
      utimesSync(dir, tick, tick); // the kernel's time of our change
    });
    const size = statSync(dir).size;
    writeFileSync(join(dir, '10.0.0.3'), 'c2\r\neth0'); // the reference, within the same tick
    utimesSync(dir, tick, tick);
    if (statSync(dir).size !== size) return; // a filesystem whose size tells (tmpfs) proves nothing here
    expect(await store.locked((s) => s.leasesOf(b))).toEqual(['10.0.0.3']);
  });

  it('indexes attachments whose key is too long for a file name', async () => {
    const { store } = fresh();
    const long = { id: 'x'.repeat(300), ifname: 'eth0' };
    await store.locked((s) => {
      s.reserve('10.0.0.9', long);
      s.setIndex(long, ['10.0.0.9']);
    });
    expect(await store.locked((s) => s.leasesOf(long))).toEqual(['10.0.0.9']);
    await store.locked((s) => s.rebuildIndex());
    expect(await store.locked((s) => s.leasesOf(long))).toEqual(['10.0.0.9']);
  });

  it('refuses network names that would leave dataDir', () => {
    const { data } = fresh();
    for (const bad of ['..', '.', 'a/b'])
      expect(() => NetworkStore.open(data, bad as NetworkName)).toThrow(/invalid network name/);
  });

  it('removes a temp file left by a crashed holder', async () => {
    const { store, dir } = fresh();
    // open() makes the network directory and its lock file; `.tscni` is made under the lock.
    mkdirSync(join(dir, '.tscni'), { recursive: true });
    writeFileSync(join(dir, '.tscni', 'lease.tmp'), 'c1\r\neth0');
    await store.locked(() => undefined);
    expect(existsSync(join(dir, '.tscni', 'lease.tmp'))).toBe(false);
  });

  it('serialises concurrent holders', async () => {
    const { store } = fresh();
    const order: string[] = [];
    const slow = (tag: string) =>
      store.locked(async () => {
        order.push(`${tag}+`);
        await new Promise((r) => setTimeout(r, 20));
        order.push(`${tag}-`);
      });
    await Promise.all([slow('x'), slow('y')]);
    expect([
      ['x+', 'x-', 'y+', 'y-'],
      ['y+', 'y-', 'x+', 'x-'],
    ]).toContainEqual(order);
  });

  it('keeps round-robin state in last_reserved_ip.<n>', async () => {
    const { store, dir } = fresh();
    await store.locked((s) => s.setLastReserved(1, 'fd00::9'));
    expect(readFileSync(join(dir, 'last_reserved_ip.1'), 'utf8')).toBe('fd00::9');
    expect(await store.locked((s) => s.lastReserved(1))).toEqual({
      family: 6,
      value: 0xfd000000000000000000000000000009n,
    });
  });

  it('a link planted at the lock after open() made it is refused by locked(), not followed', async () => {
    const { data, store, dir } = fresh();
    writeFileSync(join(data, 'victim'), 'precious');
    rmSync(join(dir, 'lock'));
    symlinkSync(join(data, 'victim'), join(dir, 'lock'));
    let ran = false;
    await expect(
      store.locked(() => {
        ran = true;
      }),
    ).rejects.toThrow(UnsafePathError);
    expect(ran).toBe(false);
    expect(readFileSync(join(data, 'victim'), 'utf8')).toBe('precious');
  });

  it('refuses a dataDir that is a file', () => {
    const { data } = fresh();
    writeFileSync(join(data, 'file'), '');
    expect(() => NetworkStore.open(join(data, 'file'), 'n' as NetworkName)).toThrow(/cannot use store directory/);
  });
});

describe('lease names and contents', () => {
  it('accepts only canonical IP names', () => {
    expect(isLeaseName('10.0.0.1')).toBe(true);
    expect(isLeaseName('fd00::1')).toBe(true);
    for (const n of ['fd00:0::1', 'lock', 'last_reserved_ip.0', '.tscni', 'lease.tmp'])
      expect(isLeaseName(n)).toBe(false);
  });
  it('parses current and legacy contents', () => {
    expect(parseLeaseContent('c1\r\neth0')).toEqual({ kind: 'attachment', id: 'c1', ifname: 'eth0' });
    expect(parseLeaseContent(' c1 \n')).toEqual({ kind: 'legacy', id: 'c1' });
  });
});
