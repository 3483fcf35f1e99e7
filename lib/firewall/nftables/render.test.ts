/** Golden text of every `nft -f` transaction lib/firewall renders (`make golden` rewrites them). */
import { describe, expect, it } from '@jest/globals';
import { expectGolden, visibleBytes } from '../../testutil/golden';
import type { PortForwardRequest } from '../types';
import {
  forwardingChange as change,
  goldenAttachment as ctr,
  portForwardRequest as request,
} from '../../testutil/firewall-requests';
import { renderNftMasqDelete, renderNftMasqSetup } from './masquerade';
import { deleteLine, nftPlanOf, parseElements, renderElements, renderSkeleton } from './port-forwarding';
import { parseListing, renderSpoofcheckSetup, renderSpoofcheckTeardown, spoofRef } from './spoofcheck';
import { hostileAttachment, hostileIfNames, spoofListing } from '../../testutil/firewall-requests';
import { UnsafeTextError } from '../text';
import { renderForwardingSetup, renderForwardingTeardown } from './container-forwarding';

const golden = (name: string, lines: readonly string[]): void =>
  expectGolden(__dirname, name, visibleBytes(lines.join('\n')));

describe('nftables masquerade', () => {
  it('sets up both families in one transaction, replacing stale rules', () => {
    golden(
      'masquerade-setup',
      renderNftMasqSetup(
        ctr,
        [
          { address: '10.88.0.2', subnet: '10.88.0.0/16' },
          { address: 'fd00:88::2', subnet: 'fd00:88::/64' },
        ],
        [7],
      ),
    );
  });
  it('deletes rules by handle', () => {
    golden('masquerade-teardown', renderNftMasqDelete([7, 9]));
  });
});

const elements = (over: Partial<PortForwardRequest> = {}): string[] => {
  const req = request(over);
  return req.containers.flatMap((c) => renderElements(nftPlanOf(req, c)));
};

describe('nftables port forwarding', () => {
  it('renders the fixed skeleton', () => {
    golden('port-forwarding-skeleton', renderSkeleton());
  });
  it('renders one container’s elements, both families', () => {
    golden('port-forwarding-elements', elements());
  });
  it('renders masqAll and no-snat variants', () => {
    golden('port-forwarding-elements-masqall', elements({ masqAll: true }));
    golden('port-forwarding-elements-nosnat', elements({ snat: false }));
  });
  it('deletes the elements read back from the table', () => {
    const listing = JSON.stringify({
      nftables: [
        {
          map: {
            name: 'anyports4',
            type: ['inet_proto', 'inet_service'],
            elem: [
              [
                { elem: { val: { concat: ['tcp', 8080] }, comment: 'n=podman;c=c0ffee;i=eth0' } },
                { concat: ['10.88.0.2', 80] },
              ],
            ],
          },
        },
        {
          set: {
            name: 'hairpin4',
            type: ['ipv4_addr', 'ipv4_addr'],
            elem: [{ elem: { val: { concat: ['10.88.0.2', '10.88.0.2'] }, comment: 'n=podman;c=c0ffee;i=eth0' } }],
          },
        },
      ],
    });
    golden('port-forwarding-teardown', parseElements(listing).map(deleteLine));
  });
});

describe('nftables MAC spoof check', () => {
  const ref = spoofRef('c0ffee', 'eth0');
  it('sets up the bridge-family chains (nft JSON)', () => {
    golden('spoofcheck-setup', [renderSpoofcheckSetup(ref, 'veth0a1b2c3d', '0a:58:0a:58:00:02')]);
  });
  it('tears down the attachment’s rule and chains from a listing, by handle', () => {
    golden(
      'spoofcheck-teardown',
      renderSpoofcheckTeardown(parseListing(spoofListing(ref)), (r) => r === ref),
    );
  });
});

