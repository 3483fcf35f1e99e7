/** Golden text of every iptables-restore transaction lib/firewall renders (`make golden` rewrites them). */
import type { Attachment } from '../../cni/invocation';
import { describe, expect, it } from '@jest/globals';
import type { Family } from '../../addr/ip';
import { expectGolden } from '../../testutil/golden';
import type { PortForwardRequest } from '../types';
import {
  forwardingChange as change,
  goldenAttachment as ctr,
  portForwardRequest as request,
} from '../../testutil/firewall-requests';
import { renderMasqSetup, renderMasqTeardown } from './masquerade';
import { dnChainName, planOf, renderPortmapSetup, renderPortmapTeardown } from './port-forwarding';
import { renderChainRemoval } from './tables';
import { renderForwardingChange, spec, STAGE1, STAGE2 } from './container-forwarding';
import { chainName } from '../names';
import { UnsafeTextError } from '../text';

const golden = (name: string, text: string): void => expectGolden(__dirname, name, text);

describe('iptables masquerade', () => {
  it('sets up IPv4', () => {
    golden('masquerade-setup-v4', renderMasqSetup(ctr, [{ address: '10.88.0.2', subnet: '10.88.0.0/16' }], 4));
  });
  it('sets up IPv6', () => {
    golden('masquerade-setup-v6', renderMasqSetup(ctr, [{ address: 'fd00:88::2', subnet: 'fd00:88::/64' }], 6));
  });
  it('creates the chain with -N on a first setup, so an existing chain fails the restore', () => {
    golden(
      'masquerade-create-v4',
      renderMasqSetup(ctr, [{ address: '10.88.0.2', subnet: '10.88.0.0/16' }], 4, '', true),
    );
  });
  it('tears down known addresses without a listing: the exact jumps, then the chain', () => {
    golden(
      'masquerade-teardown-known-v6',
      renderMasqTeardown(ctr, [{ address: 'fd00:88::2', subnet: 'fd00:88::/64' }], 6),
    );
  });
  it('adds no second POSTROUTING jump when one is there (a repeated setup)', () => {
    const addrs = [{ address: '10.88.0.2', subnet: '10.88.0.0/16' }];
    const first = renderMasqSetup(ctr, addrs, 4);
    const jumps = first.split('\n').filter((l) => l.startsWith('-A POSTROUTING'));
    const again = renderMasqSetup(ctr, addrs, 4, jumps.join('\n'));
    expect(again).toBe(
      first
        .split('\n')
        .filter((l) => !l.startsWith('-A POSTROUTING'))
        .join('\n'),
    );
  });
  it('tears down the chain and its jumps from a listing of POSTROUTING and the chain', () => {
    const chain = chainName('podman', 'c0ffee');
    const listing = [
      ':POSTROUTING ACCEPT [0:0]',
      `-A POSTROUTING -s 10.88.0.2/32 -m comment --comment "name: \\"podman\\" id: \\"c0ffee\\"" -j ${chain}`,
      '-A POSTROUTING -s 10.88.0.3/32 -m comment --comment "name: \\"podman\\" id: \\"other\\"" -j CNI-0123456789abcdef01234567',
      `:${chain} - [0:0]`,
      `-A ${chain} -d 10.88.0.0/16 -m comment --comment "name: \\"podman\\" id: \\"c0ffee\\"" -j ACCEPT`,
    ].join('\n');
    golden('masquerade-teardown', renderChainRemoval('nat', listing, new Set([chain])));
  });
});

const plan = (family: Family, over: Partial<PortForwardRequest> = {}): ReturnType<typeof planOf> => {
  const req = request(over);
  const c = req.containers.find((x) => x.family === family);
  if (!c) throw new Error('no container address');
  return planOf(req, c);
};

