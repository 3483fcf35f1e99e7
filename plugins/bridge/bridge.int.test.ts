/** bridge against the real kernel, in a sandbox: state, traffic, rollback, teardown, reference parity. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chmodSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN_DIR, REFERENCE_DIR, Sandbox, runOk, type RunResult } from '../../lib/testutil/sandbox';
import { fetchFrom, startServer } from '../../lib/testutil/traffic';

const BRIDGE = join(BIN_DIR, 'bridge');
let sb: Sandbox;
let cniPath = '';

/** CNI_PATH for these tests: our host-local, plus a failing IPAM for rollback tests. */
function makeCniPath(dir: string): string {
  const p = join(dir, 'cni-bin');
  mkdirSync(p);
  symlinkSync(join(BIN_DIR, 'host-local'), join(p, 'host-local'));
  writeFileSync(join(p, 'failing-ipam'), '#!/bin/sh\necho \'{"code":11,"msg":"ipam says no"}\'\nexit 1\n');
  chmodSync(join(p, 'failing-ipam'), 0o755);
  return p;
}

function conf(extra: Record<string, unknown> = {}, ipam: Record<string, unknown> | null = {}): Record<string, unknown> {
  const base: Record<string, unknown> = {
    cniVersion: '1.0.0',
    name: 'brnet',
    type: 'bridge',
    bridge: 'tbr0',
    isGateway: true,
    ...extra,
  };
  if (ipam !== null)
    base['ipam'] = { type: 'host-local', subnet: '10.99.0.0/24', dataDir: join(sb.dir, 'ipam'), ...ipam };
  else base['ipam'] = {};
  return base;
}

async function plugin(
  command: string,
  container: string,
  config: unknown,
  netns?: string,
  ifName = 'eth0',
  exe = BRIDGE,
): Promise<RunResult> {
  return sb.runPlugin(
    exe,
    {
      command,
      containerId: `ctr-${container}`,
      netns: netns ?? `/run/netns/${sb.nsName(container)}`,
      ifName,
      path: cniPath,
    },
    config,
  );
}

const hostLinks = async (): Promise<string> => (await sb.exec('host', ['ip', '-br', 'link'])).stdout;
const natRules = async (): Promise<string> => (await sb.exec('host', ['iptables-save', '-t', 'nat'])).stdout;
const leases = (): string[] => {
  try {
    return readdirSync(join(sb.dir, 'ipam', 'brnet')).filter((f) => /^\d+\.\d+\.\d+\.\d+$|:/.test(f));
  } catch {
    return [];
  }
};

/**
 * A directory to use as PATH: the real ip, nsenter, sysctl, nft, bridge and node, the real `extra`
 * tools, and shell scripts standing in for the tools in `fakes`.
 */
async function toolsDir(name: string, extra: readonly string[], fakes: Record<string, string> = {}): Promise<string> {
  const dir = join(sb.dir, name);
  mkdirSync(dir);
  for (const t of ['ip', 'nsenter', 'sysctl', 'nft', 'bridge', ...extra]) {
    const real = (await sb.exec('host', ['sh', '-c', `command -v ${t}`])).stdout.trim();
    if (real) symlinkSync(real, join(dir, t));
  }
  symlinkSync(process.execPath, join(dir, 'node'));
  for (const [t, script] of Object.entries(fakes)) {
    writeFileSync(join(dir, t), script);
    chmodSync(join(dir, t), 0o755);
  }
  return dir;
}

beforeAll(async () => {
  sb = await Sandbox.create('br');
  cniPath = makeCniPath(sb.dir);
});
afterAll(async () => sb.destroy());

