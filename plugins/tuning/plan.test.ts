/**
 * tuning's verbs against recording fakes (no root): the container's netlink requests and
 * /proc/sys writes as golden text (`make golden` rewrites the files), the state record on disk in
 * a temporary directory. ADD changes sysctls before the interface; a refused change puts back
 * everything in reverse; DEL restores the interface in the reference's order, then the sysctls.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cannedLink, RecordingSocket, reply } from '../../lib/netlink/fake';
import { fakeKernel, planDir, type PlanDir } from '../../lib/testutil/fake-kernel';
import { expectGolden } from '../../lib/testutil/golden';
import { callVerb } from '../../lib/testutil/verbs';
import { add } from './add';
import { del } from './del';

let d: PlanDir;
let env: Record<string, string>;
beforeEach(() => {
  d = planDir();
  env = { ...d.env, TSCNI_TUNING_ALLOWLIST: join(d.dir, 'no-allowlist') };
});
afterEach(() => d.remove());

const SOMAXCONN = '/proc/sys/net/core/somaxconn';
const RP_FILTER = '/proc/sys/net/ipv4/conf/eth0/rp_filter';
/** The container's /proc/sys: two per-namespace values; wmem_max read-only, as outside the host. */
const procSys = (): { procSys: Record<string, string>; readonlySysctls: string[] } => ({
  procSys: { [SOMAXCONN]: '4096', [RP_FILTER]: '2' },
  readonlySysctls: ['/proc/sys/net/core/wmem_max'],
});

const conf = (): object => ({
  cniVersion: '1.0.0',
  name: 'tnet',
  type: 'tuning',
  dataDir: join(d.dir, 'tuning'),
  sysctl: { 'net.core.somaxconn': '512', 'net.ipv4.conf.IFNAME.rp_filter': '1' },
  mac: '02:00:00:00:00:99',
  mtu: 9000,
  promisc: true,
  prevResult: { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', mac: '0a:00:00:00:00:01', sandbox: '/x' }] },
});
const eth0 = (o: { mtu?: number; mac?: string } = {}): ReturnType<typeof reply.messages> =>
  reply.messages(
    cannedLink({ index: 2, name: 'eth0', mtu: o.mtu ?? 1500, mac: o.mac ?? '0a:00:00:00:00:01', txqlen: 1000 }),
  );
const record = (): string => join(d.dir, 'tuning', 'c1_eth0.json');

describe('tuning ADD plan', () => {
  it('the sysctls, then one request per interface attribute; the originals recorded first', async () => {
    const k = fakeKernel({ ctr: new RecordingSocket().respond(eth0()), ...procSys() });
    const out = await callVerb({ add: (inv) => add(inv, k.kernel) }, 'ADD', conf(), { netns: d.netns, env });
    expect(out.json['msg']).toBeUndefined();
    expect(out.json['interfaces']).toEqual([{ name: 'eth0', mac: '02:00:00:00:00:99', sandbox: '/x' }]);
    expect(JSON.parse(readFileSync(record(), 'utf8'))).toEqual({
      mac: '0a:00:00:00:00:01',
      promisc: false,
      mtu: 1500,
      tscni: { network: 'tnet', sysctl: { 'net/core/somaxconn': '4096', 'net/ipv4/conf/eth0/rp_filter': '2' } },
    });
    expectGolden(__dirname, 'add', k.plan({ keepMacs: true }));
  });

  it('a refused attribute puts back what was changed, in reverse, and leaves no record', async () => {
    const ctr = new RecordingSocket().respond(
      eth0(),
      reply.ack(), // MAC
      reply.ack(), // promiscuous mode
      reply.error('EINVAL', 'mtu greater than device maximum'),
    );
    const k = fakeKernel({ ctr, ...procSys() });
    const out = await callVerb({ add: (inv) => add(inv, k.kernel) }, 'ADD', conf(), { netns: d.netns, env });
    expect(out.json['msg']).toMatch(/^failed to set MTU of eth0 to 9000: .*mtu greater than device maximum/);
    expect(k.procSys.get(SOMAXCONN)).toBe('4096');
    expect(existsSync(record())).toBe(false);
    expectGolden(__dirname, 'add-rollback', k.plan({ keepMacs: true }));
  });
});

describe('tuning DEL plan', () => {
  it('restores the interface in the reference order, then the sysctls in reverse; forgets the record', async () => {
    const before = fakeKernel({ ctr: new RecordingSocket().respond(eth0()), ...procSys() });
    await callVerb({ add: (inv) => add(inv, before.kernel) }, 'ADD', conf(), { netns: d.netns, env });
    expect(existsSync(record())).toBe(true);

    const ctr = new RecordingSocket().respond(eth0({ mtu: 9000, mac: '02:00:00:00:00:99' }));
    const k = fakeKernel({ ctr, procSys: Object.fromEntries(before.procSys), readonlySysctls: [] });
    const out = await callVerb({ del: (inv) => del(inv, k.kernel) }, 'DEL', conf(), { netns: d.netns, env });
    expect(out.code).toBe(0);
    expect(k.procSys.get(SOMAXCONN)).toBe('4096');
    expect(existsSync(record())).toBe(false);
    expectGolden(__dirname, 'del', k.plan({ keepMacs: true }));
  });
});