describe('iptables port forwarding', () => {
  it('sets up IPv4 on a host without the shared chains', () => {
    golden('port-forwarding-setup-v4', renderPortmapSetup(plan(4), ''));
  });
  it('sets up IPv6 on a host without the shared chains', () => {
    golden('port-forwarding-setup-v6', renderPortmapSetup(plan(6), ''));
  });
  it('rewrites the chain of a repeated ADD, keeping the shared chains', () => {
    const dn = dnChainName('podman', 'c0ffee');
    const save = [
      '*nat',
      ':PREROUTING ACCEPT [0:0]',
      ':OUTPUT ACCEPT [0:0]',
      ':POSTROUTING ACCEPT [0:0]',
      ':CNI-HOSTPORT-DNAT - [0:0]',
      ':CNI-HOSTPORT-SETMARK - [0:0]',
      ':CNI-HOSTPORT-MASQ - [0:0]',
      `:${dn} - [0:0]`,
      '-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT',
      '-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT',
      '-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ',
      '-A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000',
      '-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE',
      `-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"podman\\" id: \\"c0ffee\\"" -m multiport --destination-ports 7000 -j ${dn}`,
      'COMMIT',
    ].join('\n');
    golden('port-forwarding-setup-v4-again', renderPortmapSetup(plan(4), save));
  });
  it('refills the shared chains after `iptables -t nat -F` (chains there, rules gone)', () => {
    const dn = dnChainName('podman', 'c0ffee');
    const save = ['*nat', ':CNI-HOSTPORT-DNAT - [0:0]', ':CNI-HOSTPORT-SETMARK - [0:0]', ':CNI-HOSTPORT-MASQ - [0:0]']
      .concat([`:${dn} - [0:0]`, 'COMMIT'])
      .join('\n');
    golden('port-forwarding-setup-v4-flushed', renderPortmapSetup(plan(4), save));
  });
  it('masqAll, no snat of localhost, conditions and an external mark chain', () => {
    golden(
      'port-forwarding-setup-v4-options',
      renderPortmapSetup(
        plan(4, {
          masqAll: true,
          externalSetMarkChain: 'KUBE-MARK-MASQ',
          conditionsV4: ['!', '-s', '10.0.0.0/8'],
        }),
        '',
      ),
    );
  });
  it('without snat renders only DNAT rules', () => {
    golden('port-forwarding-setup-v6-nosnat', renderPortmapSetup(plan(6, { snat: false, markMasqBit: 5 }), ''));
  });
  it('splits more than 15 ports of one protocol over several entry rules', () => {
    const mappings = Array.from({ length: 17 }, (_, i) => ({
      hostPort: 10000 + i,
      containerPort: 80,
      protocol: 'tcp' as const,
      hostIP: '',
    }));
    golden('port-forwarding-setup-v4-many', renderPortmapSetup(plan(4, { mappings }), ''));
  });
  it('tears down a known request without a listing: the exact entry rules, then the chain', () => {
    const mappings = Array.from({ length: 16 }, (_, i) => ({
      hostPort: 10000 + i,
      containerPort: 80,
      protocol: 'tcp' as const,
      hostIP: '',
    }));
    const p = plan(6, { mappings: [...mappings, ...request().mappings], conditionsV6: ['!', '-s', 'fd00:1::/64'] });
    const text = renderPortmapTeardown(p);
    golden('port-forwarding-teardown-known-v6', text);
    // Each entry rule setup wrote is deleted as written (`-A` → `-D`).
    const entries = renderPortmapSetup(p, '')
      .split('\n')
      .filter((l) => l.startsWith('-A CNI-HOSTPORT-DNAT '));
    expect(text.split('\n').filter((l) => l.startsWith('-D '))).toEqual(entries.map((l) => `-D${l.slice(2)}`));
  });
  it('tears down the DN chain, its entry rule and a legacy SN chain', () => {
    const dn = dnChainName('podman', 'c0ffee');
    const sn = chainName('podman', 'c0ffee', 'SN-');
    const listing = [
      `:${dn} - [0:0]`,
      `-A ${dn} -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.88.0.2:80`,
      ':CNI-HOSTPORT-SNAT - [0:0]',
      `-A CNI-HOSTPORT-SNAT -m comment --comment "snat name: \\"podman\\" id: \\"c0ffee\\"" -j ${sn}`,
      ':CNI-HOSTPORT-DNAT - [0:0]',
      `-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"podman\\" id: \\"c0ffee\\"" -m multiport --destination-ports 8080 -j ${dn}`,
      `:${sn} - [0:0]`,
    ].join('\n');
    golden('port-forwarding-teardown', renderChainRemoval('nat', listing, new Set([dn, sn])));
  });
});

