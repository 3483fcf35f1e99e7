/** The requests both firewall backends' golden tests render, so the two sets of goldens describe the same input. */
import type { ForwardingChange, ForwardingExpectation, PortForwardRequest } from '../firewall/types';
import type { Attachment } from '../cni/invocation';
import type { IfName } from '../cni/names';
import { testAttachment } from './invocation';

export const goldenAttachment = testAttachment('podman', 'c0ffee', 'eth0');

/**
 * Interface names Linux accepts and the CNI name check lets through, each of which broke nft
 * text before lib/firewall/text.ts: the first closes the comment, adds 6.6.6.6 to the set and
 * comments out the rest of the line; the last is not UTF-8 (a byte 0xff).
 */
export const hostileIfNames = ['",6.6.6.6}#', 'e"x;{}$\\', '\udcff\udcfe0'] as const;
export const hostileAttachment = (ifName: string): Attachment => ({ ...goldenAttachment, ifName: ifName as IfName });

/** Dual-stack container, every kind of mapping (any host IP, a v4 host IP, a v6 host IP, udp). */
export const portForwardRequest = (over: Partial<PortForwardRequest> = {}): PortForwardRequest => ({
  attachment: goldenAttachment,
  containers: [
    { address: '10.88.0.2', prefix: 16, family: 4 },
    { address: 'fd00:88::2', prefix: 64, family: 6 },
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

/** A firewall-plugin change that does nothing until a test fills in what it accepts, forgets or isolates. */
export const forwardingChange = (over: Partial<ForwardingChange> = {}): ForwardingChange => ({
  accept: [],
  forget: [],
  isolate: [],
  unisolate: [],
  families: [4, 6],
  adminChain: 'CNI-ADMIN',
  owner: goldenAttachment,
  ...over,
});

/**
 * `nft -j list table bridge nat` as it lists the MAC spoof check of each ref given (handles
 * counting up from 2), for the teardown golden tests.
 */
export function spoofListing(...refs: string[]): string {
  const objs: unknown[] = [{ table: { family: 'bridge', name: 'nat', handle: 1 } }];
  let h = 1;
  objs.push({ chain: { family: 'bridge', table: 'nat', name: 'PREROUTING', handle: h++ } });
  refs.forEach((ref, i) => {
    const iface = `cni-br-iface-${ref}`;
    const comment = `macspoofchk-${ref}`;
    const rule = (chain: string, expr: unknown[]): unknown => ({
      rule: { family: 'bridge', table: 'nat', chain, handle: h++, expr, comment },
    });
    objs.push(
      { chain: { family: 'bridge', table: 'nat', name: iface, handle: h++ } },
      { chain: { family: 'bridge', table: 'nat', name: `${iface}-mac`, handle: h++ } },
      rule('PREROUTING', [
        { match: { op: '==', left: { meta: { key: 'iifname' } }, right: `veth${i}` } },
        { jump: { target: iface } },
      ]),
      rule(iface, [{ jump: { target: `${iface}-mac` } }]),
      rule(`${iface}-mac`, [{ drop: null }]),
    );
  });
  return JSON.stringify({ nftables: objs });
}

/**
 * The rules the snapshot tests read back (lib/firewall/snapshot.*.test.ts): two attachments of
 * one network on both backends — A dual-stack with every kind of mapping and a MAC spoof check,
 * B with one address and one port — both on an isolated bridge.
 */
export const snapshotRules = (() => {
  const a = goldenAttachment;
  const b: Attachment = { ...goldenAttachment, containerId: 'beef' as Attachment['containerId'] };
  return {
    a,
    b,
    masq: {
      a: [
        { address: '10.88.0.2', subnet: '10.88.0.0/16' },
        { address: 'fd00:88::2', subnet: 'fd00:88::/64' },
      ],
      b: [{ address: '10.88.0.3', subnet: '10.88.0.0/16' }],
    },
    ports: {
      a: portForwardRequest(),
      b: portForwardRequest({
        attachment: b,
        containers: [{ address: '10.88.0.3', prefix: 16, family: 4 }],
        mappings: [{ hostPort: 8081, containerPort: 80, protocol: 'tcp', hostIP: '' }],
      }),
    },
    forwarding: {
      a: { accept: ['10.88.0.2', 'fd00:88::2'], isolate: ['cni0'], families: [4, 6], adminChain: 'CNI-ADMIN' },
      b: { accept: ['10.88.0.3'], isolate: ['cni0'], families: [4], adminChain: 'CNI-ADMIN' },
    } satisfies Record<string, ForwardingExpectation>,
    spoof: { ref: `${a.containerId}-${a.ifName}`, hostVeth: 'vethc0ffee', mac: '0a:58:0a:58:00:02' },
  };
})();
