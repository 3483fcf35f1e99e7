/** Rtnl and the request/reply protocol over the recording fake: requests sent, acks, errors, dumps. */
import { describe as group, expect, it } from '@jest/globals';
import { encodeIfAddr, encodeIfInfo, encodeMessage, parseMessages, type NlMessage } from './message';
import {
  AF_INET,
  IFA_LOCAL,
  NLMSG_DONE,
  NLM_F_ACK,
  NLM_F_ACK_TLVS,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  NLMSGERR_ATTR_MSG,
  RTM_NEWADDR,
  RTM_NEWLINK,
} from './constants';
import { RecordingSocket, reply, type CannedMessage, type Responder } from './fake';
import { attr, encodeAttrs } from './message';
import { Rtnl } from './rtnl';
import { DUMP_ATTEMPTS, NetlinkError, NetlinkSocket, isErrno, openNetlink } from './socket';
import { inNetns } from '../sys/netns';

const linkMsg = (index: number, name: string): CannedMessage => ({
  type: RTM_NEWLINK,
  payload: new Uint8Array([...encodeIfInfo({ index }), ...encodeAttrs([attr.str(3, name), attr.u32(4, 1500)])]),
});
const addrMsg = (index: number, ip: number[], len: number): CannedMessage => ({
  type: RTM_NEWADDR,
  payload: new Uint8Array([
    ...encodeIfAddr({ family: AF_INET, prefixLen: len, index }),
    ...encodeAttrs([attr.bytes(IFA_LOCAL, Uint8Array.from(ip))]),
  ]),
});

function fake(...responders: Responder[]): { sock: RecordingSocket; rtnl: Rtnl } {
  const sock = new RecordingSocket().respond(...responders);
  return { sock, rtnl: new Rtnl(sock) };
}

const caught = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
};