describe('iptables container forwarding (firewall plugin)', () => {
  const empty = [':FORWARD ACCEPT [0:0]'].join('\n');
  it('sets up IPv4 and IPv6 on a host without the chains, with isolation', () => {
    const c = change({ accept: ['10.88.0.2', 'fd00:88::2'], isolate: ['cni-podman0'] });
    golden('forwarding-setup-v4', renderForwardingChange(c, 4, empty));
    golden('forwarding-setup-v6', renderForwardingChange(c, 6, empty));
  });
  it('adds only what is missing where the chains exist, with a custom admin chain', () => {
    const current = [
      ':FORWARD DROP [0:0]',
      `-A FORWARD ${spec.jumpToStage1}`,
      `-A FORWARD ${spec.jumpToForward}`,
      ':CNI-FORWARD - [0:0]',
      `-A CNI-FORWARD ${spec.jumpToAdmin('FW-ADMIN')}`,
      `-A CNI-FORWARD ${spec.replies('10.88.0.3')}`,
      `-A CNI-FORWARD ${spec.from('10.88.0.3')}`,
      ':FW-ADMIN - [0:0]',
      `:${STAGE1} - [0:0]`,
      `-A ${STAGE1} ${spec.stage1Bridge('br1')}`,
      `-A ${STAGE1} ${spec.stageReturn}`,
      `:${STAGE2} - [0:0]`,
      `-A ${STAGE2} ${spec.stage2Bridge('br1')}`,
      `-A ${STAGE2} ${spec.stageReturn}`,
    ].join('\n');
    const c = change({
      accept: ['10.88.0.2'],
      forget: ['10.88.0.3'],
      isolate: ['br2'],
      adminChain: 'FW-ADMIN',
      families: [4],
    });
    golden('forwarding-setup-v4-existing', renderForwardingChange(c, 4, current));
  });
  it('tears down an address and the last isolated bridge, with the stage chains', () => {
    const current = [
      ':FORWARD ACCEPT [0:0]',
      `-A FORWARD ${spec.jumpToStage1}`,
      `-A FORWARD ${spec.jumpToForward}`,
      ':CNI-FORWARD - [0:0]',
      `-A CNI-FORWARD ${spec.jumpToAdmin('CNI-ADMIN')}`,
      `-A CNI-FORWARD ${spec.replies('fd00:88::2')}`,
      `-A CNI-FORWARD ${spec.from('fd00:88::2')}`,
      ':CNI-ADMIN - [0:0]',
      `:${STAGE1} - [0:0]`,
      `-A ${STAGE1} ${spec.stage1Bridge('cni-podman0')}`,
      `-A ${STAGE1} ${spec.stageReturn}`,
      `:${STAGE2} - [0:0]`,
      `-A ${STAGE2} ${spec.stage2Bridge('cni-podman0')}`,
      `-A ${STAGE2} ${spec.stageReturn}`,
    ].join('\n');
    const c = change({ forget: ['fd00:88::2'], unisolate: ['cni-podman0'] });
    golden('forwarding-teardown-v6', renderForwardingChange(c, 6, current));
  });
  it('sets up an isolated bridge (icc=false) and an internal one', () => {
    // ingressPolicy isolated: cross-bridge isolation with upstream's comment, and -i br -o br dropped;
    // an internal network: nothing routed into or out of its bridge (not cross-bridge isolated).
    const c = change({
      accept: ['10.88.1.2', '10.88.2.2'],
      isolate: ['br-iso'],
      noIcc: ['br-iso'],
      internal: ['br-int'],
      families: [4],
    });
    golden('forwarding-setup-isolated-internal', renderForwardingChange(c, 4, empty));
  });
  it('tears down an isolated and an internal bridge, leaving a same-bridge one and the stage chains', () => {
    const current = [
      ':FORWARD ACCEPT [0:0]',
      `-A FORWARD ${spec.jumpToStage1}`,
      `-A FORWARD ${spec.jumpToForward}`,
      ':CNI-FORWARD - [0:0]',
      `-A CNI-FORWARD ${spec.jumpToAdmin('CNI-ADMIN')}`,
      ':CNI-ADMIN - [0:0]',
      `:${STAGE1} - [0:0]`,
      `-A ${STAGE1} ${spec.stage1Bridge('br1')}`,
      `-A ${STAGE1} ${spec.stage1BridgeIsolated('br-iso')}`,
      `-A ${STAGE1} ${spec.iccDrop('br-iso')}`,
      `-A ${STAGE1} ${spec.internalOut('br-int')}`,
      `-A ${STAGE1} ${spec.internalIn('br-int')}`,
      `-A ${STAGE1} ${spec.stageReturn}`,
      `:${STAGE2} - [0:0]`,
      `-A ${STAGE2} ${spec.stage2Bridge('br1')}`,
      `-A ${STAGE2} ${spec.stage2Bridge('br-iso')}`,
      `-A ${STAGE2} ${spec.stageReturn}`,
    ].join('\n');
    const c = change({ unisolate: ['br-iso', 'br-int'], families: [4] });
    golden('forwarding-teardown-isolated-internal', renderForwardingChange(c, 4, current));
  });
  it('renders nothing when there is nothing to change', () => {
    golden('forwarding-teardown-nothing', renderForwardingChange(change({ forget: ['10.88.0.9'] }), 4, empty));
  });
});

