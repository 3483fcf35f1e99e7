/** loopback's kernel work on a recording netlink socket: requests, results per version, CHECK. */
import { describe, expect, it } from '@jest/globals';
import { toWire } from '../../lib/cni/result/encode';
import { IFF_LOOPBACK, IFF_UP } from '../../lib/netlink/constants';
import { RecordingSocket, reply } from '../../lib/netlink/fake';
import { Rtnl } from '../../lib/netlink';
import { addrMessage } from '../../lib/testutil/netlink-replies';
import { cannedLink } from '../../lib/netlink/fake';
import { bringDownLoopback, bringUpLoopback, checkLoopback, loopbackResult } from './loopback';

const lo = (up: boolean): ReturnType<typeof cannedLink> =>
  cannedLink({ index: 1, name: 'lo', mtu: 65536, mac: '00:00:00:00:00:00', flags: IFF_LOOPBACK | (up ? IFF_UP : 0) });

function fake(...responders: Parameters<RecordingSocket['respond']>): { sock: RecordingSocket; rtnl: Rtnl } {
  const sock = new RecordingSocket().respond(...responders);
  return { sock, rtnl: new Rtnl(sock) };
}

describe('loopback ADD', () => {
  it('sets lo up and reads back one address per family', () => {
    const { sock, rtnl } = fake(
      reply.messages(lo(false)),
      reply.ack(),
      reply.dump([addrMessage(1, '127.0.0.1/8')]),
      reply.dump([addrMessage(1, '::1/128')]),
    );
    expect(bringUpLoopback(rtnl)).toEqual({ v4: '127.0.0.1/8', v6: '::1/128' });
    expect(sock.requests).toEqual([
      'RTM_GETLINK name=lo',
      'RTM_SETLINK index=1 up',
      'RTM_GETADDR dump family=inet index=1',
      'RTM_GETADDR dump family=inet6 index=1',
    ]);
  });

  it('works without IPv6 (no ::1)', () => {
    const { rtnl } = fake(reply.messages(lo(false)), reply.ack(), reply.dump([addrMessage(1, '127.0.0.1/8')]));
    expect(bringUpLoopback(rtnl)).toEqual({ v4: '127.0.0.1/8' });
  });

  it('refuses a loopback interface with a non-loopback address, as the reference does', () => {
    const { rtnl } = fake(
      reply.messages(lo(false)),
      reply.ack(),
      reply.dump([addrMessage(1, '127.0.0.1/8'), addrMessage(1, '10.1.2.3/32')]),
    );
    expect(() => bringUpLoopback(rtnl)).toThrow('loopback interface found with non-loopback address "10.1.2.3"');
  });

  it('reports the kernel refusing the change', () => {
    const { rtnl } = fake(reply.messages(lo(false)), reply.error('EPERM'));
    expect(() => bringUpLoopback(rtnl)).toThrow(/RTM_SETLINK index=1 up: Operation not permitted/);
  });
});

describe('loopback result in every version family', () => {
  const r = loopbackResult('1.1.0', '/run/netns/x', { v4: '127.0.0.1/8', v6: '::1/128' });
  it('1.x: lo with the all-zero MAC and both addresses on interface 0', () => {
    expect(toWire(r, '1.0.0')).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: '/run/netns/x' }],
      ips: [
        { interface: 0, address: '127.0.0.1/8' },
        { interface: 0, address: '::1/128' },
      ],
    });
  });
  it('0.3/0.4: ips carry their version', () => {
    expect(toWire(r, '0.3.1')['ips']).toEqual([
      { version: '4', interface: 0, address: '127.0.0.1/8' },
      { version: '6', interface: 0, address: '::1/128' },
    ]);
  });
  it('0.1/0.2: ip4 and ip6', () => {
    expect(toWire(r, '0.1.0')).toEqual({
      cniVersion: '0.1.0',
      ip4: { ip: '127.0.0.1/8' },
      ip6: { ip: '::1/128' },
      dns: {},
    });
  });
});

describe('loopback DEL and CHECK', () => {
  it('DEL sets lo down', () => {
    const { sock, rtnl } = fake(reply.messages(lo(true)));
    bringDownLoopback(rtnl);
    expect(sock.requests).toEqual(['RTM_GETLINK name=lo', 'RTM_SETLINK index=1 down']);
  });

  it('CHECK fails when lo is down', () => {
    const { rtnl } = fake(reply.messages(lo(false)));
    expect(() => checkLoopback(rtnl, '/run/netns/x', undefined)).toThrow('loopback interface is down');
  });

  it('CHECK looks for the addresses its own result gave lo, and only those', () => {
    const prev = loopbackResult('1.0.0', '/run/netns/x', { v4: '127.0.0.1/8', v6: '::1/128' });
    const present = fake(
      reply.messages(lo(true)),
      reply.dump([addrMessage(1, '127.0.0.1/8'), addrMessage(1, '::1/128')]),
    );
    expect(() => checkLoopback(present.rtnl, '/run/netns/x', prev)).not.toThrow();
    const gone = fake(reply.messages(lo(true)), reply.dump([addrMessage(1, '127.0.0.1/8')]));
    expect(() => checkLoopback(gone.rtnl, '/run/netns/x', prev)).toThrow('loopback address ::1/128 is missing from lo');
    // A chained prevResult describes another interface: nothing to look for on lo.
    const chained = fake(reply.messages(lo(true)));
    const other = {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0' }],
      ips: [{ interface: 0, address: '10.0.0.2/24' }],
    };
    expect(() => checkLoopback(chained.rtnl, '/run/netns/x', other)).not.toThrow();
    expect(chained.sock.requests).toEqual(['RTM_GETLINK name=lo']);
  });
});
