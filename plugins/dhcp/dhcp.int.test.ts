/**
 * dhcp against a real DHCP server: dnsmasq in a sandbox namespace serving the underlay of a
 * macvlan (and, in another namespace, the uplink of a bridge), our daemon in the sandbox's host
 * namespace with its socket and state in the sandbox's directory. Leases with the server's
 * options, renewals, a daemon killed and restarted that keeps renewing, DEL releasing, 20 ADDs at
 * once, SIGTERM, the daemon down; then the reference's plugin and daemon in the same scenario.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  clientIdHex,
  startDhcpDaemon,
  startDnsmasq,
  waitFor,
  type DhcpDaemon,
  type Dnsmasq,
} from '../../lib/testutil/dhcp';
import { requireProgram } from '../../lib/testutil/programs';
import { BIN_DIR, REFERENCE_DIR, Sandbox, runOk, type RunResult } from '../../lib/testutil/sandbox';
import { globalAddrs } from '../../lib/testutil/addresses';
import { pings } from '../../lib/testutil/traffic';
import { addUnderlay } from '../../lib/testutil/underlay';

const SUBNET = '192.168.77';
const BR_SUBNET = '192.168.78';
let sb: Sandbox;
let server: Dnsmasq;
let brServer: Dnsmasq;
let daemon: DhcpDaemon | undefined;
let socketPath = '';
let stateDir = '';

const ipOf = (r: RunResult): string =>
  ((r.json as { ips: Array<{ address: string }> }).ips[0]?.address ?? '').split('/')[0] ?? '';
const inRange = (ip: string, subnet = SUBNET): boolean => {
  const [a, b, c, d] = ip.split('.');
  return `${a}.${b}.${c}` === subnet && Number(d) >= 10 && Number(d) <= 60;
};
const records = (): string[] => (existsSync(stateDir) ? readdirSync(stateDir).filter((f) => f.endsWith('.json')) : []);

function macvlanConf(ipam: Record<string, unknown> = {}, name = 'dhnet'): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name,
    type: 'macvlan',
    master: 'phys0',
    ipam: {
      type: 'dhcp',
      daemonSocketPath: socketPath,
      request: [{ option: 'classless-static-routes' }],
      provide: [{ option: 'host-name', fromArg: 'K8S_POD_NAME' }],
      ...ipam,
    },
  };
}

function call(
  command: string,
  container: string,
  config: unknown,
  o: { exe?: string; args?: string; id?: string; ifName?: string; path?: string } = {},
): Promise<RunResult> {
  return sb.runPlugin(
    o.exe ?? join(BIN_DIR, 'macvlan'),
    {
      command,
      containerId: o.id ?? `ctr-${container}`,
      netns: `/run/netns/${sb.nsName(container)}`,
      ifName: o.ifName ?? 'eth0',
      path: o.path ?? BIN_DIR,
      args: o.args,
    },
    config,
  );
}

const startOurs = (): Promise<DhcpDaemon> =>
  startDhcpDaemon(sb, join(BIN_DIR, 'dhcp'), {
    socketPath,
    stateDir,
    flags: ['-timeout', '2s', '-resendtimeout', '30s'],
  });

beforeAll(async () => {
  requireProgram('dnsmasq');
  sb = await Sandbox.create('dhcp');
  socketPath = join(sb.dir, 'run', 'dhcp.sock');
  stateDir = join(sb.dir, 'dhcp-state');
  await addUnderlay(sb, { master: 'phys0', outside: 'srv', subnet: SUBNET, defaultRoute: false });
  server = await startDnsmasq(sb, {
    where: 'srv',
    iface: 'uplink',
    range: [`${SUBNET}.10`, `${SUBNET}.60`],
    tag: 'dnsmasq',
    extra: [
      `--dhcp-option=option:router,${SUBNET}.1`,
      `--dhcp-option=option:dns-server,${SUBNET}.53,${SUBNET}.54`,
      '--dhcp-option=option:domain-name,dhcp.test',
      '--dhcp-option=option:domain-search,dhcp.test,example.test',
      `--dhcp-option=option:classless-static-route,10.99.0.0/16,${SUBNET}.254,0.0.0.0/0,${SUBNET}.1`,
      // Short timers, so renewals show within seconds (the lease itself is dnsmasq's minimum, 2m).
      '--dhcp-option=option:T1,2',
      '--dhcp-option=option:T2,3',
    ],
  });
  // The bridge's uplink: a veth from the sandbox host to a second server namespace.
  await sb.addContainer('srv2');
  await runOk(['ip', '-n', sb.hostNs, 'link', 'add', 'dbr0', 'type', 'bridge']);
  await runOk(['ip', '-n', sb.hostNs, 'link', 'set', 'dbr0', 'up']);
  await runOk([
    'ip',
    '-n',
    sb.hostNs,
    'link',
    'add',
    'brup',
    'type',
    'veth',
    'peer',
    'name',
    'uplink',
    'netns',
    sb.nsName('srv2'),
  ]);
  await runOk(['ip', '-n', sb.hostNs, 'link', 'set', 'brup', 'master', 'dbr0', 'up']);
  await runOk(['ip', '-n', sb.nsName('srv2'), 'addr', 'add', `${BR_SUBNET}.100/24`, 'dev', 'uplink']);
  await runOk(['ip', '-n', sb.nsName('srv2'), 'link', 'set', 'uplink', 'up']);
  brServer = await startDnsmasq(sb, {
    where: 'srv2',
    iface: 'uplink',
    range: [`${BR_SUBNET}.10`, `${BR_SUBNET}.60`],
    tag: 'dnsmasq-br',
    extra: [`--dhcp-option=option:router,${BR_SUBNET}.100`],
  });
  daemon = await startOurs();
});

afterAll(async () => {
  await daemon?.stop('SIGKILL');
  await server?.stop();
  await brServer?.stop();
  await sb?.destroy();
});

describe('dhcp with macvlan against dnsmasq', () => {
  let ipA = '';

  it('ADD gets a lease in the server range with its router, DNS and classless routes', async () => {
    await sb.addContainer('a');
    const r = await call('ADD', 'a', macvlanConf(), {
      args: 'IgnoreUnknown=1;K8S_POD_NAME=pod-a;K8S_POD_NAMESPACE=ns',
    });
    expect(r.stdout + r.stderr).not.toMatch(/"code"/);
    expect(r.code).toBe(0);
    const res = r.json as Record<string, unknown>;
    ipA = ipOf(r);
    expect(inRange(ipA)).toBe(true);
    expect(res['ips']).toEqual([{ interface: 0, address: `${ipA}/24`, gateway: `${SUBNET}.1` }]);
    // Classless static routes replace the router's default route (RFC 3442), as in the reference.
    expect(res['routes']).toEqual([
      { dst: '10.99.0.0/16', gw: `${SUBNET}.254` },
      { dst: '0.0.0.0/0', gw: `${SUBNET}.1` },
    ]);
    expect(await globalAddrs(sb, 'a', 'eth0')).toEqual([`${ipA}/24`]);
    const routes = (await sb.exec('a', ['ip', '-4', 'route'])).stdout;
    expect(routes).toContain(`10.99.0.0/16 via ${SUBNET}.254 dev eth0`);
    expect(routes).toContain(`default via ${SUBNET}.1 dev eth0`);
    // The server knows the lease under the reference's client ID, and the pod's name as host name.
    const lease = server.leases().find((l) => l.ip === ipA);
    expect(lease?.clientId).toBe(clientIdHex(`ctr-a/dhnet/eth0`));
    expect(server.log()).toMatch(new RegExp(`DHCPACK\\(uplink\\) ${ipA.replace(/\./g, '\\.')} \\S+ pod-a`));
    expect(await pings(sb, 'a', `${SUBNET}.100`, 1)).toBe(true);
    expect(records()).toHaveLength(1);
  });

  it("the IPAM result carries the lease's DNS; a repeated ADD gets the lease the attachment has", async () => {
    const r = await sb.runPlugin(
      join(BIN_DIR, 'dhcp'),
      { command: 'ADD', containerId: 'ctr-a', netns: `/run/netns/${sb.nsName('a')}`, ifName: 'eth0', path: BIN_DIR },
      macvlanConf(),
    );
    expect(r.code).toBe(0);
    // A repeated ADD answers with the lease the attachment already has.
    expect(ipOf(r)).toBe(ipA);
    expect((r.json as Record<string, unknown>)['dns']).toEqual({
      nameservers: [`${SUBNET}.53`, `${SUBNET}.54`],
      domain: 'dhcp.test',
      search: ['dhcp.test', 'example.test'],
    });
  });

  it('the daemon renews in the background (T1 of 2 s)', async () => {
    const renewed = (): number => (daemon?.output().match(/ctr-a\/dhnet\/eth0: lease of \S+ renewed/g) ?? []).length;
    const before = server.leases().find((l) => l.ip === ipA)?.expiry ?? 0;
    await waitFor('two renewals', () => renewed() >= 2);
    expect(server.leases().find((l) => l.ip === ipA)?.expiry ?? 0).toBeGreaterThan(before);
    const check = await sb.runPlugin(
      join(BIN_DIR, 'dhcp'),
      { command: 'CHECK', containerId: 'ctr-a', netns: `/run/netns/${sb.nsName('a')}`, ifName: 'eth0', path: BIN_DIR },
      macvlanConf(),
    );
    expect(check.stdout + check.stderr).toBe('');
    expect(check.code).toBe(0);
  });

  it('a daemon killed with -9 and started again keeps renewing the lease it had', async () => {
    await daemon?.stop('SIGKILL');
    const expiry = server.leases().find((l) => l.ip === ipA)?.expiry ?? 0;
    daemon = await startOurs();
    await waitFor('the restored lease to be logged', () => /1 lease\(s\) restored/.test(daemon?.output() ?? ''));
    await waitFor('a renewal by the new daemon', () =>
      /ctr-a\/dhnet\/eth0: lease of \S+ (renewed|rebound)/.test(daemon?.output() ?? ''),
    );
    await waitFor(
      'the server to extend the lease',
      () => (server.leases().find((l) => l.ip === ipA)?.expiry ?? 0) > expiry,
    );
    expect(await globalAddrs(sb, 'a', 'eth0')).toEqual([`${ipA}/24`]);
  });

  it('DEL releases the lease: the server forgets it, the daemon drops its record; DEL again is fine', async () => {
    const r = await call('DEL', 'a', macvlanConf());
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
    await waitFor('the server to drop the lease', () => !server.leases().some((l) => l.ip === ipA));
    expect(server.log()).toMatch(new RegExp(`DHCPRELEASE\\(uplink\\) ${ipA.replace(/\./g, '\\.')}`));
    expect(records()).toHaveLength(0);
    expect((await call('DEL', 'a', macvlanConf())).code).toBe(0);
  });

  it('20 ADDs at once get 20 distinct leases; 20 DELs at once release them all', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `m${i}`);
    for (const n of names) await sb.addContainer(n);
    const results = await Promise.all(names.map((n) => call('ADD', n, macvlanConf())));
    for (const r of results) expect(r.stdout + r.stderr).not.toMatch(/"code"/);
    const ips = results.map(ipOf);
    expect(new Set(ips).size).toBe(20);
    expect(ips.every((ip) => inRange(ip))).toBe(true);
    expect(server.leases().filter((l) => ips.includes(l.ip))).toHaveLength(20);
    expect(records()).toHaveLength(20);
    const dels = await Promise.all(names.map((n) => call('DEL', n, macvlanConf())));
    expect(dels.map((r) => r.code)).toEqual(names.map(() => 0));
    await waitFor('the server to drop all 20', () => !server.leases().some((l) => ips.includes(l.ip)));
    expect(records()).toHaveLength(0);
  });

  it('SIGTERM: the daemon exits 0, removes its socket, releases nothing and keeps the record', async () => {
    await sb.addContainer('t');
    const r = await call('ADD', 't', macvlanConf());
    expect(r.code).toBe(0);
    const ip = ipOf(r);
    const logFrom = server.log().length; // an earlier test may have released the same address
    expect(await daemon?.stop('SIGTERM')).toBe(0);
    expect(existsSync(socketPath)).toBe(false);
    expect(records()).toHaveLength(1);
    expect(server.leases().some((l) => l.ip === ip)).toBe(true);
    expect(server.log().slice(logFrom)).not.toMatch(new RegExp(`DHCPRELEASE\\(uplink\\) ${ip.replace(/\./g, '\\.')}`));
    daemon = undefined;
  });

  it('with the daemon down, ADD fails at once with a clear error and leaves nothing behind', async () => {
    await sb.addContainer('down');
    const r = await call('ADD', 'down', macvlanConf());
    expect(r.code).not.toBe(0);
    expect(r.json).toMatchObject({
      code: 11,
      msg: `the dhcp daemon is not running: nothing listens on ${socketPath}`,
    });
    expect((await sb.exec('down', ['ip', 'link', 'show', 'eth0'])).code).not.toBe(0);
    // STATUS says the same as 50 (not available).
    const st = await sb.runPlugin(
      join(BIN_DIR, 'dhcp'),
      { command: 'STATUS', path: BIN_DIR },
      { ...macvlanConf(), cniVersion: '1.1.0' },
    );
    expect(st.json).toMatchObject({ code: 50 });
  });

  it('a restarted daemon picks up the lease kept at SIGTERM; DEL then releases it', async () => {
    daemon = await startOurs();
    await waitFor('the restored lease to be logged', () => /1 lease\(s\) restored/.test(daemon?.output() ?? ''));
    const ip = server.leases().find((l) => l.clientId === clientIdHex('ctr-t/dhnet/eth0'))?.ip ?? '';
    expect(inRange(ip)).toBe(true);
    expect((await call('DEL', 't', macvlanConf())).code).toBe(0);
    await waitFor('the server to drop the lease', () => !server.leases().some((l) => l.ip === ip));
  });

  it('a lease whose namespace is deleted without DEL is forgotten at its next renewal', async () => {
    await sb.addContainer('gone');
    expect((await call('ADD', 'gone', macvlanConf())).code).toBe(0);
    expect(records()).toHaveLength(1);
    await sb.removeContainer('gone');
    // The daemon drops the record before it logs why: wait for the line, then check the record.
    const forgotten = /ctr-gone\/dhnet\/eth0: lease of \S+ forgotten: its network namespace is gone/;
    await waitFor('the daemon to forget the lease', () => forgotten.test(daemon?.output() ?? ''));
    expect(records()).toHaveLength(0);
  });
});

describe('dhcp with the bridge plugin', () => {
  const bridgeConf = (): Record<string, unknown> => ({
    cniVersion: '1.0.0',
    name: 'dhbr',
    type: 'bridge',
    bridge: 'dbr0',
    ipam: { type: 'dhcp', daemonSocketPath: socketPath },
  });

  it('ADD leases through the bridge, the container reaches the server, DEL releases', async () => {
    await sb.addContainer('b');
    const r = await call('ADD', 'b', bridgeConf(), { exe: join(BIN_DIR, 'bridge') });
    expect(r.stdout + r.stderr).not.toMatch(/"code"/);
    const ip = ipOf(r);
    expect(inRange(ip, BR_SUBNET)).toBe(true);
    expect((r.json as Record<string, unknown>)['routes']).toEqual([{ dst: '0.0.0.0/0', gw: `${BR_SUBNET}.100` }]);
    expect(await pings(sb, 'b', `${BR_SUBNET}.100`, 1)).toBe(true);
    expect(brServer.leases().some((l) => l.ip === ip)).toBe(true);
    expect((await call('DEL', 'b', bridgeConf(), { exe: join(BIN_DIR, 'bridge') })).code).toBe(0);
    await waitFor('the server to drop the lease', () => !brServer.leases().some((l) => l.ip === ip));
    expect((await sb.exec('b', ['ip', 'link', 'show', 'eth0'])).code).not.toBe(0);
  });
});

describe('the reference dhcp plugin and daemon in the same scenario', () => {
  const REF_DHCP = join(REFERENCE_DIR, 'dhcp');
  const REF_MACVLAN = join(REFERENCE_DIR, 'macvlan');
  let ref: DhcpDaemon | undefined;
  let refSocket = '';
  const conf = (): Record<string, unknown> => ({
    ...macvlanConf({ daemonSocketPath: refSocket, request: [{ option: '121' }], provide: undefined }, 'refnet'),
  });
  afterAll(async () => ref?.stop('SIGKILL'));

  it('leases the same way: an address in range, the same gateway and routes (no DNS)', async () => {
    requireProgram('/usr/lib/cni/dhcp');
    refSocket = join(sb.dir, 'ref', 'dhcp.sock');
    ref = await startDhcpDaemon(sb, REF_DHCP, { socketPath: refSocket, flags: ['-timeout', '2s'] });
    await sb.addContainer('r');
    const r = await call('ADD', 'r', conf(), { exe: REF_MACVLAN, path: REFERENCE_DIR });
    expect(r.stdout + r.stderr).not.toMatch(/"code"/);
    const ip = ipOf(r);
    expect(inRange(ip)).toBe(true);
    const res = r.json as Record<string, unknown>;
    expect(res['ips']).toEqual([{ interface: 0, address: `${ip}/24`, gateway: `${SUBNET}.1` }]);
    expect(res['routes']).toEqual([
      { dst: '10.99.0.0/16', gw: `${SUBNET}.254` },
      { dst: '0.0.0.0/0', gw: `${SUBNET}.1` },
    ]);
    expect(server.leases().find((l) => l.ip === ip)?.clientId).toBe(clientIdHex('ctr-r/refnet/eth0'));
    // Ours, with the same config, gives the same result (its IPAM also returns DNS, macvlan drops it).
    await sb.addContainer('o');
    daemon ??= await startOurs();
    const ours = await call('ADD', 'o', {
      ...conf(),
      ipam: { ...(conf()['ipam'] as object), daemonSocketPath: socketPath },
    });
    expect(ours.code).toBe(0);
    const oursRes = ours.json as Record<string, unknown>;
    expect(oursRes['routes']).toEqual(res['routes']);
    expect((oursRes['ips'] as Array<Record<string, unknown>>)[0]?.['gateway']).toBe(`${SUBNET}.1`);
    expect(
      (await call('DEL', 'o', { ...conf(), ipam: { ...(conf()['ipam'] as object), daemonSocketPath: socketPath } }))
        .code,
    ).toBe(0);
  });

  it('renews, and releases on DEL', async () => {
    const ip = server.leases().find((l) => l.clientId === clientIdHex('ctr-r/refnet/eth0'))?.ip ?? '';
    const expiry = server.leases().find((l) => l.ip === ip)?.expiry ?? 0;
    await waitFor('the reference to renew', () => (server.leases().find((l) => l.ip === ip)?.expiry ?? 0) > expiry);
    expect((await call('DEL', 'r', conf(), { exe: REF_MACVLAN, path: REFERENCE_DIR })).code).toBe(0);
    await waitFor('the server to drop the lease', () => !server.leases().some((l) => l.ip === ip));
  });

  it('loses its leases when its daemon restarts (upstream #235): no renewal, DEL releases nothing', async () => {
    await sb.addContainer('r2');
    const r = await call('ADD', 'r2', conf(), { exe: REF_MACVLAN, path: REFERENCE_DIR });
    expect(r.code).toBe(0);
    const ip = ipOf(r);
    await ref?.stop('SIGKILL');
    rmSync(refSocket, { force: true }); // the reference cannot listen on a socket file left behind
    ref = await startDhcpDaemon(sb, REF_DHCP, { socketPath: refSocket, flags: ['-timeout', '2s'] });
    // Its DEL succeeds but sends no DHCPRELEASE: the new daemon never heard of the lease. (The
    // server's log is read from here on: an earlier test may have released the same address.)
    const logFrom = server.log().length;
    expect((await call('DEL', 'r2', conf(), { exe: REF_MACVLAN, path: REFERENCE_DIR })).code).toBe(0);
    expect(server.leases().some((l) => l.ip === ip)).toBe(true);
    expect(server.log().slice(logFrom)).not.toMatch(new RegExp(`DHCPRELEASE\\(uplink\\) ${ip.replace(/\./g, '\\.')}`));
  });
});
