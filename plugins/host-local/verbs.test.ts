/** In-process tests of the five verbs through the real dispatcher (temp dataDir, no root). */
import { describe, it, expect, afterEach } from '@jest/globals';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dispatch } from '../../lib/cni/dispatch';
import { add } from './add';
import { check } from './check';
import { del } from './del';
import { gc } from './gc';
import { status } from './status';

const funcs = { add, del, check, gc, status };
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'tscni-hl-'));
  dirs.push(d);
  return d;
};

interface Out {
  code: number;
  json: Record<string, unknown>;
}
async function call(
  command: string,
  conf: object,
  opts: { id?: string; ifname?: string; args?: string } = {},
): Promise<Out> {
  let stdout = '';
  const env = {
    CNI_COMMAND: command,
    CNI_CONTAINERID: opts.id ?? 'c1',
    CNI_NETNS: '/nonexistent/netns',
    CNI_IFNAME: opts.ifname ?? 'eth0',
    CNI_PATH: '/nonexistent',
    CNI_ARGS: opts.args,
  };
  const code = await dispatch(
    { about: 'test', load: async () => funcs },
    {
      env,
      readStdin: async () => Buffer.from(JSON.stringify(conf)),
      stdout: (t) => void (stdout += t),
      stderr: () => undefined,
    },
  );
  return { code, json: stdout ? (JSON.parse(stdout) as Record<string, unknown>) : {} };
}
const netconf = (dataDir: string, ipam: object, extra: object = {}, v = '1.1.0') => ({
  cniVersion: v,
  name: 'net1',
  ipam: { type: 'host-local', dataDir, ...ipam },
  ...extra,
});
const ipsOf = (o: Out): string[] =>
  ((o.json['ips'] as Array<{ address: string }> | undefined) ?? []).map((i) => i.address);