describe('bridge ADD/DEL', () => {
  it('creates bridge, veth pair and addresses, and returns the reference result shape', async () => {
    await sb.addContainer('a');
    const r = await plugin('ADD', 'a', conf());
    expect(r.stdout + r.stderr).not.toMatch(/"code"/);
    expect(r.code).toBe(0);
    const res = r.json as {
      interfaces: Array<{ name: string; mac: string; sandbox?: string }>;
      ips: Array<{ interface: number; address: string; gateway: string }>;
    };
    expect(res.interfaces).toHaveLength(3);
    expect(res.interfaces[0]?.name).toBe('tbr0');
    expect(res.interfaces[1]?.name).toMatch(/^veth[0-9a-f]{8}$/);
    expect(res.interfaces[2]).toMatchObject({ name: 'eth0', sandbox: `/run/netns/${sb.nsName('a')}` });
    expect(res.ips[0]).toEqual({ interface: 2, address: '10.99.0.2/24', gateway: '10.99.0.1' });
    const addr = await sb.exec('a', ['ip', '-br', 'addr', 'show', 'eth0']);
    expect(addr.stdout).toContain('10.99.0.2/24');
    const mac = await sb.exec('a', ['cat', '/sys/class/net/eth0/address']);
    expect(mac.stdout.trim()).toBe(res.interfaces[2]?.mac);
    expect((await sb.exec('host', ['ip', '-br', 'addr', 'show', 'tbr0'])).stdout).toContain('10.99.0.1/24');
  });

  it('carries traffic: container to gateway and container to container', async () => {
    await sb.addContainer('b');
    expect((await plugin('ADD', 'b', conf())).code).toBe(0);
    expect((await sb.exec('a', ['ping', '-c1', '-W2', '10.99.0.1'])).code).toBe(0);
    expect((await sb.exec('a', ['ping', '-c1', '-W2', '10.99.0.3'])).code).toBe(0);
  });

  it('CHECK passes after ADD and fails once the container interface is gone', async () => {
    await sb.addContainer('c');
    const add = await plugin('ADD', 'c', conf());
    const prev = { ...conf(), prevResult: add.json };
    expect((await plugin('CHECK', 'c', prev)).code).toBe(0);
    await sb.exec('c', ['ip', 'link', 'del', 'eth0']);
    expect((await plugin('CHECK', 'c', prev)).code).not.toBe(0);
    expect((await plugin('DEL', 'c', conf())).code).toBe(0);
  });

  it('DEL removes veth and lease and is idempotent', async () => {
    const before = leases().length;
    expect((await plugin('DEL', 'b', conf())).code).toBe(0);
    expect(leases().length).toBe(before - 1);
    expect((await sb.exec('b', ['ip', 'link', 'show', 'eth0'])).code).not.toBe(0);
    expect((await plugin('DEL', 'b', conf())).code).toBe(0);
    expect((await plugin('DEL', 'b', conf(), '')).code).toBe(0);
  });

  it('rejects an ifname that already exists and rolls back the lease and veth', async () => {
    const before = leases().length;
    const links = (await hostLinks()).split('\n').length;
    const r = await plugin('ADD', 'dup', conf(), `/run/netns/${sb.nsName('a')}`, 'eth0');
    expect(r.code).not.toBe(0);
    expect((r.json as { msg: string }).msg).toMatch(/already exists/);
    expect(leases().length).toBe(before);
    expect((await hostLinks()).split('\n').length).toBe(links);
  });

  it('reports the IPAM error unchanged and leaves nothing behind', async () => {
    await sb.addContainer('f');
    const links = (await hostLinks()).split('\n').length;
    const r = await plugin('ADD', 'f', conf({}, { type: 'failing-ipam' }));
    expect(r.json).toMatchObject({ code: 11, msg: 'ipam says no' });
    expect((await hostLinks()).split('\n').length).toBe(links);
    expect((await sb.exec('f', ['ip', 'link', 'show', 'eth0'])).code).not.toBe(0);
  });

  it('an MTU the kernel refuses fails in the host batch and leaves nothing behind', async () => {
    await sb.addContainer('mt');
    const before = leases().length;
    const links = (await hostLinks()).split('\n').length;
    const r = await plugin('ADD', 'mt', conf({ bridge: 'tbrmt', mtu: 60 }, { subnet: '10.82.0.0/24' }));
    expect(r.code).not.toBe(0);
    expect(leases().length).toBe(before);
    expect((await hostLinks()).split('\n').length).toBe(links);
    expect((await sb.exec('mt', ['ip', 'link', 'show', 'eth0'])).code).not.toBe(0);
  });

  it('a failure in the last step (masquerade) undoes the veth, the lease and the rules', async () => {
    // A PATH whose iptables-restore fails; every other tool is the real one.
    const tools = await toolsDir('failing-restore', ['iptables', 'ip6tables', 'iptables-save', 'ip6tables-save'], {
      'iptables-restore': '#!/bin/sh\necho "iptables-restore: injected failure" >&2\nexit 4\n',
    });
    await sb.addContainer('lf');
    const before = leases().length;
    const veths = async (): Promise<number> =>
      (await hostLinks()).split('\n').filter((l) => l.startsWith('veth')).length;
    const links = await veths();
    const c = { ...conf({ ipMasq: true, ipMasqBackend: 'iptables' }), name: 'brnet' };
    const r = await sb.runPlugin(
      BRIDGE,
      {
        command: 'ADD',
        containerId: 'ctr-lf',
        netns: `/run/netns/${sb.nsName('lf')}`,
        ifName: 'eth0',
        path: cniPath,
        env: { PATH: tools },
      },
      c,
    );
    expect(r.code).not.toBe(0);
    expect(r.stdout).toContain('injected failure');
    expect(leases().length).toBe(before);
    expect(await veths()).toBe(links);
    expect((await sb.exec('lf', ['ip', 'link', 'show', 'eth0'])).code).not.toBe(0);
    expect(await natRules()).not.toContain('ctr-lf');
  });

  it('rejects a bad MTU and hairpin+promisc as config errors', async () => {
    expect(((await plugin('ADD', 'f', conf({ mtu: -5 }))).json as { code: number }).code).toBe(7);
    expect(
      ((await plugin('ADD', 'f', conf({ hairpinMode: true, promiscMode: true }))).json as { code: number }).code,
    ).toBe(7);
    expect(((await plugin('ADD', 'f', conf({ mtu: 70000 }))).json as { code: number }).code).toBe(7);
  });
});