describe('iptables renderers given hostile names', () => {
  it('bridge names in the isolated and internal rules are refused unless they are plain', () => {
    for (const br of ['br"0', 'br 0', 'br\n0', '-j ACCEPT'])
      for (const rule of [spec.stage1BridgeIsolated, spec.iccDrop, spec.internalOut, spec.internalIn])
        expect(() => rule(br)).toThrow(UnsafeTextError);
    expect(spec.iccDrop('cni0')).toBe(
      '-i cni0 -o cni0 -m comment --comment "CNI firewall plugin rules (ingressPolicy: isolated)" -j DROP',
    );
  });
  it('quotes comments: a quote or backslash in a name is escaped, never ends the word', () => {
    const a = { networkName: 'pod"man', containerId: 'c0\\ffee', ifName: 'eth0' } as Attachment;
    golden('hostile-masquerade-setup', renderMasqSetup(a, [{ address: '10.88.0.2', subnet: '10.88.0.0/16' }], 4));
  });
  it('conditions: each element one argument, quoted when it must be', () => {
    golden(
      'hostile-port-forwarding-conditions',
      renderPortmapSetup(plan(4, { conditionsV4: ['-m', 'comment', '--comment', 'say "hi" \\ -j ACCEPT'] }), ''),
    );
  });
  it('refuses what cannot be written: control characters, bad chain names, non-canonical addresses', () => {
    const bad: Array<Partial<PortForwardRequest>> = [
      { conditionsV4: ['-s 10.0.0.0/8\n-A INPUT -j ACCEPT'] },
      { externalSetMarkChain: 'MARK\n-A' },
      { externalSetMarkChain: '-j' },
      { containers: [{ address: '10.88.0.2 -j ACCEPT', prefix: 16, family: 4 }] },
      { mappings: [{ hostPort: 80, containerPort: 80, protocol: 'tcp', hostIP: '1.2.3.4 -j' }] },
    ];
    for (const over of bad) expect(() => renderPortmapSetup(plan(4, over), '')).toThrow(UnsafeTextError);
    const empty = ':FORWARD ACCEPT [0:0]';
    for (const c of [
      change({ accept: ['10.88.0.2'], adminChain: 'ADMIN -j ACCEPT' }),
      change({ isolate: ['br"0'] }),
      change({ isolate: ['-br0'] }),
      change({ accept: ['10.88.0.2/8'] }),
    ])
      expect(() => renderForwardingChange(c, 4, empty)).toThrow(UnsafeTextError);
  });
});
