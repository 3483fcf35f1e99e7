/** The dnsmasq configuration of a network's resolver (golden files; `make golden` rewrites them). */
import { describe, expect, it } from '@jest/globals';
import { expectGolden } from '../testutil/golden';
import { renderDnsmasqConf, renderUpstreams } from './dnsmasq';

const golden = (name: string, text: string): void => expectGolden(__dirname, name, text);
const DIR = '/run/containers/cni/dnsname/podman1';

describe('renderDnsmasqConf', () => {
  it('a network with a domain that forwards other names', () => {
    golden(
      'dnsmasq-forward',
      renderDnsmasqConf({ dir: DIR, bridge: 'cni-podman1', domain: 'dns.podman', forward: true }),
    );
  });
  it('an internal network: no upstreams', () => {
    golden(
      'dnsmasq-internal',
      renderDnsmasqConf({ dir: DIR, bridge: 'cni-podman2', domain: 'dns.podman', forward: false }),
    );
  });
  it('no domain: names bare only, no local= line', () => {
    golden('dnsmasq-no-domain', renderDnsmasqConf({ dir: DIR, bridge: 'cni-podman1', domain: '', forward: true }));
  });
  it("holds every line of containers/dnsname's file, in its order", () => {
    // The reference's template (containers/dnsname 1.3.1), filled in for the same network.
    const reference = [
      'strict-order',
      'local=/dns.podman/',
      'domain=dns.podman',
      'expand-hosts',
      `pid-file=${DIR}/pidfile`,
      'except-interface=lo',
      'bind-dynamic',
      'no-hosts',
      'interface=cni-podman1',
      `addn-hosts=${DIR}/addnhosts`,
    ];
    const lines = renderDnsmasqConf({ dir: DIR, bridge: 'cni-podman1', domain: 'dns.podman', forward: true }).split(
      '\n',
    );
    const at = reference.map((l) => lines.indexOf(l));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
  });
});

describe('renderUpstreams', () => {
  it('one nameserver line each, nothing for none', () => {
    expect(renderUpstreams(['192.0.2.53', '2001:db8::53'])).toBe('nameserver 192.0.2.53\nnameserver 2001:db8::53\n');
    expect(renderUpstreams([])).toBe('');
  });
});
