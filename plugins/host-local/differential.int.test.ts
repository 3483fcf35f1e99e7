/**
 * Differential tests: bin/host-local against the reference /usr/lib/cni/host-local (v1.1.1,
 * CNI ≤ 1.0.0, no GC/STATUS, leases 0644). The same calls must give the same results, the same
 * lease files and contents, and each must read the other's store.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN_DIR, REFERENCE_DIR, Sandbox, type RunResult } from '../../lib/testutil/sandbox';

const OURS = join(BIN_DIR, 'host-local');
const REF = join(REFERENCE_DIR, 'host-local');
let sb: Sandbox;
let netns: string;
let seq = 0;

beforeAll(async () => {
  if (!existsSync(OURS)) throw new Error(`${OURS} missing: run make build PLUGINS=host-local TOOLS=`);
  if (!existsSync(REF)) throw new Error(`${REF} missing: apt-get install containernetworking-plugins`);
  sb = await Sandbox.create('hldiff');
  netns = await sb.addContainer('c');
});
afterAll(async () => {
  await sb?.destroy();
});

const dataDir = (): string => {
  const d = join(sb.dir, `d${++seq}`);
  mkdirSync(d);
  return d;
};
const IPAM = {
  ranges: [
    [{ subnet: '10.30.0.0/28' }, { subnet: '10.30.1.0/29', rangeStart: '10.30.1.2' }],
    [{ subnet: 'fd00:30::/120' }],
  ],
};
const conf = (dir: string, extra: object = {}, v = '1.0.0') => ({
  cniVersion: v,
  name: 'dnet',
  ipam: { type: 'host-local', dataDir: dir, ...IPAM },
  ...extra,
});

interface Step {
  cmd: 'ADD' | 'DEL' | 'CHECK';
  id: string;
  ifname?: string;
  args?: string;
  extra?: object;
}
async function step(bin: string, dir: string, s: Step): Promise<RunResult> {
  return sb.runPlugin(
    bin,
    { command: s.cmd, containerId: s.id, netns, ifName: s.ifname ?? 'eth0', args: s.args },
    conf(dir, s.extra),
  );
}
/**
 * Output without the reference's always-present empty "dns" object, and without the error's
 * cniVersion (v1.1.1's skel omits it; newer ones and our dispatcher print it).
 */
function norm(r: RunResult): unknown {
  const j = r.json as Record<string, unknown> | undefined;
  if (!j) return { code: r.code };
  const { dns, ...rest } = j;
  if ('code' in rest) delete rest['cniVersion'];
  return { code: r.code, ...rest, ...(dns && Object.keys(dns).length ? { dns } : {}) };
}
/** Lease and cursor files with contents; our .tscni and both lock files excluded. */
function store(dir: string): Record<string, string> {
  const net = join(dir, 'dnet');
  const out: Record<string, string> = {};
  for (const n of readdirSync(net).sort())
    if (n !== 'lock' && n !== '.tscni') out[n] = readFileSync(join(net, n), 'utf8');
  return out;
}

const SCRIPT: Step[] = [
  { cmd: 'ADD', id: 'a' },
  { cmd: 'ADD', id: 'b' },
  { cmd: 'ADD', id: 'b', ifname: 'eth1' },
  { cmd: 'ADD', id: 'b' }, // duplicate
  { cmd: 'CHECK', id: 'b', ifname: 'eth1' },
  { cmd: 'CHECK', id: 'zz' },
  { cmd: 'DEL', id: 'a' },
  { cmd: 'ADD', id: 'c', args: 'IP=10.30.1.5' },
  { cmd: 'ADD', id: 'd', args: 'IP=10.30.0.1' }, // gateway
  { cmd: 'ADD', id: 'e', extra: { runtimeConfig: { ips: ['fd00:30::ff', '10.30.0.14'] } } },
  { cmd: 'ADD', id: 'f', extra: { args: { cni: { ips: ['10.30.0.14'] } } } }, // taken
  ...['g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's', 't', 'u'].map((id): Step => ({
    cmd: 'ADD',
    id,
  })), // into the 2nd range, then exhaustion
  { cmd: 'DEL', id: 'b' },
  { cmd: 'DEL', id: 'b', ifname: 'eth1' },
  { cmd: 'DEL', id: 'nobody' },
  { cmd: 'ADD', id: 'v' },
];

