/** `tscni install` argument parsing and the conflist it renders. */
import { describe, expect, it } from '@jest/globals';
import { renderConflist } from './conflist';
import { UsageError } from '../argv';
import { HelpRequested, INSTALL_USAGE, masqMode, needsApi, parseInstallArgs } from './options';

const parse = (...argv: string[]): ReturnType<typeof parseInstallArgs> => parseInstallArgs(argv, {});

describe('parseInstallArgs', () => {
  it('has the documented defaults', () => {
    const o = parse();
    expect(o).toMatchObject({
      binDir: '/opt/cni/bin',
      confDir: '/etc/cni/net.d',
      confName: '10-tscni.conflist',
      dataDir: '/run/cni-ipam-state',
      loop: false,
      binaries: true,
      podCidrs: [],
    });
    expect(needsApi(o)).toBe(true);
    expect(masqMode(o)).toBe('nft');
  });

  it('takes both --flag value and --flag=value, canonical CIDRs, IPv4 first', () => {
    const o = parse('--pod-cidr=fd00:10:244:1::7/64,10.244.1.9/24', '--bin-dir', '/x/bin/', '--loop', '--interval=5');
    expect(o.podCidrs).toEqual(['10.244.1.0/24', 'fd00:10:244:1::/64']);
    expect(o.binDir).toBe('/x/bin');
    expect(o.loop).toBe(true);
    expect(o.intervalSec).toBe(5);
    expect(needsApi(o)).toBe(false);
    expect(masqMode(o)).toBe('bridge');
  });

  it('a lone node with --masq nft does not masquerade its own pod CIDR', () => {
    const o = parse('--pod-cidr', '10.88.0.0/16', '--masq', 'nft');
    expect(o.clusterCidrs).toEqual(['10.88.0.0/16']);
    expect(masqMode(parse('--pod-cidr', '10.88.0.0/16', '--cluster-cidr', '10.0.0.0/8'))).toBe('nft');
  });

  it('--no-conflist: only the binaries, never the API', () => {
    const o = parse('--no-conflist', '--bin-dir', '/x');
    expect(o.conflist).toBe(false);
    expect(needsApi(o)).toBe(false);
    expect(() => parse('--no-conflist', '--no-binaries')).toThrow(/only the binaries/);
    expect(() => parse('--no-conflist', '--routes')).toThrow(/only the binaries/);
  });

  it('repeated and comma-separated lists; the last of --once and --loop wins', () => {
    const o = parse('--cluster-cidr', '10.0.0.0/8', '--cluster-cidr=172.16.0.0/12,192.168.0.0/16', '--loop', '--once');
    expect(o.clusterCidrs).toEqual(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']);
    expect(o.loop).toBe(false);
    expect(parse('--once', '--loop').loop).toBe(true);
  });

  it('--help and -h ask for the usage text (not an error)', () => {
    for (const h of ['--help', '-h']) {
      expect(() => parse('--bin-dir', '/x', h)).toThrow(HelpRequested);
      expect(() => parse(h)).toThrow(INSTALL_USAGE);
    }
  });

  it('--backend routes|vxlan|auto (--routes is routes) with VXLAN settings; any backend reads the API', () => {
    expect(parse('--routes').backend).toBe('routes');
    expect(parse('--routes', '--backend', 'vxlan').backend).toBe('vxlan');
    expect(parse('--backend=auto', '--routes').backend).toBe('routes');
    const o = parse('--pod-cidr', '10.244.1.0/24', '--backend', 'auto', '--vxlan-vni', '42', '--vxlan-port=8472');
    expect(o).toMatchObject({ backend: 'auto', vxlan: { vni: 42, port: 8472, device: 'tscni.vxlan' } });
    expect(needsApi(o)).toBe(true);
    expect(parse().vxlan).toEqual({ vni: 1, port: 4789, device: 'tscni.vxlan' });
    expect(parse().backend).toBeUndefined();
    expect(() => parse('--no-conflist', '--backend', 'vxlan')).toThrow(/only the binaries/);
  });

  it('--plugin bridge|ptp and --api-server', () => {
    expect(parse().plugin).toBe('bridge');
    expect(parse('--plugin', 'ptp').plugin).toBe('ptp');
    expect(parse('--api-server', 'https://kind-control-plane:6443').apiServer).toEqual({
      hostname: 'kind-control-plane',
      port: 6443,
    });
  });

  it('NODE_NAME comes from the environment, --node-name wins', () => {
    expect(parseInstallArgs([], { NODE_NAME: 'kind-worker' }).nodeName).toBe('kind-worker');
    expect(parseInstallArgs(['--node-name', 'b'], { NODE_NAME: 'a' }).nodeName).toBe('b');
  });

  it.each([
    [['--conf-name', '../etc/passwd.conflist'], /plain file name/],
    [['--conf-name', 'sub/x.conflist'], /plain file name/],
    [['--conf-name', '.hidden.conflist'], /plain file name/],
    [['--conf-name', '10-x.conf'], /must end in \.conflist/],
    [['--bin-dir', 'relative/bin'], /absolute path/],
    [['--conf-dir', '/etc/cni/../../tmp'], /absolute path without/],
    [['--data-dir', '/a\0b'], /absolute path/],
    [['--pod-cidr', '10.244.1.0/24,10.244.2.0/24'], /at most one IPv4/],
    [['--pod-cidr', 'nonsense'], /not a CIDR/],
    [['--node-name', 'Node_1'], /not a valid Kubernetes name/],
    [['--node-name', '../../secrets'], /not a valid Kubernetes name/],
    [['--bridge', 'a-very-long-bridge-name'], /invalid link name/],
    [['--masq', 'iptables'], /one of nft, bridge, off/],
    [['--mtu', '9x'], /integer/],
    [['--interval', '0'], /seconds/],
    [['--backend', 'geneve'], /one of routes, vxlan, auto/],
    [['--vxlan-vni', '0'], /1\.\.16777215/],
    [['--vxlan-vni', '16777216'], /1\.\.16777215/],
    [['--vxlan-port', '65536'], /1\.\.65535/],
    [['--plugin', 'macvlan'], /one of bridge, ptp/],
    [['--api-server', 'http://insecure:80'], /https:\/\/host\[:port\]/],
    [['--bin-dir'], /needs a value/],
    [['--frobnicate'], /unknown option --frobnicate/],
    [['stray'], /unexpected argument "stray"/],
    [['--routes=yes'], /--routes takes no value/],
  ])('refuses %j', (argv, message) => {
    expect(() => parse(...argv)).toThrow(UsageError);
    expect(() => parse(...argv)).toThrow(message);
  });
});

describe('renderConflist', () => {
  const base = parse('--pod-cidr', '10.244.1.0/24,fd00:10:244:1::/64');
  const list = (over: Partial<Parameters<typeof renderConflist>[0]> = {}): Record<string, unknown> =>
    JSON.parse(renderConflist({ ...base, masq: 'nft', ...over })) as Record<string, unknown>;

  it('bridge (gateway, hairpin, no ipMasq under nft) + host-local range set per family + portmap', () => {
    expect(list()).toEqual({
      cniVersion: '1.0.0',
      name: 'tscni',
      plugins: [
        {
          type: 'bridge',
          bridge: 'tscni0',
          isGateway: true,
          isDefaultGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: '10.244.1.0/24' }], [{ subnet: 'fd00:10:244:1::/64' }]],
            dataDir: '/run/cni-ipam-state',
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    });
  });

  it('bridge masquerade, MTU and firewall on request', () => {
    const l = list({ masq: 'bridge', mtu: 1400, firewall: true });
    const plugins = l['plugins'] as Array<Record<string, unknown>>;
    expect(plugins[0]).toMatchObject({ ipMasq: true, mtu: 1400 });
    expect(plugins.map((p) => p['type'])).toEqual(['bridge', 'portmap', 'firewall']);
  });

  it("ptp (kindnetd's layout): no bridge keys, default routes per family from IPAM", () => {
    const plugins = list({ plugin: 'ptp', mtu: 1450 })['plugins'] as Array<Record<string, unknown>>;
    expect(plugins[0]).toEqual({
      type: 'ptp',
      ipMasq: false,
      mtu: 1450,
      ipam: {
        type: 'host-local',
        ranges: [[{ subnet: '10.244.1.0/24' }], [{ subnet: 'fd00:10:244:1::/64' }]],
        dataDir: '/run/cni-ipam-state',
        routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
      },
    });
  });

  it('the same input renders the same bytes', () => {
    expect(renderConflist({ ...base, masq: 'nft' })).toBe(renderConflist({ ...base, masq: 'nft' }));
  });
});
