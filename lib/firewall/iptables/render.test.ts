/** Golden text of every iptables-restore transaction lib/firewall renders (`make golden` rewrites them). */
import { describe, it } from '@jest/globals';
import { expectGolden } from '../../testutil/golden';
import type { Attachment, PortForwardRequest } from '../types';
import { renderMasqSetup } from './masquerade';
import { dnChainName, planOf, renderPortmapSetup } from './port-forwarding';
import { renderChainRemoval } from './tables';
import { chainName } from '../names';

const golden = (name: string, text: string): void => expectGolden(__dirname, name, text);
const ctr: Attachment = { networkName: 'podman', containerId: 'c0ffee', ifName: 'eth0' };

describe('iptables masquerade', () => {
  it('sets up IPv4', () => {
    golden('masquerade-setup-v4', renderMasqSetup(ctr, [{ address: '10.88.0.2', subnet: '10.88.0.0/16' }], false));
  });
  it('sets up IPv6', () => {
    golden('masquerade-setup-v6', renderMasqSetup(ctr, [{ address: 'fd00:88::2', subnet: 'fd00:88::/64' }], true));
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

const request = (over: Partial<PortForwardRequest> = {}): PortForwardRequest => ({
  attachment: ctr,
  containers: [
    { address: '10.88.0.2', prefix: 16, six: false },
    { address: 'fd00:88::2', prefix: 64, six: true },
  ],
  mappings: [
    { hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '' },
    { hostPort: 8443, containerPort: 443, protocol: 'tcp', hostIP: '192.168.1.10' },
    { hostPort: 9443, containerPort: 443, protocol: 'tcp', hostIP: 'fd00:1::10' },
    { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '' },
  ],
  snat: true,
  masqAll: false,
  markMasqBit: 13,
  externalSetMarkChain: undefined,
  conditionsV4: [],
  conditionsV6: [],
  ...over,
});
const plan = (six: boolean, over: Partial<PortForwardRequest> = {}): ReturnType<typeof planOf> => {
  const req = request(over);
  const c = req.containers.find((x) => x.six === six);
  if (!c) throw new Error('no container address');
  return planOf(req, c);
};

describe('iptables port forwarding', () => {
  it('sets up IPv4 on a host without the shared chains', () => {
    golden('port-forwarding-setup-v4', renderPortmapSetup(plan(false), ''));
  });
  it('sets up IPv6 on a host without the shared chains', () => {
    golden('port-forwarding-setup-v6', renderPortmapSetup(plan(true), ''));
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
      `-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"podman\\" id: \\"c0ffee\\"" -m multiport --destination-ports 7000 -j ${dn}`,
      'COMMIT',
    ].join('\n');
    golden('port-forwarding-setup-v4-again', renderPortmapSetup(plan(false), save));
  });
  it('masqAll, no snat of localhost, conditions and an external mark chain', () => {
    golden(
      'port-forwarding-setup-v4-options',
      renderPortmapSetup(
        plan(false, {
          masqAll: true,
          externalSetMarkChain: 'KUBE-MARK-MASQ',
          conditionsV4: ['! -s 10.0.0.0/8'],
        }),
        '',
      ),
    );
  });
  it('without snat renders only DNAT rules', () => {
    golden('port-forwarding-setup-v6-nosnat', renderPortmapSetup(plan(true, { snat: false, markMasqBit: 5 }), ''));
  });
  it('splits more than 15 ports of one protocol over several entry rules', () => {
    const mappings = Array.from({ length: 17 }, (_, i) => ({
      hostPort: 10000 + i,
      containerPort: 80,
      protocol: 'tcp' as const,
      hostIP: '',
    }));
    golden('port-forwarding-setup-v4-many', renderPortmapSetup(plan(false, { mappings }), ''));
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