group('Rtnl requests', () => {
  it('sends one described request per call, with REQUEST|ACK and fresh sequence numbers', () => {
    const { sock, rtnl } = fake();
    rtnl.createBridge({ name: 'br0', mtu: 1400 });
    rtnl.createVeth({ name: 'veth1', peerName: 'eth0', peerNetnsFd: 7 });
    rtnl.createMacvlan({ name: 'mv0', parentIndex: 2, mode: 'vepa' });
    rtnl.createIpvlan({ name: 'ipv0', parentIndex: 2, mode: 'l3' });
    rtnl.createVlan({ name: 'vl0', parentIndex: 2, id: 7 });
    rtnl.setUp(5);
    rtnl.setDown(5);
    rtnl.setMtu(5, 1400);
    rtnl.setMac(5, '02:00:00:00:00:01');
    rtnl.setMaster(5, 2);
    rtnl.setMaster(5, null);
    rtnl.setNetns(5, 9);
    rtnl.setName(5, 'eth9');
    rtnl.setPromisc(5, true);
    rtnl.setAllmulti(5, true);
    rtnl.setTxqlen(5, 0);
    rtnl.setBridgePort(5, { hairpin: true, isolated: false });
    rtnl.deleteLink(5);
    rtnl.addAddr(5, '10.0.0.2/24');
    rtnl.addAddr(5, 'fd00::2/64', { nodad: true });
    rtnl.deleteAddr(5, '10.0.0.2/24');
    rtnl.addRoute({ dst: 'default', gateway: '10.0.0.1' });
    rtnl.replaceRoute({ dst: '10.1.0.0/16', oif: 5, metric: 10 });
    rtnl.deleteRoute({ dst: '10.1.0.0/16' });
    expect(sock.requests).toEqual([
      'RTM_NEWLINK create excl bridge name=br0 mtu=1400',
      'RTM_NEWLINK create excl veth name=veth1 peer(name=eth0 netns=fd:7)',
      'RTM_NEWLINK create excl macvlan name=mv0 link=2 mode=vepa',
      'RTM_NEWLINK create excl ipvlan name=ipv0 link=2 mode=l3',
      'RTM_NEWLINK create excl vlan name=vl0 link=2 id=7',
      'RTM_SETLINK index=5 up',
      'RTM_SETLINK index=5 down',
      'RTM_SETLINK index=5 mtu=1400',
      'RTM_SETLINK index=5 mac=02:00:00:00:00:01',
      'RTM_SETLINK index=5 master=2',
      'RTM_SETLINK index=5 nomaster',
      'RTM_SETLINK index=5 netns=fd:9',
      'RTM_SETLINK index=5 name=eth9',
      'RTM_SETLINK index=5 promisc=on',
      'RTM_SETLINK index=5 allmulti=on',
      'RTM_SETLINK index=5 txqlen=0',
      'RTM_SETLINK family=bridge index=5 protinfo(hairpin=on isolated=off)',
      'RTM_DELLINK index=5',
      'RTM_NEWADDR create excl index=5 10.0.0.2/24 brd=10.0.0.255',
      'RTM_NEWADDR create excl index=5 fd00::2/64 nodad',
      'RTM_DELADDR index=5 10.0.0.2/24',
      'RTM_NEWROUTE create excl 0.0.0.0/0 via=10.0.0.1 table=main proto=boot scope=universe type=unicast',
      'RTM_NEWROUTE create replace 10.1.0.0/16 oif=5 metric=10 table=main proto=boot scope=link type=unicast',
      'RTM_DELROUTE 10.1.0.0/16 table=main scope=nowhere',
    ]);
    const sent = sock.sent.map((b) => parseMessages(b)[0] as NlMessage);
    expect(sent.every((m) => (m.flags & (NLM_F_REQUEST | NLM_F_ACK)) === (NLM_F_REQUEST | NLM_F_ACK))).toBe(true);
    expect(new Set(sent.map((m) => m.seq)).size).toBe(sent.length);
  });

  it('looks a link up by name and by index', () => {
    const { sock, rtnl } = fake(reply.messages(linkMsg(4, 'eth0')), reply.messages(linkMsg(4, 'eth0')));
    expect(rtnl.linkByName('eth0')).toMatchObject({ index: 4, name: 'eth0', mtu: 1500 });
    expect(rtnl.linkByIndex(4)?.name).toBe('eth0');
    expect(sock.requests).toEqual(['RTM_GETLINK name=eth0', 'RTM_GETLINK index=4']);
  });

  it('answers undefined for a missing link but throws other lookup errors', () => {
    const { rtnl } = fake(reply.error('ENODEV'), reply.error('ENODEV'), reply.error('EPERM'));
    expect(rtnl.linkByName('nope')).toBeUndefined();
    expect(rtnl.linkByIndex(99)).toBeUndefined();
    expect(caught(() => rtnl.linkByName('x'))).toMatchObject({ errno: 'EPERM' });
  });

  it('lists links and addresses from dumps spread over several datagrams, filtering by link', () => {
    const { sock, rtnl } = fake(
      reply.dump([linkMsg(1, 'lo'), linkMsg(2, 'eth0'), linkMsg(3, 'eth1')]),
      reply.dump([addrMsg(1, [127, 0, 0, 1], 8), addrMsg(2, [10, 0, 0, 2], 24)]),
    );
    expect(rtnl.links().map((l) => l.name)).toEqual(['lo', 'eth0', 'eth1']);
    expect(rtnl.addrs({ family: 4, index: 2 }).map((a) => a.cidr)).toEqual(['10.0.0.2/24']);
    expect(sock.requests).toEqual(['RTM_GETLINK dump', 'RTM_GETADDR dump family=inet index=2']);
    const dumpFlags = parseMessages(sock.sent[0] ?? new Uint8Array())[0]?.flags ?? 0;
    expect(dumpFlags & NLM_F_DUMP).toBe(NLM_F_DUMP);
  });

  it('closes the socket it was given', () => {
    const { sock, rtnl } = fake();
    rtnl.close();
    expect(sock.closed).toBe(true);
  });
});