describe('host-local vs reference', () => {
  it('the same script gives the same results and the same store', async () => {
    const ref = dataDir();
    const ours = dataDir();
    for (const s of SCRIPT) {
      const [r, o] = [await step(REF, ref, s), await step(OURS, ours, s)];
      const label = `${s.cmd} ${s.id}/${s.ifname ?? 'eth0'}`;
      expect({ label, out: norm(o) }).toEqual({ label, out: norm(r) });
      expect({ label, store: store(ours) }).toEqual({ label, store: store(ref) });
    }
  });

  it('ours reads and releases what the reference wrote, and continues its round robin', async () => {
    const dir = dataDir();
    const shadow = dataDir();
    for (const id of ['a', 'b', 'c']) {
      expect((await step(REF, dir, { cmd: 'ADD', id })).code).toBe(0);
      await step(REF, shadow, { cmd: 'ADD', id });
    }
    expect((await step(OURS, dir, { cmd: 'CHECK', id: 'b' })).code).toBe(0);
    expect(norm(await step(OURS, dir, { cmd: 'ADD', id: 'b' }))).toEqual(
      norm(await step(REF, shadow, { cmd: 'ADD', id: 'b' })),
    ); // duplicate
    expect((await step(OURS, dir, { cmd: 'DEL', id: 'b' })).code).toBe(0);
    await step(REF, shadow, { cmd: 'DEL', id: 'b' });
    expect(norm(await step(OURS, dir, { cmd: 'ADD', id: 'd' }))).toEqual(
      norm(await step(REF, shadow, { cmd: 'ADD', id: 'd' })),
    );
    expect(store(dir)).toEqual(store(shadow));
  });

  it('the reference reads and releases what ours wrote, and continues its round robin', async () => {
    const dir = dataDir();
    const shadow = dataDir();
    for (const id of ['a', 'b', 'c']) {
      expect((await step(OURS, dir, { cmd: 'ADD', id })).code).toBe(0);
      await step(REF, shadow, { cmd: 'ADD', id });
    }
    expect((await step(REF, dir, { cmd: 'CHECK', id: 'b' })).code).toBe(0);
    expect((await step(REF, dir, { cmd: 'CHECK', id: 'x' })).code).toBe(1);
    expect((await step(REF, dir, { cmd: 'DEL', id: 'b' })).code).toBe(0);
    await step(REF, shadow, { cmd: 'DEL', id: 'b' });
    expect(store(dir)).toEqual(store(shadow));
    expect(norm(await step(REF, dir, { cmd: 'ADD', id: 'd' }))).toEqual(
      norm(await step(REF, shadow, { cmd: 'ADD', id: 'd' })),
    );
    // and ours notices the reference's changes (index rebuilt from the lease files)
    expect((await step(OURS, dir, { cmd: 'CHECK', id: 'b' })).code).toBe(1);
    expect((await step(OURS, dir, { cmd: 'CHECK', id: 'd' })).code).toBe(0);
    expect((await step(OURS, dir, { cmd: 'DEL', id: 'd' })).code).toBe(0);
    await step(REF, shadow, { cmd: 'DEL', id: 'd' });
    expect(store(dir)).toEqual(store(shadow));
  });

  it.each([
    [{ ranges: [[{ subnet: '10.31.0.7/24' }]] }],
    [{ ranges: [[{ subnet: '10.31.0.0/31' }]] }],
    [{ ranges: [[{ subnet: 'fd00:31::/127' }]] }],
    [{ ranges: [[{ subnet: '10.31.0.0/24', rangeStart: '10.31.1.1' }]] }],
    [{ ranges: [[{ subnet: '10.31.0.0/24', rangeEnd: '10.30.0.1' }]] }],
    [{ ranges: [[{ subnet: '10.31.0.0/24' }, { subnet: 'fd00::/64' }]] }],
    [{ ranges: [[{ subnet: '10.31.0.0/24' }, { subnet: '10.31.0.0/25' }]] }],
    [{ ranges: [[{ subnet: '10.31.0.0/24' }], [{ subnet: '10.31.0.0/25' }]] }],
    [{ ranges: [[]] }],
    [{ ranges: [] }],
    [{ ranges: [[{ subnet: 'bogus' }]] }],
    [{ subnet: '10.31.0.0/24', resolvConf: '/nonexistent/resolv.conf' }],
  ])('same message for the bad config %j (code 7 where the reference says 999)', async (ipam) => {
    const dir = dataDir();
    const c = { cniVersion: '1.0.0', name: 'dnet', ipam: { type: 'host-local', dataDir: dir, ...ipam } };
    const [r, o] = [
      await sb.runPlugin(REF, { command: 'ADD', containerId: 'x', netns, ifName: 'eth0' }, c),
      await sb.runPlugin(OURS, { command: 'ADD', containerId: 'x', netns, ifName: 'eth0' }, c),
    ];
    expect(r.code).toBe(1);
    expect(o.code).toBe(1);
    const msg = (x: RunResult): unknown => (x.json as { msg?: string }).msg;
    expect(msg(o)).toBe(msg(r));
  });

  it('legacy ID-only leases are found and released like the reference does', async () => {
    const ref = dataDir();
    const ours = dataDir();
    for (const d of [ref, ours]) {
      await step(REF, d, { cmd: 'ADD', id: 'warmup' }); // creates the directory
      const { writeFileSync } = await import('node:fs');
      writeFileSync(join(d, 'dnet', '10.30.0.9'), 'old');
    }
    for (const s of [
      { cmd: 'CHECK', id: 'old' },
      { cmd: 'DEL', id: 'old' },
      { cmd: 'CHECK', id: 'old' },
    ] as Step[]) {
      expect(norm(await step(OURS, ours, s))).toEqual(norm(await step(REF, ref, s)));
      expect(store(ours)).toEqual(store(ref));
    }
  });

  // An operator who turns the delay on and later swaps back (or mixes binaries) keeps one store:
  // the reference gets the same config (it ignores the unknown key) and our release log.
  it('with the reuse delay on, the reference reads and changes the store as usual (and ignores the delay)', async () => {
    const dir = dataDir();
    const shadow = dataDir();
    const delay = { extra: { ipam: { type: 'host-local', dataDir: dir, ...IPAM, reuseDelaySeconds: 600 } } };
    const refDelay = { extra: { ipam: { ...delay.extra.ipam } } };
    for (const id of ['a', 'b', 'c']) {
      expect((await step(OURS, dir, { cmd: 'ADD', id, ...delay })).code).toBe(0);
      await step(REF, shadow, { cmd: 'ADD', id });
    }
    expect((await step(OURS, dir, { cmd: 'DEL', id: 'b', ...delay })).code).toBe(0);
    await step(REF, shadow, { cmd: 'DEL', id: 'b' });
    expect(readdirSync(join(dir, 'dnet', '.tscni', 'released')).length).toBe(2); // b's IPv4 and IPv6
    expect(store(dir)).toEqual(store(shadow));
    // The reference's walk passes over the release log; its CHECK, DEL and round robin are unchanged.
    expect((await step(REF, dir, { cmd: 'CHECK', id: 'a', ...refDelay })).code).toBe(0);
    expect(norm(await step(REF, dir, { cmd: 'ADD', id: 'd', ...refDelay }))).toEqual(
      norm(await step(REF, shadow, { cmd: 'ADD', id: 'd' })),
    );
    expect((await step(REF, dir, { cmd: 'DEL', id: 'a', ...refDelay })).code).toBe(0);
    await step(REF, shadow, { cmd: 'DEL', id: 'a' });
    expect(store(dir)).toEqual(store(shadow));
  });

  it('with the reuse delay on, both binaries take turns on a two-address range and never double-allocate', async () => {
    const dir = dataDir();
    const ipam = {
      type: 'host-local',
      dataDir: dir,
      ranges: [[{ subnet: '10.32.0.0/24', rangeStart: '10.32.0.10', rangeEnd: '10.32.0.11' }]],
      reuseDelaySeconds: 600,
    };
    const on = (bin: string, cmd: Step['cmd'], id: string): Promise<RunResult> =>
      step(bin, dir, { cmd, id, extra: { ipam } });
    const ip = (r: RunResult): string | undefined => (r.json as { ips?: Array<{ address: string }> }).ips?.[0]?.address;
    const leases = (): Record<string, string> =>
      Object.fromEntries(Object.entries(store(dir)).filter(([n]) => n.startsWith('10.')));

    expect(ip(await on(OURS, 'ADD', 'a'))).toBe('10.32.0.10/24');
    expect(ip(await on(OURS, 'ADD', 'b'))).toBe('10.32.0.11/24');
    expect((await on(OURS, 'DEL', 'a')).code).toBe(0);
    // Ours holds .10 back: the reference's "no free addresses" code, naming the delay.
    const held = await on(OURS, 'ADD', 'c');
    expect(held.json).toMatchObject({ code: 999, msg: expect.stringContaining('reuseDelaySeconds 600') as unknown });
    // The reference knows no delay: it takes .10 at once, through our store.
    expect(ip(await on(REF, 'ADD', 'c'))).toBe('10.32.0.10/24');
    expect(leases()).toEqual({ '10.32.0.10': 'c\r\neth0', '10.32.0.11': 'b\r\neth0' });
    // A stale release record does not make ours hand out an address the reference leased.
    expect((await on(OURS, 'ADD', 'd')).json).toMatchObject({ code: 999 });
    // Ours releases the reference's lease and logs it; the reference's release of ours is not
    // logged (it writes no record), so ours hands that address out at once.
    expect((await on(OURS, 'DEL', 'c')).code).toBe(0);
    expect((await on(REF, 'DEL', 'b')).code).toBe(0);
    expect(leases()).toEqual({});
    expect(ip(await on(OURS, 'ADD', 'd'))).toBe('10.32.0.11/24');
    expect((await on(OURS, 'ADD', 'e')).json).toMatchObject({ code: 999 }); // .10 still held back
    expect((await on(REF, 'CHECK', 'd')).code).toBe(0);
    expect((await on(REF, 'DEL', 'd')).code).toBe(0);
    expect((await on(OURS, 'CHECK', 'd')).code).toBe(1);
    expect(leases()).toEqual({});
  });
});