describe('bridge options', () => {
  it('applies mtu, hairpin and a requested MAC', async () => {
    await sb.addContainer('m');
    const r = await plugin(
      'ADD',
      'm',
      conf(
        { bridge: 'tbr1', mtu: 1400, hairpinMode: true, runtimeConfig: { mac: '0a:58:0a:00:00:42' } },
        { subnet: '10.98.0.0/24' },
      ),
    );
    expect(r.code).toBe(0);
    const res = r.json as { interfaces: Array<{ name: string }> };
    expect((await sb.exec('m', ['cat', '/sys/class/net/eth0/mtu'])).stdout.trim()).toBe('1400');
    expect((await sb.exec('m', ['cat', '/sys/class/net/eth0/address'])).stdout.trim()).toBe('0a:58:0a:00:00:42');
    const veth = res.interfaces[1]?.name ?? '';
    expect((await sb.exec('host', ['cat', `/sys/class/net/${veth}/brport/hairpin_mode`])).stdout.trim()).toBe('1');
  });

  it('L2 mode: no IPAM, interface up, CHECK works', async () => {
    await sb.addContainer('l2');
    const c = conf({ bridge: 'tbr2', isGateway: false }, null);
    const r = await plugin('ADD', 'l2', c);
    expect(r.code).toBe(0);
    expect((r.json as { ips?: unknown }).ips).toBeUndefined();
    expect((await plugin('CHECK', 'l2', { ...c, prevResult: r.json })).code).toBe(0);
    expect((await plugin('DEL', 'l2', c)).code).toBe(0);
  });

  it('isDefaultGateway adds a default route via the bridge', async () => {
    await sb.addContainer('d');
    const r = await plugin('ADD', 'd', conf({ isDefaultGateway: true }));
    expect(r.code).toBe(0);
    expect((await sb.exec('d', ['ip', 'route', 'show', 'default'])).stdout).toContain('via 10.99.0.1');
  });

  it('dual-stack: IPv4 and IPv6 addresses, ping6 to the gateway', async () => {
    await sb.addContainer('ds');
    const c = {
      ...conf({ bridge: 'tbr6' }),
      ipam: {
        type: 'host-local',
        dataDir: join(sb.dir, 'ipam'),
        ranges: [[{ subnet: '10.97.0.0/24' }], [{ subnet: 'fd00:97::/64' }]],
      },
    };
    const r = await plugin('ADD', 'ds', c);
    expect(r.code).toBe(0);
    expect(JSON.stringify(r.json)).toContain('fd00:97::2/64');
    expect((await sb.exec('ds', ['ping', '-6', '-c1', '-W3', 'fd00:97::1'])).code).toBe(0);
    expect((await plugin('DEL', 'ds', c)).code).toBe(0);
  });
});