group('errors', () => {
  it('throws a NetlinkError carrying errno name, number, request and kernel text', () => {
    const { rtnl } = fake(reply.error('EEXIST', 'ipv4: Address already assigned'));
    const e = caught(() => rtnl.addAddr(3, '10.0.0.2/24'));
    expect(e).toBeInstanceOf(NetlinkError);
    expect(isErrno(e, 'EEXIST')).toBe(true);
    expect(isErrno(e, 'ENODEV')).toBe(false);
    expect(e).toMatchObject({
      name: 'NetlinkError',
      errno: 'EEXIST',
      code: 17,
      request: 'netlink RTM_NEWADDR create excl index=3 10.0.0.2/24 brd=10.0.0.255',
      extack: 'ipv4: Address already assigned',
      message:
        'netlink RTM_NEWADDR create excl index=3 10.0.0.2/24 brd=10.0.0.255: File exists (EEXIST): ipv4: Address already assigned',
    });
  });

  it('reads without extended ack as the bare errno', () => {
    const { rtnl } = fake(reply.error('ESRCH'));
    const e = caught(() => rtnl.deleteRoute({ dst: '10.9.0.0/16' }));
    expect(e).toMatchObject({
      errno: 'ESRCH',
      message: 'netlink RTM_DELROUTE 10.9.0.0/16 table=main scope=nowhere: No such process (ESRCH)',
    });
    expect((e as NetlinkError).extack).toBeUndefined();
  });

  it('names errno numbers outside its table', () => {
    expect(new NetlinkError(133, 'op').message).toBe('op: errno 133 (E133)');
  });

  it('ignores replies to other sequence numbers (a stale reply left on the socket)', () => {
    const stale: Responder = (req) => [
      encodeMessage({ type: RTM_NEWLINK, flags: 0, seq: req.seq - 1 }, encodeIfInfo({ index: 66 })),
      ...reply.messages(linkMsg(4, 'eth0'))(req),
    ];
    const { rtnl } = fake(stale);
    expect(rtnl.linkByName('eth0')?.index).toBe(4);
  });

  it('throws when a dump ends with an error in NLMSG_DONE', () => {
    const failedDump: Responder = (req) => {
      const payload = new Uint8Array([
        ...[0xf0, 0xff, 0xff, 0xff], // -16: EBUSY
        ...encodeAttrs([attr.str(NLMSGERR_ATTR_MSG, 'busy dumping')]),
      ]);
      return [encodeMessage({ type: NLMSG_DONE, flags: NLM_F_ACK_TLVS | 2, seq: req.seq }, payload)];
    };
    const { rtnl } = fake(failedDump);
    expect(caught(() => rtnl.links())).toMatchObject({ errno: 'EBUSY', extack: 'busy dumping' });
  });

  it('throws when a dump is answered by NLMSG_ERROR', () => {
    const { rtnl } = fake(reply.error('EINVAL', 'Invalid values in header for link dump request'));
    expect(caught(() => rtnl.links())).toMatchObject({ errno: 'EINVAL' });
  });
});

group('interrupted dumps (NLM_F_DUMP_INTR)', () => {
  it('throws the interrupted dump away and restarts it', () => {
    const { sock, rtnl } = fake(
      reply.dump([linkMsg(1, 'lo'), linkMsg(2, 'half')], { interrupted: true }),
      reply.dump([linkMsg(1, 'lo')], { interrupted: true }),
      reply.dump([linkMsg(1, 'lo'), linkMsg(2, 'eth0')]),
    );
    expect(rtnl.links().map((l) => l.name)).toEqual(['lo', 'eth0']);
    expect(sock.requests).toEqual(['RTM_GETLINK dump', 'RTM_GETLINK dump', 'RTM_GETLINK dump']);
  });

  it(`gives up with EINTR after ${DUMP_ATTEMPTS} interrupted attempts`, () => {
    const intr = reply.dump([linkMsg(1, 'lo')], { interrupted: true });
    const { sock, rtnl } = fake(...Array.from({ length: DUMP_ATTEMPTS }, () => intr), reply.dump([linkMsg(1, 'lo')]));
    const e = caught(() => rtnl.links());
    expect(e).toMatchObject({ errno: 'EINTR', extack: `dump interrupted ${DUMP_ATTEMPTS} times in a row` });
    expect(sock.requests).toHaveLength(DUMP_ATTEMPTS);
  });
});

group('tracing and runtime', () => {
  it('traces each request line before sending it', () => {
    const lines: string[] = [];
    const nl = new NetlinkSocket(new RecordingSocket(), { trace: (l) => lines.push(l) });
    new Rtnl(nl).setUp(3);
    expect(lines).toEqual(['RTM_SETLINK index=3 up']);
  });

  it('refuses the FFI transport and the netns switch under Node with a clear error', () => {
    expect(() => openNetlink()).toThrow(/need the Bun runtime/);
    expect(() => Rtnl.open()).toThrow(/need the Bun runtime/);
    expect(() => inNetns('/run/netns/x', () => 1)).toThrow(/need the Bun runtime/);
  });

  it('reports a fake waiting for a reply that was never queued', () => {
    const sock = new RecordingSocket();
    expect(() => sock.recv()).toThrow(/nothing queued/);
  });
});
