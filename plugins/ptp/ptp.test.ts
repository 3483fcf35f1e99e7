/**
 * ptp: the netlink requests that lay out its point-to-point addressing (golden lines over the
 * recording fake), the reference's layout observed on /usr/lib/cni/ptp.
 */
import { describe, expect, it } from '@jest/globals';
import { Rtnl } from '../../lib/netlink';
import { RecordingSocket, reply, type Responder } from '../../lib/netlink/fake';
import { hostSide, ptpAddresses, routeViaGateway } from './routes';

const fake = (...responders: Responder[]): { sock: RecordingSocket; rtnl: Rtnl } => {
  const sock = new RecordingSocket().respond(...responders);
  return { sock, rtnl: new Rtnl(sock) };
};
const ips = [
  { interface: 1, address: '10.244.1.2/24', gateway: '10.244.1.1' },
  { interface: 1, address: 'fd00:244:1::2/64', gateway: 'fd00:244:1::1' },
];

describe('ptp addressing', () => {
  it('every address needs a gateway of its family', () => {
    expect(ptpAddresses(ips)).toEqual([
      { ip: '10.244.1.2', subnet: '10.244.1.0/24', gateway: '10.244.1.1', hostBits: 32 },
      { ip: 'fd00:244:1::2', subnet: 'fd00:244:1::/64', gateway: 'fd00:244:1::1', hostBits: 128 },
    ]);
    expect(() => ptpAddresses([{ address: '10.0.0.2/24' }])).toThrow('ptp needs a gateway for 10.0.0.2/24');
    expect(() => ptpAddresses([{ address: '10.0.0.2/24', gateway: 'fd00::1' }])).toThrow('ptp needs a gateway');
  });

  it('container: the on-link prefix route becomes a /32 to the gateway and the prefix via it', () => {
    const { sock, rtnl } = fake();
    routeViaGateway(rtnl, 2, ptpAddresses(ips));
    expect(sock.requests).toEqual([
      'RTM_DELROUTE 10.244.1.0/24 oif=2 table=main scope=nowhere',
      'RTM_NEWROUTE create excl 10.244.1.1/32 oif=2 src=10.244.1.2 table=main proto=boot scope=link type=unicast',
      'RTM_NEWROUTE create excl 10.244.1.0/24 via=10.244.1.1 oif=2 src=10.244.1.2 table=main proto=boot scope=universe type=unicast',
      'RTM_DELROUTE fd00:244:1::/64 oif=2 table=main scope=nowhere',
      'RTM_NEWROUTE create excl fd00:244:1::1/128 oif=2 src=fd00:244:1::2 table=main proto=boot scope=link type=unicast',
      'RTM_NEWROUTE create excl fd00:244:1::/64 via=fd00:244:1::1 oif=2 src=fd00:244:1::2 table=main proto=boot scope=universe type=unicast',
    ]);
  });

  it('container: a prefix route already gone is fine', () => {
    const { rtnl } = fake(reply.error('ESRCH'));
    expect(() => routeViaGateway(rtnl, 2, ptpAddresses(ips.slice(0, 1)))).not.toThrow();
  });

  it('host: the gateway address on the veth and a host-scope route to the container', () => {
    const { sock, rtnl } = fake();
    hostSide(rtnl, 5, ptpAddresses(ips));
    expect(sock.requests).toEqual([
      'RTM_NEWADDR create excl index=5 10.244.1.1/32',
      'RTM_NEWROUTE create excl 10.244.1.2/32 oif=5 table=main proto=boot scope=host type=unicast',
      'RTM_NEWADDR create excl index=5 fd00:244:1::1/128',
      'RTM_NEWROUTE create excl fd00:244:1::2/128 oif=5 table=main proto=boot scope=host type=unicast',
    ]);
  });

  it('host: an address or route already there is fine, other refusals name the step', () => {
    const ok = fake(reply.error('EEXIST'), reply.error('EEXIST'));
    expect(() => hostSide(ok.rtnl, 5, ptpAddresses(ips.slice(0, 1)))).not.toThrow();
    const bad = fake(reply.error('EPERM'));
    expect(() => hostSide(bad.rtnl, 5, ptpAddresses(ips.slice(0, 1)))).toThrow(
      'failed to add IP addr 10.244.1.1/32 to veth',
    );
  });
});