describe('host-local verbs (in-process)', () => {
  it('allocates dual-stack round-robin and returns the IPAM result', async () => {
    const d = tmp();
    const conf = netconf(d, {
      ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: 'fd00:1::/64' }]],
      routes: [{ dst: '0.0.0.0/0' }],
    });
    const r1 = await call('ADD', conf);
    expect(r1.code).toBe(0);
    expect(r1.json).toEqual({
      cniVersion: '1.1.0',
      ips: [
        { address: '10.1.0.2/24', gateway: '10.1.0.1' },
        { address: 'fd00:1::2/64', gateway: 'fd00:1::1' },
      ],
      routes: [{ dst: '0.0.0.0/0' }],
    });
    expect(ipsOf(await call('ADD', conf, { id: 'c2' }))).toEqual(['10.1.0.3/24', 'fd00:1::3/64']);
    expect((await call('DEL', conf)).code).toBe(0);
    expect(ipsOf(await call('ADD', conf, { id: 'c3' }))).toEqual(['10.1.0.4/24', 'fd00:1::4/64']);
    expect(readFileSync(join(d, 'net1', 'last_reserved_ip.0'), 'utf8')).toBe('10.1.0.4');
    expect(readFileSync(join(d, 'net1', 'fd00:1::4'), 'utf8')).toBe('c3\r\neth0');
  });

  it('orders range sets runtimeConfig.ipRanges, legacy range, ranges; keys are case-insensitive', async () => {
    const d = tmp();
    const conf = netconf(
      d,
      { SUBNET: '10.2.0.0/24', RangeStart: '10.2.0.100', Ranges: [[{ Subnet: 'fd00:3::/64', GATEWAY: 'fd00:3::fe' }]] },
      { runtimeConfig: { ipRanges: [[{ subnet: '10.1.0.0/24', rangeStart: '10.1.0.50' }]] } },
    );
    const r = await call('ADD', conf);
    expect(r.json['ips']).toEqual([
      { address: '10.1.0.50/24', gateway: '10.1.0.1' },
      { address: '10.2.0.100/24', gateway: '10.2.0.1' },
      { address: 'fd00:3::1/64', gateway: 'fd00:3::fe' },
    ]);
    expect(['0', '1', '2'].map((i) => readFileSync(join(d, 'net1', `last_reserved_ip.${i}`), 'utf8'))).toEqual([
      '10.1.0.50',
      '10.2.0.100',
      'fd00:3::1',
    ]);
  });

  it('rejects a duplicate ADD with the reference message and keeps state', async () => {
    const d = tmp();
    const conf = netconf(d, { subnet: '10.1.0.0/24' });
    await call('ADD', conf);
    const r = await call('ADD', conf);
    expect(r.json).toMatchObject({
      code: 999,
      msg: 'failed to allocate for range 0: 10.1.0.2 has been allocated to c1, duplicate allocation is not allowed',
    });
    expect(readdirSync(join(d, 'net1')).filter((n) => n.startsWith('10.'))).toEqual(['10.1.0.2']);
  });

  it('honours requested IPs from CNI_ARGS, args and runtimeConfig', async () => {
    const d = tmp();
    const ipam = { ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: 'fd00::/64' }]] };
    expect(ipsOf(await call('ADD', netconf(d, ipam), { args: 'IgnoreUnknown=1;IP=10.1.0.50;K8S_POD_NAME=x' }))).toEqual(
      ['10.1.0.50/24', 'fd00::2/64'],
    );
    expect(
      ipsOf(
        await call('ADD', netconf(d, ipam, { args: { cni: { ips: ['10.1.0.60', 'fd00::60/64'] } } }), { id: 'c2' }),
      ),
    ).toEqual(['10.1.0.60/24', 'fd00::60/64']);
    expect(
      ipsOf(await call('ADD', netconf(d, ipam, { runtimeConfig: { ips: ['10.1.0.70/24'] } }), { id: 'c3' })),
    ).toEqual(['10.1.0.70/24', 'fd00::61/64']);
    const taken = await call('ADD', netconf(d, ipam, { runtimeConfig: { ips: ['10.1.0.70'] } }), { id: 'c4' });
    expect(taken.json['msg']).toBe(
      'failed to allocate for range 0: requested IP address 10.1.0.70 is not available in range set 10.1.0.1-10.1.0.254',
    );
    const gw = await call('ADD', netconf(d, ipam), { id: 'c5', args: 'IP=10.1.0.1' });
    expect(gw.json['msg']).toBe("failed to allocate for range 0: requested ip 10.1.0.1 is subnet's gateway");
    const outside = await call('ADD', netconf(d, ipam), { id: 'c6', args: 'IP=10.9.0.1' });
    expect(outside.json['msg']).toBe('failed to allocate all requested IPs: 10.9.0.1');
    // failed ADDs left nothing behind (c4's v6 address was rolled back)
    expect(
      readdirSync(join(d, 'net1'))
        .filter((n) => /^[0-9a-f.:]+$/.test(n) && n.includes(':'))
        .sort(),
    ).toEqual(['fd00::2', 'fd00::60', 'fd00::61']);
    expect((await call('ADD', netconf(d, ipam), { id: 'c7', args: 'ip=10.1.0.9' })).json['msg']).toBe(
      'ARGS: unknown args ["ip=10.1.0.9"]',
    );
  });

  it.each([
    [
      { ranges: [[{ subnet: '10.1.0.3/24' }]] },
      'invalid range set 0: Network has host bits set. For a subnet mask of length 24 the network address is 10.1.0.0',
    ],
    [{ ranges: [[{ subnet: '10.1.0.0/31' }]] }, 'invalid range set 0: Network 10.1.0.0/31 too small to allocate from'],
    [{ ranges: [[{ subnet: 'fd00::/128' }]] }, 'invalid range set 0: Network fd00::/128 too small to allocate from'],
    [
      { ranges: [[{ subnet: '10.1.0.0/24', rangeEnd: '10.2.0.9' }]] },
      'invalid range set 0: RangeEnd 10.2.0.9 not in network 10.1.0.0/24',
    ],
    [{ ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: '10.1.0.0/25' }]] }, 'range set 0 overlaps with 1'],
    [{ ranges: [[]] }, 'invalid range set 0: empty range set'],
    [{}, 'no IP ranges specified'],
    [{ subnet: '10.1.0.0/24', routes: [{ dst: 'bogus' }] }, 'invalid CIDR address: bogus'],
  ])('config error %j', async (ipam, msg) => {
    const d = tmp();
    const r = await call('ADD', netconf(d, ipam));
    expect(r.json).toMatchObject({ code: 7, msg });
    expect(existsSync(join(d, 'net1'))).toBe(false);
  });

  it('enforces one range set per family below 0.3.0 and the ipam key', async () => {
    const d = tmp();
    const two = { ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: '10.2.0.0/24' }]] };
    expect((await call('ADD', netconf(d, two, {}, '0.2.0'))).json).toMatchObject({
      code: 7,
      msg: 'CNI version 0.2.0 does not support more than 1 address per family',
    });
    expect((await call('ADD', netconf(d, two, {}, '0.3.0'))).code).toBe(0);
    expect((await call('ADD', { cniVersion: '1.0.0', name: 'n' })).json).toMatchObject({
      code: 7,
      msg: "IPAM config missing 'ipam' key",
    });
  });

  it('prints results in every version family', async () => {
    const d = tmp();
    const ipam = { ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: 'fd00::/64' }]] };
    const v02 = await call('ADD', netconf(d, { subnet: '10.3.0.0/24' }, {}, '0.1.0'));
    expect(v02.json).toMatchObject({ cniVersion: '0.1.0', ip4: { ip: '10.3.0.2/24', gateway: '10.3.0.1' } });
    const v04 = await call('ADD', netconf(d, ipam, {}, '0.4.0'), { id: 'c2' });
    expect(v04.json['ips']).toEqual([
      { version: '4', address: '10.1.0.2/24', gateway: '10.1.0.1' },
      { version: '6', address: 'fd00::2/64', gateway: 'fd00::1' },
    ]);
  });

  it('DEL is idempotent and works after the ranges changed', async () => {
    const d = tmp();
    await call('ADD', netconf(d, { subnet: '10.1.0.0/24' }));
    const changed = netconf(d, { ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: '10.1.0.0/25' }]] });
    expect((await call('DEL', changed)).code).toBe(0);
    expect((await call('DEL', changed)).code).toBe(0);
    expect(readdirSync(join(d, 'net1')).filter((n) => n.startsWith('10.'))).toEqual([]);
  });

  it('DEL, GC and CHECK of a store never made make nothing (even with a config ADD would refuse)', async () => {
    const d = tmp();
    // Found by the fuzzer: a DEL after a refused ADD made <dataDir>/net1 with its lock and index.
    const bad = netconf(d, { subnet: 'b', rangeStart: 'x' });
    expect((await call('DEL', bad)).code).toBe(0);
    const conf = netconf(d, { subnet: '10.1.0.0/24' });
    expect((await call('DEL', conf)).code).toBe(0);
    expect((await call('GC', { ...conf, 'cni.dev/valid-attachments': [] })).code).toBe(0);
    expect((await call('CHECK', conf)).json).toMatchObject({
      code: 999,
      msg: 'host-local: Failed to find address added by container c1',
    });
    expect(readdirSync(d)).toEqual([]);
  });

  it('CHECK finds the lease of this attachment only', async () => {
    const d = tmp();
    const conf = netconf(d, { subnet: '10.1.0.0/24' });
    await call('ADD', conf);
    expect((await call('CHECK', conf)).code).toBe(0);
    expect((await call('CHECK', conf, { ifname: 'eth1' })).json).toMatchObject({
      code: 999,
      msg: 'host-local: Failed to find address added by container c1',
    });
  });

  it('GC releases leases not in valid-attachments, keeps legacy leases of valid containers, no-op without the key', async () => {
    const d = tmp();
    const conf = netconf(d, { subnet: '10.1.0.0/24' });
    for (const id of ['c1', 'c2', 'c3']) await call('ADD', conf, { id });
    writeFileSync(join(d, 'net1', '10.1.0.100'), 'c1'); // legacy lease of a valid container
    writeFileSync(join(d, 'net1', '10.1.0.101'), 'c9'); // legacy lease of a gone one
    expect((await call('GC', conf)).code).toBe(0);
    expect(readdirSync(join(d, 'net1')).filter((n) => n.startsWith('10.')).length).toBe(5);
    const r = await call('GC', {
      ...conf,
      'cni.dev/valid-attachments': [
        { containerID: 'c2', ifname: 'eth0' },
        { containerID: 'c1', ifname: 'eth9' },
      ],
    });
    expect(r.code).toBe(0);
    expect(
      readdirSync(join(d, 'net1'))
        .filter((n) => n.startsWith('10.'))
        .sort(),
    ).toEqual(['10.1.0.100', '10.1.0.3']);
    expect((await call('CHECK', conf, { id: 'c2' })).code).toBe(0);
    expect((await call('CHECK', conf, { id: 'c1' })).code).toBe(0); // the legacy lease counts, as in the reference
    expect((await call('CHECK', conf, { id: 'c3' })).code).toBe(1);
  });

  it('STATUS reports exhaustion and an unusable dataDir with code 50', async () => {
    const d = tmp();
    const conf = netconf(d, { ranges: [[{ subnet: '10.1.0.0/30' }]] }); // .1 is the gateway: one address
    expect((await call('STATUS', conf)).code).toBe(0);
    await call('ADD', conf);
    expect((await call('STATUS', conf)).json).toMatchObject({
      code: 50,
      msg: 'no IP addresses available in range set: 10.1.0.1-10.1.0.2',
    });
    expect((await call('ADD', conf, { id: 'c3' })).json['msg']).toBe(
      'failed to allocate for range 0: no IP addresses available in range set: 10.1.0.1-10.1.0.2',
    );
    writeFileSync(join(d, 'file'), '');
    expect((await call('STATUS', netconf(join(d, 'file'), { subnet: '10.1.0.0/24' }))).json).toMatchObject({
      code: 50,
    });
    expect((await call('ADD', netconf(join(d, 'file'), { subnet: '10.1.0.0/24' }))).json).toMatchObject({ code: 5 });
  });
});