describe('bridge keys, one by one', () => {
  const sys = async (c: string, key: string): Promise<string> =>
    (await sb.exec(c, ['cat', `/proc/sys/${key}`])).stdout.trim();

  it('sets arp_notify and turns DAD off in the container by default', async () => {
    await sb.addContainer('sy');
    expect((await plugin('ADD', 'sy', conf({ bridge: 'tbry' }, { subnet: '10.88.0.0/24' }))).code).toBe(0);
    expect(await sys('sy', 'net/ipv4/conf/eth0/arp_notify')).toBe('1');
    expect(await sys('sy', 'net/ipv6/conf/eth0/accept_dad')).toBe('0');
  });

  it('enabledad: DAD and enhanced DAD on, and ADD returns only once IPv6 addresses are usable', async () => {
    await sb.addContainer('dad');
    const c = {
      ...conf({ bridge: 'tbrd', enabledad: true }),
      ipam: { type: 'host-local', dataDir: join(sb.dir, 'ipam'), ranges: [[{ subnet: 'fd00:87::/64' }]] },
    };
    const r = await plugin('ADD', 'dad', c);
    expect(r.stdout + r.stderr).not.toMatch(/"code"/);
    expect(await sys('dad', 'net/ipv6/conf/eth0/accept_dad')).toBe('1');
    expect(await sys('dad', 'net/ipv6/conf/eth0/enhanced_dad')).toBe('1');
    expect(await sys('dad', 'net/ipv6/conf/eth0/keep_addr_on_down')).toBe('1');
    const tentative = await sb.exec('dad', ['ip', '-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'global', 'tentative']);
    expect(tentative.stdout.trim()).toBe('');
    expect((await sb.exec('dad', ['ip', '-6', 'addr', 'show', 'dev', 'eth0'])).stdout).toContain('fd00:87::2/64');
    expect((await plugin('DEL', 'dad', c)).code).toBe(0);
  });

  it('promiscMode sets the bridge promiscuous, and CHECK notices when it is not', async () => {
    await sb.addContainer('pr');
    const c = conf({ bridge: 'tbrp', promiscMode: true }, { subnet: '10.87.0.0/24' });
    const r = await plugin('ADD', 'pr', c);
    expect(r.code).toBe(0);
    expect((await sb.exec('host', ['ip', '-j', 'link', 'show', 'tbrp'])).stdout).toContain('"PROMISC"');
    expect((await plugin('CHECK', 'pr', { ...c, prevResult: r.json })).code).toBe(0);
    const off = await plugin('CHECK', 'pr', { ...c, promiscMode: false, prevResult: r.json });
    expect((off.json as { msg: string }).msg).toMatch(/Promisc Mode false doesn't match current state: true/);
  });

  it('forceAddress: a different gateway address on the bridge is an error unless forced', async () => {
    await sb.addContainer('fa');
    await sb.exec('host', ['ip', 'link', 'add', 'tbrf', 'type', 'bridge']);
    await sb.exec('host', ['ip', 'addr', 'add', '10.86.5.1/24', 'dev', 'tbrf']);
    const before = leases().length;
    const c = conf({ bridge: 'tbrf' }, { subnet: '10.86.0.0/24' });
    const r = await plugin('ADD', 'fa', c);
    expect((r.json as { msg: string }).msg).toBe('"tbrf" already has an IP address different from 10.86.0.1/24');
    expect(leases().length).toBe(before);
    expect((await sb.exec('fa', ['ip', 'link', 'show', 'eth0'])).code).not.toBe(0);
    expect((await plugin('ADD', 'fa', { ...c, forceAddress: true })).code).toBe(0);
    const addrs = (await sb.exec('host', ['ip', '-br', '-4', 'addr', 'show', 'tbrf'])).stdout;
    expect(addrs).toContain('10.86.0.1/24');
    expect(addrs).not.toContain('10.86.5.1');
  });

  it('rejects a bridge name taken by a link that is not a bridge, leaving nothing behind', async () => {
    await sb.addContainer('nb');
    await sb.exec('host', ['ip', 'link', 'add', 'tnotbr', 'type', 'veth', 'peer', 'name', 'tnotbr1']);
    const before = leases().length;
    const links = (await hostLinks()).split('\n').length;
    const r = await plugin('ADD', 'nb', conf({ bridge: 'tnotbr' }));
    expect((r.json as { msg: string }).msg).toBe('"tnotbr" already exists but is not a bridge');
    expect(leases().length).toBe(before);
    expect((await hostLinks()).split('\n').length).toBe(links);
  });

  it('MAC precedence: runtimeConfig.mac, then args.cni.mac, then CNI_ARGS MAC', async () => {
    const macOf = async (c: string): Promise<string> =>
      (await sb.exec(c, ['cat', '/sys/class/net/eth0/address'])).stdout.trim();
    const cases: Array<[string, Record<string, unknown>, string | undefined, string]> = [
      [
        'mac1',
        { runtimeConfig: { mac: '0a:58:00:00:00:01' }, args: { cni: { mac: '0a:58:00:00:00:02' } } },
        'IgnoreUnknown=1;MAC=0a:58:00:00:00:03',
        '0a:58:00:00:00:01',
      ],
      [
        'mac2',
        { args: { cni: { mac: '0a:58:00:00:00:02' } } },
        'IgnoreUnknown=1;MAC=0a:58:00:00:00:03',
        '0a:58:00:00:00:02',
      ],
      ['mac3', {}, 'IgnoreUnknown=1;MAC=0a:58:00:00:00:03', '0a:58:00:00:00:03'],
    ];
    for (const [name, extra, args, want] of cases) {
      await sb.addContainer(name);
      const r = await sb.runPlugin(
        BRIDGE,
        {
          command: 'ADD',
          containerId: `ctr-${name}`,
          netns: `/run/netns/${sb.nsName(name)}`,
          ifName: 'eth0',
          path: cniPath,
          args,
        },
        conf({ bridge: 'tbrm', ...extra }, { subnet: '10.85.0.0/24' }),
      );
      expect(r.stdout + r.stderr).not.toMatch(/"code"/);
      expect(await macOf(name)).toBe(want);
      expect((r.json as { interfaces: Array<{ mac: string }> }).interfaces[2]?.mac).toBe(want);
    }
  });

  it('dns from the config replaces the IPAM dns in the result', async () => {
    await sb.addContainer('dn');
    const dns = { nameservers: ['10.84.0.53'], search: ['example.test'] };
    const r = await plugin('ADD', 'dn', conf({ bridge: 'tbrn', dns }, { subnet: '10.84.0.0/24' }));
    expect((r.json as { dns: unknown }).dns).toEqual(dns);
  });

  it('disableContainerInterface leaves the container interface down (L2 only)', async () => {
    await sb.addContainer('dc');
    const c = conf({ bridge: 'tbrc', isGateway: false, disableContainerInterface: true }, null);
    const r = await plugin('ADD', 'dc', c);
    expect(r.code).toBe(0);
    expect((await sb.exec('dc', ['ip', '-j', 'link', 'show', 'eth0'])).stdout).not.toMatch(/"UP"/);
    const withIpam = await plugin(
      'ADD',
      'dc',
      conf({ bridge: 'tbrc', disableContainerInterface: true }),
      undefined,
      'eth1',
    );
    expect(withIpam.json as { code: number; msg: string }).toMatchObject({
      code: 7,
      msg: 'cannot use IPAM when DisableContainerInterface flag is set',
    });
  });

  it('keeps the bridge MAC fixed while ports come and go', async () => {
    const c = conf({ bridge: 'tbrk' }, { subnet: '10.83.0.0/24' });
    const macOf = async (): Promise<string> =>
      (await sb.exec('host', ['cat', '/sys/class/net/tbrk/address'])).stdout.trim();
    await sb.addContainer('k1');
    const first = await plugin('ADD', 'k1', c);
    const mac = (first.json as { interfaces: Array<{ mac: string }> }).interfaces[0]?.mac;
    expect(await macOf()).toBe(mac);
    for (const name of ['k2', 'k3']) {
      await sb.addContainer(name);
      expect((await plugin('ADD', name, c)).code).toBe(0);
      expect(await macOf()).toBe(mac);
    }
    expect((await plugin('DEL', 'k1', c)).code).toBe(0);
    expect(await macOf()).toBe(mac);
  });

  it('DEL after the netns was deleted leaves no lease and no host veth', async () => {
    await sb.addContainer('gone');
    const before = leases().length;
    const links = (await hostLinks()).split('\n').length;
    const c = conf();
    expect((await plugin('ADD', 'gone', c)).code).toBe(0);
    expect(leases().length).toBe(before + 1);
    await sb.removeContainer('gone');
    expect((await plugin('DEL', 'gone', c)).code).toBe(0);
    expect(leases().length).toBe(before);
    // The host end of a veth pair goes away with its peer's namespace.
    expect((await hostLinks()).split('\n').length).toBe(links);
  });

  it('STATUS answers for a 1.1.0 config and fails with the IPAM plugin', async () => {
    expect(
      (await sb.runPlugin(BRIDGE, { command: 'STATUS', path: cniPath }, { ...conf(), cniVersion: '1.1.0' })).code,
    ).toBe(0);
    const bad = await sb.runPlugin(
      BRIDGE,
      { command: 'STATUS', path: cniPath },
      { ...conf({}, { type: 'failing-ipam' }), cniVersion: '1.1.0' },
    );
    expect(bad.code).not.toBe(0);
  });
});

describe('bridge VLAN and port isolation', () => {
  let vlanFiltering = false;
  beforeAll(async () => {
    // Some kernels (like this project's CI machines) are built without bridge VLAN filtering.
    const probe = await sb.exec('host', ['ip', 'link', 'add', 'tvlprobe', 'type', 'bridge', 'vlan_filtering', '1']);
    vlanFiltering = probe.code === 0;
    if (vlanFiltering) await sb.exec('host', ['ip', 'link', 'del', 'tvlprobe']);
  });

  it('sets port isolation on the container port', async () => {
    await sb.addContainer('iso');
    const r = await plugin(
      'ADD',
      'iso',
      conf({ bridge: 'tbri', isGateway: false, portIsolation: true }, { subnet: '10.90.0.0/24' }),
    );
    expect(r.code).toBe(0);
    const veth = (r.json as { interfaces: Array<{ name: string }> }).interfaces[1]?.name ?? '';
    expect((await sb.exec('host', ['cat', `/sys/class/net/${veth}/brport/isolated`])).stdout.trim()).toBe('1');
  });

  it('puts the port on its access VLAN (pvid, untagged), or says the kernel cannot and rolls back', async () => {
    await sb.addContainer('v1');
    const before = leases().length;
    const r = await plugin(
      'ADD',
      'v1',
      conf({ bridge: 'tbrv', isGateway: false, vlan: 100 }, { subnet: '10.92.0.0/24' }),
    );
    if (!vlanFiltering) {
      expect((r.json as { msg: string }).msg).toMatch(/VLAN filtering is not supported by this kernel/);
      expect(leases().length).toBe(before);
      expect((await sb.exec('v1', ['ip', 'link', 'show', 'eth0'])).code).not.toBe(0);
      return;
    }
    expect(r.code).toBe(0);
    const veth = (r.json as { interfaces: Array<{ name: string }> }).interfaces[1]?.name ?? '';
    const vlans = JSON.stringify(
      JSON.parse((await sb.exec('host', ['bridge', '-j', 'vlan', 'show', 'dev', veth])).stdout),
    );
    expect(vlans).toMatch(/"vlan":100,"flags":\["PVID","Egress Untagged"\]/);
    expect(vlans).not.toMatch(/"vlan":1,/);
  });

  it('rejects invalid VLAN settings', async () => {
    expect(((await plugin('ADD', 'v1', conf({ vlan: 5000 }))).json as { code: number }).code).toBe(7);
    expect(((await plugin('ADD', 'v1', conf({ vlanTrunk: [{ minID: 10 }] }))).json as { msg: string }).msg).toMatch(
      /maxID is missing/,
    );
  });
});

describe('macspoofchk', () => {
  it('drops frames with another source MAC, and DEL removes the check even after the netns is gone', async () => {
    await sb.addContainer('sp');
    const c = conf({ bridge: 'tbrs', macspoofchk: true }, { subnet: '10.89.0.0/24' });
    const r = await plugin('ADD', 'sp', c);
    expect(r.code).toBe(0);
    expect((await sb.exec('sp', ['ping', '-c1', '-W2', '10.89.0.1'])).code).toBe(0);
    const rules = (await sb.exec('host', ['nft', 'list', 'table', 'bridge', 'nat'])).stdout;
    expect(rules).toContain('chain cni-br-iface-ctr-sp-eth0-mac');
    expect(rules).toContain('comment "macspoofchk-ctr-sp-eth0"');
    await sb.exec('sp', ['ip', 'neigh', 'flush', 'all']);
    await sb.exec('sp', ['ip', 'link', 'set', 'eth0', 'address', '0a:58:de:ad:be:ef']);
    expect((await sb.exec('sp', ['ping', '-c1', '-W1', '10.89.0.1'])).code).not.toBe(0);
    await sb.removeContainer('sp');
    expect((await plugin('DEL', 'sp', c)).code).toBe(0);
    expect((await sb.exec('host', ['nft', 'list', 'table', 'bridge', 'nat'])).stdout).not.toContain('ctr-sp');
  });
});

describe('ipMasq', () => {
  let upstream = '';
  beforeAll(async () => {
    // An "upstream" namespace behind the sandbox host: 192.168.77.2 on the other end of a veth.
    await sb.addContainer('up');
    upstream = sb.nsName('up');
    await runOk([
      'ip',
      '-n',
      sb.hostNs,
      'link',
      'add',
      'upl0',
      'type',
      'veth',
      'peer',
      'name',
      'upl1',
      'netns',
      upstream,
    ]);
    await runOk(['ip', '-n', sb.hostNs, 'addr', 'add', '192.168.77.1/24', 'dev', 'upl0']);
    await runOk(['ip', '-n', sb.hostNs, 'link', 'set', 'upl0', 'up']);
    await runOk(['ip', '-n', upstream, 'addr', 'add', '192.168.77.2/24', 'dev', 'upl1']);
    await runOk(['ip', '-n', upstream, 'link', 'set', 'upl1', 'up']);
  });

  for (const backend of ['iptables', 'nftables'] as const) {
    it(`${backend}: masquerades traffic leaving the subnet and DEL removes the rules`, async () => {
      const name = `mq${backend[0]}`;
      await sb.addContainer(name);
      const c = {
        ...conf(
          { bridge: `tbm${backend[0]}`, isDefaultGateway: true, ipMasq: true, ipMasqBackend: backend },
          { subnet: backend === 'iptables' ? '10.96.0.0/24' : '10.95.0.0/24' },
        ),
        name: `net-${backend}`,
      };
      const r = await plugin('ADD', name, c);
      expect(r.code).toBe(0);
      // The upstream sees the sandbox host's address, not the container's.
      const server = await startServer(sb, 'up', 7777, 'peer');
      try {
        expect(await fetchFrom(sb, name, '192.168.77.2', 7777)).toBe('192.168.77.1');
      } finally {
        server.stop();
      }
      const rules =
        backend === 'iptables' ? await natRules() : (await sb.exec('host', ['nft', 'list', 'ruleset'])).stdout;
      expect(rules).toContain(`ctr-${name}`);
      // DEL with the netns already gone still removes the rules.
      await sb.removeContainer(name);
      expect((await plugin('DEL', name, c)).code).toBe(0);
      const after =
        backend === 'iptables' ? await natRules() : (await sb.exec('host', ['nft', 'list', 'ruleset'])).stdout;
      expect(after).not.toContain(`ctr-${name}`);
    });
  }

  it('no backend configured: iptables where it works, else nftables (the reference default), and DEL finds the rules either way', async () => {
    const nftRules = async (): Promise<string> => (await sb.exec('host', ['nft', 'list', 'ruleset'])).stdout;
    await sb.addContainer('dfi');
    const c = { ...conf({ ipMasq: true }), name: 'defnet' };
    expect((await plugin('ADD', 'dfi', c)).code).toBe(0);
    expect(await natRules()).toContain('ctr-dfi');
    expect(await nftRules()).not.toContain('ctr-dfi');
    expect((await plugin('DEL', 'dfi', c)).code).toBe(0);
    expect(await natRules()).not.toContain('ctr-dfi');

    // Without any iptables tool on PATH, the same config masquerades through nftables.
    const noIptables = await toolsDir('no-iptables', []);
    const run = (command: string): Promise<RunResult> =>
      sb.runPlugin(
        BRIDGE,
        {
          command,
          containerId: 'ctr-dfn',
          netns: `/run/netns/${sb.nsName('dfn')}`,
          ifName: 'eth0',
          path: cniPath,
          env: { PATH: noIptables },
        },
        c,
      );
    await sb.addContainer('dfn');
    const add = await run('ADD');
    expect(add.stdout).toContain('"ips"');
    expect(await nftRules()).toContain('ctr-dfn');
    expect(await natRules()).not.toContain('ctr-dfn');
    expect((await run('DEL')).code).toBe(0);
    expect(await nftRules()).not.toContain('ctr-dfn');
  });

  for (const backend of ['iptables', 'nftables'] as const) {
    it(`${backend}: CHECK verifies the masquerade rules (dual-stack) and fails once they are gone`, async () => {
      const name = `ck${backend[0]}`;
      await sb.addContainer(name);
      const n = backend === 'iptables' ? 3 : 2;
      const c = {
        ...conf(
          { bridge: `tbk${backend[0]}`, ipMasq: true, ipMasqBackend: backend },
          { subnet: undefined, ranges: [[{ subnet: `10.9${n}.0.0/24` }], [{ subnet: `fd9${n}::/64` }]] },
        ),
        name: `cknet-${backend}`,
      };
      const add = await plugin('ADD', name, c);
      expect(add.code).toBe(0);
      expect(JSON.stringify(add.json)).toContain(`fd9${n}::2/64`);
      const withPrev = { ...c, prevResult: add.json };
      const ok = await plugin('CHECK', name, withPrev);
      expect(ok.stdout + ok.stderr).toBe('');
      expect(ok.code).toBe(0);
      // Someone flushes the rules behind our back.
      if (backend === 'iptables')
        await runOk(['ip', 'netns', 'exec', sb.hostNs, 'iptables', '-t', 'nat', '-F', 'POSTROUTING']);
      else
        await runOk([
          'ip',
          'netns',
          'exec',
          sb.hostNs,
          'nft',
          'flush',
          'chain',
          'inet',
          'cni_plugins_masquerade',
          'masq_checks',
        ]);
      const bad = await plugin('CHECK', name, withPrev);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toMatch(/masquerade rule not found/);
      expect((await plugin('DEL', name, c)).code).toBe(0);
    });
  }

  it('DEL and GC remove masquerade rules from both backends, whatever the config says now', async () => {
    const nftRules = async (): Promise<string> => (await sb.exec('host', ['nft', 'list', 'ruleset'])).stdout;
    const mk = (backend: string): Record<string, unknown> => ({
      ...conf({ bridge: 'tbsw', ipMasq: true, ipMasqBackend: backend }, { subnet: '10.91.0.0/24' }),
      name: 'swnet',
      cniVersion: '1.1.0',
    });
    await sb.addContainer('sw1');
    await sb.addContainer('sw2');
    // sw1 set up under nftables, sw2 under iptables; the config then switches backend.
    expect((await plugin('ADD', 'sw1', mk('nftables'))).code).toBe(0);
    expect((await plugin('ADD', 'sw2', mk('iptables'))).code).toBe(0);
    expect(await nftRules()).toContain('id: ctr-sw1');
    expect(await natRules()).toContain('ctr-sw2');
    expect((await plugin('DEL', 'sw1', mk('iptables'))).code).toBe(0);
    expect(await nftRules()).not.toContain('id: ctr-sw1');
    // GC with the other backend configured still finds sw2's iptables rules.
    const gc = await sb.runPlugin(
      BRIDGE,
      { command: 'GC', path: cniPath },
      { ...mk('nftables'), 'cni.dev/valid-attachments': [] },
    );
    expect(gc.stdout + gc.stderr).toBe('');
    expect(await natRules()).not.toContain('ctr-sw2');
    await plugin('DEL', 'sw2', mk('iptables'));
  });

  it('uses the reference chain name and comment', async () => {
    await sb.addContainer('ref');
    const c = { ...conf({ ipMasq: true, ipMasqBackend: 'iptables' }), name: 'refnet' };
    expect((await plugin('ADD', 'ref', c)).code).toBe(0);
    const rules = await natRules();
    // FormatChainName("refnet", "ctr-ref"): "CNI-" + sha512 prefix, 28 characters.
    expect(rules).toMatch(
      /-A POSTROUTING -s 10\.99\.0\.\d+\/32 -m comment --comment "name: \\"refnet\\" id: \\"ctr-ref\\"" -j CNI-[0-9a-f]{24}/,
    );
    expect((await plugin('DEL', 'ref', c)).code).toBe(0);
    expect(await natRules()).not.toContain('ctr-ref');
  });

  it('DEL removes the rules with or without a prevResult that matches them (no read, or the read after a failed restore)', async () => {
    const c = { ...conf({ ipMasq: true, ipMasqBackend: 'iptables' }), name: 'pvnet' };
    for (const [name, prev] of [
      ['pv1', (r: { ips: Array<{ address: string }> }) => r],
      // A prevResult naming another address: the restore without a read fails, the read finds the rules.
      [
        'pv2',
        (r: { ips: Array<{ address: string }> }) => ({ ...r, ips: [{ ...r.ips[0], address: '10.99.0.250/24' }] }),
      ],
    ] as const) {
      await sb.addContainer(name);
      const add = await plugin('ADD', name, c);
      expect(add.code).toBe(0);
      expect(await natRules()).toContain(`ctr-${name}`);
      const del = await plugin('DEL', name, { ...c, prevResult: prev(JSON.parse(add.stdout)) });
      expect(del.code).toBe(0);
      expect(await natRules()).not.toContain(`ctr-${name}`);
    }
  });

  it('GC removes rules of attachments that are not valid any more', async () => {
    await sb.addContainer('g1');
    const c = { ...conf({ ipMasq: true, ipMasqBackend: 'iptables' }), name: 'gcnet', cniVersion: '1.1.0' };
    expect((await plugin('ADD', 'g1', c)).code).toBe(0);
    expect(await natRules()).toContain('ctr-g1');
    const gc = await sb.runPlugin(BRIDGE, { command: 'GC', path: cniPath }, { ...c, 'cni.dev/valid-attachments': [] });
    expect(gc.code).toBe(0);
    expect(await natRules()).not.toContain('ctr-g1');
  });
});

describe('differential: reference bridge in the same kind of sandbox', () => {
  it('gives the same result shape, rules and lease files', async () => {
    const store = (id: string): Record<string, string> => {
      const d = join(sb.dir, `ipam-${id}`, 'diffnet');
      return Object.fromEntries(
        readdirSync(d)
          .filter((f) => !f.startsWith('.') && f !== 'lock')
          .map((f) => [f, readFileSync(join(d, f), 'utf8')]),
      );
    };
    const refPath = join(sb.dir, 'ref-bin');
    mkdirSync(refPath);
    symlinkSync(join(REFERENCE_DIR, 'host-local'), join(refPath, 'host-local'));
    await sb.addContainer('r1');
    await sb.addContainer('r2');
    const mk = (id: string): Record<string, unknown> => ({
      ...conf({ bridge: 'tbrr', ipMasq: true }, { subnet: '10.94.0.0/24', dataDir: join(sb.dir, `ipam-${id}`) }),
      name: 'diffnet',
    });
    const ours = await sb.runPlugin(
      BRIDGE,
      { command: 'ADD', containerId: 'same-id', netns: `/run/netns/${sb.nsName('r1')}`, ifName: 'eth0', path: cniPath },
      mk('ours'),
    );
    const save1 = await natRules();
    const storeOurs = store('ours');
    await sb.runPlugin(
      BRIDGE,
      { command: 'DEL', containerId: 'same-id', netns: `/run/netns/${sb.nsName('r1')}`, ifName: 'eth0', path: cniPath },
      mk('ours'),
    );
    const theirs = await sb.runPlugin(
      join(REFERENCE_DIR, 'bridge'),
      { command: 'ADD', containerId: 'same-id', netns: `/run/netns/${sb.nsName('r2')}`, ifName: 'eth0', path: refPath },
      mk('ref'),
    );
    const save2 = await natRules();
    const storeRef = store('ref');
    const storeOursAfterDel = store('ours');
    expect(ours.code).toBe(0);
    expect(theirs.code).toBe(0);
    // v1.1.1 prints an empty "dns": {} in 1.x results; newer reference releases omit it, as we do.
    const shape = (j: unknown): unknown =>
      JSON.parse(
        JSON.stringify(j)
          .replace(/,"dns":\{\}/, '')
          .replace(/"mac":"[^"]*"/g, '"mac":"M"')
          .replace(/veth[0-9a-f]{8}/g, 'vethX')
          .replace(/tscni-t-[^"]*/g, 'NS'),
      );
    expect(shape(ours.json)).toEqual(shape(theirs.json));
    const chain = (s: string): string | undefined =>
      /-j (CNI-[0-9a-f]{24})/.exec(s.split('\n').find((l) => l.includes('same-id')) ?? '')?.[1];
    expect(chain(save1)).toBeDefined();
    expect(chain(save1)).toBe(chain(save2));
    // The same rules in the per-container chain, and the same lease files (names and contents).
    const chainRules = (save: string): string[] =>
      save
        .split('\n')
        .filter((l) => l.startsWith(`-A ${chain(save1)}`))
        .sort();
    expect(chainRules(save1)).toEqual(chainRules(save2));
    expect(chainRules(save1).length).toBeGreaterThan(0);
    expect(storeOurs).toEqual({ '10.94.0.2': 'same-id\r\neth0', 'last_reserved_ip.0': '10.94.0.2' });
    expect(storeRef).toEqual(storeOurs);
    await sb.runPlugin(
      join(REFERENCE_DIR, 'bridge'),
      { command: 'DEL', containerId: 'same-id', netns: `/run/netns/${sb.nsName('r2')}`, ifName: 'eth0', path: refPath },
      mk('ref'),
    );
    expect(store('ref')).toEqual(storeOursAfterDel);
  });
});
