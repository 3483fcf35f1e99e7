/**
 * The dhcp IPAM plugin and its daemon at every cniVersion, against dnsmasq in a sandbox: the
 * plugin directory's own `dhcp daemon` runs in the sandbox's host namespace (socket in a temp
 * directory), each container gets a macvlan of the served uplink made by `ip`. Result shape of
 * the version's family with no `interfaces`, a repeated ADD, CHECK, DEL twice (the server loses
 * the lease), GC and STATUS at 1.1.0, and STATUS with no daemon.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { startDhcpDaemon, startDnsmasq, waitFor, type DhcpDaemon, type Dnsmasq } from '../lib/testutil/dhcp';
import { Sandbox, runOk } from '../lib/testutil/sandbox';
import { ALL_VERSIONS, errorOf, hasPlugin, invoke, pluginPath } from './harness';

const suite = hasPlugin('dhcp') ? describe : describe.skip;
const family = (v: string): '0.2' | '0.4' | '1.x' => (v < '0.3.0' ? '0.2' : v < '1.0.0' ? '0.4' : '1.x');
let sb: Sandbox;
let server: Dnsmasq;
let daemon: DhcpDaemon;
let socketPath = '';
let n = 0;

beforeAll(async () => {
  if (!hasPlugin('dhcp')) return;
  sb = await Sandbox.create('cdh');
  await sb.addContainer('srv');
  await runOk([
    'ip',
    '-n',
    sb.hostNs,
    'link',
    'add',
    'cd0',
    'type',
    'veth',
    'peer',
    'name',
    'uplink',
    'netns',
    sb.nsName('srv'),
  ]);
  await runOk(['ip', '-n', sb.hostNs, 'link', 'set', 'cd0', 'up']);
  await runOk(['ip', '-n', sb.nsName('srv'), 'addr', 'add', '10.64.0.1/24', 'dev', 'uplink']);
  await runOk(['ip', '-n', sb.nsName('srv'), 'link', 'set', 'uplink', 'up']);
  server = await startDnsmasq(sb, {
    where: 'srv',
    iface: 'uplink',
    range: ['10.64.0.10', '10.64.0.200'],
    tag: 'conf-dnsmasq',
    extra: ['--dhcp-option=option:router,10.64.0.1', '--dhcp-option=option:dns-server,10.64.0.53'],
  });
  socketPath = join(sb.dir, 'dhcp.sock');
  daemon = await startDhcpDaemon(sb, pluginPath('dhcp'), {
    socketPath,
    flags: ['-timeout', '2s'],
    ...(pluginPath('dhcp').startsWith('/usr/lib/cni') ? {} : { stateDir: join(sb.dir, 'state') }),
  });
});
afterAll(async () => {
  await daemon?.stop('SIGKILL');
  await server?.stop();
  await sb?.destroy();
});

/** A container namespace with a macvlan `eth0` of the served uplink (down, as an interface plugin hands it to IPAM). */
async function container(): Promise<string> {
  const name = `c${++n}`;
  const path = await sb.addContainer(name);
  await runOk([
    'ip',
    '-n',
    sb.hostNs,
    'link',
    'add',
    'link',
    'cd0',
    'name',
    `mv${n}`,
    'type',
    'macvlan',
    'mode',
    'bridge',
  ]);
  await runOk(['ip', '-n', sb.hostNs, 'link', 'set', `mv${n}`, 'netns', sb.nsName(name)]);
  await runOk(['ip', '-n', sb.nsName(name), 'link', 'set', `mv${n}`, 'name', 'eth0']);
  return path;
}

const env = (cmd: string, cid: string, netns: string): Record<string, string> => ({
  CNI_COMMAND: cmd,
  CNI_CONTAINERID: cid,
  CNI_NETNS: netns,
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/nonexistent',
});

suite.each([...ALL_VERSIONS])('dhcp at %s', (version) => {
  const conf = (): Record<string, unknown> => ({
    cniVersion: version,
    name: `dh${version.replace(/\./g, '')}`,
    type: 'dhcp',
    ipam: { type: 'dhcp', daemonSocketPath: socketPath },
  });
  let netns = '';
  let ip = '';
  const cid = `conf-${version.replace(/\./g, '')}`;

  it('ADD returns a lease from the server in the config version, without interfaces', async () => {
    netns = await container();
    const r = await invoke('dhcp', env('ADD', cid, netns), conf());
    expect(r.stdout + r.stderr).not.toMatch(/"code"/);
    expect(r.code).toBe(0);
    const res = r.json as Record<string, unknown>;
    expect(res['cniVersion']).toBe(version);
    expect(res['interfaces']).toBeUndefined();
    if (family(version) === '0.2') {
      const ip4 = res['ip4'] as Record<string, unknown>;
      expect(ip4).toMatchObject({ gateway: '10.64.0.1', routes: [{ dst: '0.0.0.0/0', gw: '10.64.0.1' }] });
      ip = String(ip4['ip']).split('/')[0] ?? '';
    } else {
      const ips = res['ips'] as Array<Record<string, unknown>>;
      expect(ips).toHaveLength(1);
      expect(ips[0]).toMatchObject({ gateway: '10.64.0.1' });
      expect(ips[0]?.['interface']).toBeUndefined();
      if (family(version) === '0.4') expect(ips[0]?.['version']).toBe('4');
      ip = String(ips[0]?.['address']).split('/')[0] ?? '';
      expect(String(ips[0]?.['address'])).toMatch(/\/24$/);
    }
    expect(server.leases().some((l) => l.ip === ip)).toBe(true);
  });

  if (version >= '0.4.0') {
    it('CHECK succeeds while the lease is held', async () => {
      const r = await invoke('dhcp', env('CHECK', cid, netns), conf());
      expect(r.stdout).toBe('');
      expect(r.code).toBe(0);
    });
  }

  it('DEL releases the lease at the server; a second DEL succeeds', async () => {
    expect((await invoke('dhcp', env('DEL', cid, netns), conf())).code).toBe(0);
    await waitFor('the server to drop the lease', () => !server.leases().some((l) => l.ip === ip), 20_000);
    const again = await invoke('dhcp', env('DEL', cid, netns), conf());
    expect(again.stdout).toBe('');
    expect(again.code).toBe(0);
  });

  if (version === '1.1.0') {
    it('[spec] GC releases a lease whose attachment is not valid', async () => {
      const ns = await container();
      const r = await invoke('dhcp', env('ADD', 'conf-gc', ns), conf());
      expect(r.code).toBe(0);
      const held = String((r.json as { ips: Array<{ address: string }> }).ips[0]?.address).split('/')[0];
      const gc = await invoke(
        'dhcp',
        { CNI_COMMAND: 'GC', CNI_PATH: '/nonexistent' },
        { ...conf(), 'cni.dev/valid-attachments': [] },
      );
      expect(gc.code).toBe(0);
      await waitFor('the server to drop the lease', () => !server.leases().some((l) => l.ip === held), 20_000);
    });

    it('STATUS succeeds with the daemon running; [spec] code 50 without it', async () => {
      expect((await invoke('dhcp', { CNI_COMMAND: 'STATUS', CNI_PATH: '/nonexistent' }, conf())).code).toBe(0);
      const none = { ...conf(), ipam: { type: 'dhcp', daemonSocketPath: join(sb.dir, 'none.sock') } };
      const r = await invoke('dhcp', { CNI_COMMAND: 'STATUS', CNI_PATH: '/nonexistent' }, none);
      expect(r.code).not.toBe(0);
      expect(errorOf(r).code).toBe(50);
    });
  }
});