describe('host-local reuse delay (reuseDelaySeconds, ours)', () => {
  const released = (d: string, ip: string): string => join(d, 'net1', '.tscni', 'released', ip);

  it('off: nothing is logged and a released address is handed out again at once', async () => {
    const d = tmp();
    const conf = netconf(d, { ranges: [[{ subnet: '10.1.0.0/30' }]] });
    expect(ipsOf(await call('ADD', conf))).toEqual(['10.1.0.2/30']);
    expect((await call('DEL', conf)).code).toBe(0);
    expect(existsSync(join(d, 'net1', '.tscni', 'released'))).toBe(false);
    expect(ipsOf(await call('ADD', conf, { id: 'c2' }))).toEqual(['10.1.0.2/30']);
  });

  it('on: the only free address is held back, ADD fails with the reference code naming the delay', async () => {
    const d = tmp();
    const conf = netconf(d, { ranges: [[{ subnet: '10.1.0.0/30' }]], reuseDelaySeconds: 30 });
    expect(ipsOf(await call('ADD', conf))).toEqual(['10.1.0.2/30']);
    expect((await call('DEL', conf)).code).toBe(0);
    expect(Number(readFileSync(released(d, '10.1.0.2'), 'utf8'))).toBeGreaterThan(0);
    const r = await call('ADD', conf, { id: 'c2' });
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ code: 999 });
    expect(r.json['msg']).toMatch(
      /^failed to allocate for range 0: no IP addresses available in range set: 10\.1\.0\.1-10\.1\.0\.2 \(1 released address is held back by the reuse delay, reuseDelaySeconds 30; the first is free again in (29|30) s\)$/,
    );
    expect(readdirSync(join(d, 'net1')).filter((n) => n.startsWith('10.'))).toEqual([]);
    // Once the delay has passed (the release logged 31 s ago), it is handed out and the record goes.
    writeFileSync(released(d, '10.1.0.2'), String(Date.now() - 31_000));
    expect(ipsOf(await call('ADD', conf, { id: 'c2' }))).toEqual(['10.1.0.2/30']);
    expect(existsSync(released(d, '10.1.0.2'))).toBe(false);
  });

  it('on: a released address is skipped while others are free; a requested one is not held back', async () => {
    const d = tmp();
    const conf = netconf(d, { ranges: [[{ subnet: '10.1.0.0/29' }]], reuseDelaySeconds: 60 });
    expect(ipsOf(await call('ADD', conf))).toEqual(['10.1.0.2/29']);
    expect(ipsOf(await call('ADD', conf, { id: 'c2' }))).toEqual(['10.1.0.3/29']);
    expect((await call('DEL', conf)).code).toBe(0);
    // Round robin goes on past .3 and wraps; .2 is skipped while held back.
    const got = [];
    for (const id of ['c3', 'c4', 'c5']) got.push(...ipsOf(await call('ADD', conf, { id })));
    expect(got).toEqual(['10.1.0.4/29', '10.1.0.5/29', '10.1.0.6/29']);
    expect((await call('ADD', conf, { id: 'c6' })).json).toMatchObject({ code: 999 });
    // The runtime asks for it by name (podman --ip after a restart): the delay does not apply.
    expect(ipsOf(await call('ADD', conf, { id: 'c7', args: 'IP=10.1.0.2' }))).toEqual(['10.1.0.2/29']);
  });

  it('GC logs the addresses it releases too', async () => {
    const d = tmp();
    const conf = netconf(d, { ranges: [[{ subnet: '10.1.0.0/24' }]], reuseDelaySeconds: 10 });
    await call('ADD', conf);
    expect((await call('GC', { ...conf, 'cni.dev/valid-attachments': [] })).code).toBe(0);
    expect(existsSync(released(d, '10.1.0.2'))).toBe(true);
  });

  it('refuses a delay that is not a whole number of seconds from 0 to a day', async () => {
    const d = tmp();
    for (const bad of [-1, 1.5, 86_401, '30']) {
      const r = await call('ADD', netconf(d, { subnet: '10.1.0.0/24', reuseDelaySeconds: bad }));
      expect(r.json).toMatchObject({ code: 7 });
    }
  });
});
