/** Golden text of every `nft -f` transaction lib/firewall renders (`make golden` rewrites them). */
import { describe, it } from '@jest/globals';
import { expectGolden } from '../../testutil/golden';
import type { PortForwardRequest } from '../types';
import {
  forwardingChange as change,
  goldenAttachment as ctr,
  portForwardRequest as request,
} from '../../testutil/firewall-requests';
import { renderNftMasqDelete, renderNftMasqSetup } from './masquerade';
import { deleteLine, nftPlanOf, parseElements, renderElements, renderSkeleton } from './port-forwarding';
import { renderSpoofcheckSetup, renderSpoofcheckTeardown, spoofRef } from './spoofcheck';
import { renderForwardingSetup, renderForwardingTeardown } from './container-forwarding';

const golden = (name: string, lines: readonly string[]): void => expectGolden(__dirname, name, lines.join('\n'));

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
  it('sets up the bridge-family chains', () => {
    golden('spoofcheck-setup', renderSpoofcheckSetup(ref, 'veth0a1b2c3d', '0a:58:0a:58:00:02'));
  });
  it('tears down the attachment’s rule and chains from a listing', () => {
    const listing = [
      'table bridge nat { # handle 3',
      '\tchain PREROUTING { # handle 1',
      '\t\ttype filter hook prerouting priority -300; policy accept;',
      `\t\tiifname "veth0a1b2c3d" jump cni-br-iface-${ref} comment "macspoofchk-${ref}" # handle 6`,
      '\t\tiifname "veth9" jump cni-br-iface-other-eth0 comment "macspoofchk-other-eth0" # handle 9',
      '\t}',
      `\tchain cni-br-iface-${ref} { # handle 2`,
      `\t\tjump cni-br-iface-${ref}-mac comment "macspoofchk-${ref}" # handle 4`,
      '\t}',
      `\tchain cni-br-iface-${ref}-mac { # handle 3`,
      `\t\tether saddr 0a:58:0a:58:00:02 return comment "macspoofchk-${ref}" # handle 5`,
      '\t}',
      '}',
    ].join('\n');
    golden(
      'spoofcheck-teardown',
      renderSpoofcheckTeardown(listing, (r) => r === ref),
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
        { set: { name: 'containers4', elem: [{ elem: { val: '10.88.0.2', comment: 'n=podman;c=c0ffee;i=eth0' } }] } },
        { set: { name: 'containers6', elem: [] } },
        { set: { name: 'isolated', elem: ['cni-podman0'] } },
        { set: { name: 'samebridge', elem: [{ concat: ['cni-podman0', 'cni-podman0'] }] } },
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