describe('nftables container forwarding (firewall plugin)', () => {
  it('sets up both families and isolation in one transaction with no read', () => {
    golden(
      'forwarding-setup',
      renderForwardingSetup(change({ accept: ['10.88.0.2', 'fd00:88::2'], isolate: ['cni-podman0'] })),
    );
  });
  it('a repeated ADD drops its old address and bridge safely (added, then deleted)', () => {
    golden(
      'forwarding-setup-replacing',
      renderForwardingSetup(
        change({ accept: ['10.88.0.4'], forget: ['10.88.0.2'], isolate: ['br2'], unisolate: ['br1'] }),
      ),
    );
  });
  it('sets up an isolated bridge (icc=false) and an internal one', () => {
    golden(
      'forwarding-setup-isolated-internal',
      renderForwardingSetup(
        change({ accept: ['10.88.1.2', '10.88.2.2'], isolate: ['br-iso'], noIcc: ['br-iso'], internal: ['br-int'] }),
      ),
    );
  });
  it('tears down only the elements the table holds', () => {
    const listing = JSON.stringify({
      nftables: [
        {
          set: {
            name: 'containers4',
            type: 'ipv4_addr',
            elem: [{ elem: { val: '10.88.0.2', comment: 'n=podman;c=c0ffee;i=eth0' } }],
          },
        },
        { set: { name: 'containers6', type: 'ipv6_addr', elem: [] } },
        { set: { name: 'isolated', type: 'ifname', elem: ['cni-podman0'] } },
        { set: { name: 'samebridge', type: ['ifname', 'ifname'], elem: [{ concat: ['cni-podman0', 'cni-podman0'] }] } },
      ],
    });
    golden(
      'forwarding-teardown',
      renderForwardingTeardown(
        change({ forget: ['10.88.0.2', 'fd00:88::2'], unisolate: ['cni-podman0'] }),
        parseElements(listing),
      ),
    );
  });
});

describe('nftables renderers given hostile names', () => {
  const attachments = hostileIfNames.map(hostileAttachment);
  it('masquerade: the reference’s comment, quotes dropped, every other byte kept', () => {
    golden(
      'hostile-masquerade-setup',
      attachments.flatMap((a) =>
        renderNftMasqSetup(a, [{ address: '10.88.0.2', subnet: '10.88.0.0/16' }], []).slice(-1),
      ),
    );
  });
  it('port forwarding: owner comments that cannot be written plainly are hashed', () => {
    const req = (a: (typeof attachments)[number]): PortForwardRequest => request({ attachment: a });
    golden(
      'hostile-port-forwarding-elements',
      attachments.flatMap((a) => req(a).containers.flatMap((c) => renderElements(nftPlanOf(req(a), c)))),
    );
  });
  it('MAC spoof check: names go into nft JSON as escaped strings, bytes that are not UTF-8 as U+FFFD', () => {
    golden(
      'hostile-spoofcheck-setup',
      attachments.map((a) =>
        renderSpoofcheckSetup(spoofRef(a.containerId, a.ifName), 'veth0a1b2c3d', '0a:58:0a:58:00:02'),
      ),
    );
  });
  it('container forwarding: owner comments hashed, a bridge name that cannot be quoted refused', () => {
    golden(
      'hostile-forwarding-setup',
      attachments.flatMap((owner) => renderForwardingSetup(change({ accept: ['10.88.0.2'], owner })).slice(-1)),
    );
    for (const br of ['br"0', 'br\n0', 'br\\0', 'bré'])
      expect(() => renderForwardingSetup(change({ accept: ['10.88.0.2'], isolate: [br] }))).toThrow(UnsafeTextError);
    // main's isolated (icc=false) and internal networks, and teardown of all of them: the same function quotes the name
    for (const br of ['br"0', 'br\n0', 'br\\0', 'bré']) {
      expect(() => renderForwardingSetup(change({ accept: ['10.88.0.2'], noIcc: [br] }))).toThrow(UnsafeTextError);
      expect(() => renderForwardingSetup(change({ accept: ['10.88.0.2'], internal: [br] }))).toThrow(UnsafeTextError);
      expect(() => renderForwardingSetup(change({ accept: ['10.88.0.2'], unisolate: [br] }))).toThrow(UnsafeTextError);
    }
  });
  it('addresses must be canonical', () => {
    for (const address of ['10.88.0.2 }', '10.88.0.02', '10.88.0.2\n']) {
      expect(() => renderNftMasqSetup(ctr, [{ address, subnet: '10.88.0.0/16' }], [])).toThrow(UnsafeTextError);
      expect(() => renderForwardingSetup(change({ accept: [address] }))).toThrow(UnsafeTextError);
    }
  });
  it('elements read back whose key has no safe form are left out (never deleted by text)', () => {
    const listing = JSON.stringify({
      nftables: [
        { set: { name: 'isolated', type: 'ifname', elem: ['ok0', 'x" }', 'y\n'] } },
        { set: { name: 'containers4', type: 'ipv4_addr', elem: ['10.0.0.1', '10.0.0.1 }'] } },
      ],
    });
    expect(parseElements(listing).map((e) => e.key)).toEqual(['"ok0"', '10.0.0.1']);
  });
});
