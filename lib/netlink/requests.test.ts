/** Every request kind, pinned as golden describe-lines (decoded back from the bytes) and a few golden byte strings. */
import { describe as group, expect, it } from '@jest/globals';
import { delAddr, dumpAddrs, newAddr } from './addrs';
import { NLM_F_ACK, NLM_F_REQUEST, RTPROT_STATIC, RT_SCOPE_HOST } from './constants';
import { describe } from './describe';
import {
  delLink,
  dumpLinks,
  getLinkByIndex,
  getLinkByName,
  newBridge,
  newDummy,
  newIpvlan,
  newMacvlan,
  newVeth,
  newVlan,
  newVrf,
  newVxlan,
  setBridgePort,
  setLink,
} from './links';
import { encodeMessage, type Request } from './message';
import { delFdb, delNeighbour, dumpFdb, dumpNeighbours, replaceFdb, replaceNeighbour } from './neigh';
import { delRoute, dumpRoutes, newRoute } from './routes';
import { delRule, dumpRules, newRule } from './rules';

const bytesOf = (r: Request, seq = 1): Uint8Array =>
  encodeMessage({ type: r.type, flags: r.flags | NLM_F_REQUEST | NLM_F_ACK, seq }, r.header, r.attrs);
const line = (r: Request): string => describe(bytesOf(r));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

group('link requests', () => {
  it.each<[string, Request]>([
    ['RTM_NEWLINK create excl bridge name=br0', newBridge({ name: 'br0' })],
    [
      'RTM_NEWLINK create excl bridge name=cni0 mtu=1450 mac=02:00:00:00:00:01 txqlen=500',
      newBridge({ name: 'cni0', mtu: 1450, mac: '02:00:00:00:00:01', txqlen: 500 }),
    ],
    [
      'RTM_NEWLINK create excl veth name=veth1234 mtu=1500 peer(name=eth0 mtu=1500 netns=fd:7)',
      newVeth({ name: 'veth1234', peerName: 'eth0', mtu: 1500, peerNetnsFd: 7 }),
    ],
    [
      'RTM_NEWLINK create excl veth name=v0 mac=02:00:00:00:00:0a peer(name=eth0 mtu=9000 mac=02:00:00:00:00:0b)',
      newVeth({ name: 'v0', peerName: 'eth0', mac: '02:00:00:00:00:0a', peerMac: '02:00:00:00:00:0b', peerMtu: 9000 }),
    ],
    [
      'RTM_NEWLINK create excl macvlan name=mv0 mtu=1400 netns=fd:9 link=4 mode=bridge',
      newMacvlan({ name: 'mv0', parentIndex: 4, mtu: 1400, netnsFd: 9 }),
    ],
    [
      'RTM_NEWLINK create excl macvlan name=mv1 link=4 mode=passthru',
      newMacvlan({ name: 'mv1', parentIndex: 4, mode: 'passthru' }),
    ],
    [
      'RTM_NEWLINK create excl ipvlan name=ipv0 netns=fd:9 link=4 mode=l3s',
      newIpvlan({ name: 'ipv0', parentIndex: 4, mode: 'l3s', netnsFd: 9 }),
    ],
    ['RTM_NEWLINK create excl ipvlan name=ipv1 link=4 mode=l2', newIpvlan({ name: 'ipv1', parentIndex: 4 })],
    [
      'RTM_NEWLINK create excl vlan name=eth0.100 link=2 id=100',
      newVlan({ name: 'eth0.100', parentIndex: 2, id: 100 }),
    ],
    [
      'RTM_NEWLINK create excl vlan name=eth0 mtu=1400 netns=fd:9 link=2 id=0',
      newVlan({ name: 'eth0', parentIndex: 2, id: 0, mtu: 1400, netnsFd: 9 }),
    ],
    ['RTM_NEWLINK create excl dummy name=dummy0', newDummy({ name: 'dummy0' })],
    ['RTM_NEWLINK create excl vrf name=blue table=4294967295', newVrf({ name: 'blue', table: 4294967295 })],
    [
      'RTM_NEWLINK create excl macvlan name=mv2 link=4 mode=vepa bcqueuelen=100',
      newMacvlan({ name: 'mv2', parentIndex: 4, mode: 'vepa', bcQueueLen: 100 }),
    ],
    [
      'RTM_NEWLINK create excl vxlan name=tscni.vxlan mtu=1450 mac=0a:00:00:00:00:01 vni=1 local=172.18.0.11 dev=2 dstport=4789 nolearning',
      newVxlan({
        name: 'tscni.vxlan',
        mtu: 1450,
        mac: '0a:00:00:00:00:01',
        vni: 1,
        local: '172.18.0.11',
        parentIndex: 2,
        port: 4789,
      }),
    ],
    [
      'RTM_NEWLINK create excl vxlan name=vx6 vni=16777215 local=fd00::b dstport=8472 learning',
      newVxlan({ name: 'vx6', vni: 0xffffff, local: 'fd00::b', port: 8472, learning: true }),
    ],
    ['RTM_SETLINK index=5 up', setLink(5, { up: true })],
    ['RTM_SETLINK index=7 up alias="tscni: a b"', setLink(7, { up: true, alias: 'tscni: a b' })],
    ['RTM_SETLINK index=7 alias=""', setLink(7, { alias: '' })],
    ['RTM_SETLINK index=5 down', setLink(5, { up: false })],
    ['RTM_SETLINK index=5 mtu=9000', setLink(5, { mtu: 9000 })],
    ['RTM_SETLINK index=5 mac=0a:58:0a:f4:00:01', setLink(5, { mac: '0A:58:0A:F4:00:01' })],
    ['RTM_SETLINK index=5 master=3', setLink(5, { masterIndex: 3 })],
    ['RTM_SETLINK index=5 nomaster', setLink(5, { masterIndex: null })],
    ['RTM_SETLINK index=5 netns=fd:11', setLink(5, { netnsFd: 11 })],
    ['RTM_SETLINK index=5 name=eth1', setLink(5, { name: 'eth1' })],
    ['RTM_SETLINK index=5 promisc=on', setLink(5, { promisc: true })],
    ['RTM_SETLINK index=5 allmulti=off', setLink(5, { allmulti: false })],
    ['RTM_SETLINK index=5 txqlen=0', setLink(5, { txqlen: 0 })],
    [
      'RTM_SETLINK index=5 up promisc=off name=x mtu=1400 master=2',
      setLink(5, { up: true, promisc: false, name: 'x', mtu: 1400, masterIndex: 2 }),
    ],
    ['RTM_SETLINK family=bridge index=5 protinfo(hairpin=on)', setBridgePort(5, { hairpin: true })],
    [
      'RTM_SETLINK family=bridge index=5 protinfo(hairpin=off learning=off isolated=on)',
      setBridgePort(5, { hairpin: false, isolated: true, learning: false }),
    ],
    ['RTM_DELLINK index=5', delLink(5)],
    ['RTM_GETLINK name=eth0', getLinkByName('eth0')],
    ['RTM_GETLINK index=7', getLinkByIndex(7)],
    ['RTM_GETLINK dump', dumpLinks()],
  ])('%s', (expected, req) => {
    expect(line(req)).toBe(expected);
  });

  it('puts the peer ifinfomsg and its attributes inside VETH_INFO_PEER (golden bytes)', () => {
    const b = bytesOf(newVeth({ name: 'v1', peerName: 'eth0', peerNetnsFd: 7 }));
    expect(hex(b)).toBe(
      [
        '64000000 1000 0506 01000000 00000000', // len 100, RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE
        '00000000 00000000 00000000 00000000', // ifinfomsg
        '0700 0300 76310000', // IFLA_IFNAME "v1"
        '3c00 1200', // IFLA_LINKINFO (60)
        '0900 0100 7665746800 000000', //   IFLA_INFO_KIND "veth"
        '2c00 0200', //   IFLA_INFO_DATA (44)
        '2800 0100', //     VETH_INFO_PEER (40) = ifinfomsg + attributes
        '00000000 00000000 00000000 00000000',
        '0900 0300 6574683000 000000', //       IFLA_IFNAME "eth0"
        '0800 1c00 07000000', //       IFLA_NET_NS_FD 7
      ]
        .join('')
        .replace(/\s+/g, ''),
    );
  });

  it('marks IFLA_PROTINFO as nested, or the bridge would read it as a bare STP state', () => {
    const b = bytesOf(setBridgePort(3, { hairpin: true, isolated: false }));
    // ifinfomsg family AF_BRIDGE, index 3; then IFLA_PROTINFO|NLA_F_NESTED { BRPORT_MODE=1, BRPORT_ISOLATED=0 }
    expect(hex(b.subarray(16))).toBe(
      '07000000030000000000000000000000' + '1400 0c80 0500 0400 01000000 0500 2100 00000000'.replace(/\s+/g, ''),
    );
  });

  it('sends the vxlan UDP port in network byte order', () => {
    const b = bytesOf(newVxlan({ name: 'vx', vni: 7, port: 4789 }));
    // IFLA_VXLAN_PORT (15), 2 bytes: 0x12b5 = 4789, big-endian.
    expect(hex(b)).toContain('06000f0012b50000');
  });

  it('refuses a malformed MAC before anything is sent', () => {
    expect(() => setLink(1, { mac: '02:00:00:00:00' })).toThrow(/not a MAC address/);
  });
});

group('address requests', () => {
  it.each<[string, Request]>([
    ['RTM_NEWADDR create excl index=5 10.0.0.2/24 brd=10.0.0.255', newAddr(5, '10.0.0.2/24')],
    ['RTM_NEWADDR create excl index=5 10.0.0.2/31', newAddr(5, '10.0.0.2/31')],
    ['RTM_NEWADDR create excl index=5 10.0.0.2/24', newAddr(5, '10.0.0.2/24', { broadcast: false })],
    ['RTM_NEWADDR create excl index=5 fd00::2/64 nodad', newAddr(5, 'fd00::2/64', { nodad: true })],
    [
      'RTM_NEWADDR create replace index=5 fd00::2/64 nodad noprefixroute',
      newAddr(5, 'fd00::2/64', { nodad: true, noprefixroute: true, replace: true }),
    ],
    [
      'RTM_NEWADDR create excl index=1 127.0.0.2/8 brd=127.255.255.255 scope=host',
      newAddr(1, '127.0.0.2/8', { scope: RT_SCOPE_HOST }),
    ],
    ['RTM_DELADDR index=5 10.0.0.2/24', delAddr(5, '10.0.0.2/24')],
    ['RTM_DELADDR index=5 fd00::2/64', delAddr(5, 'fd00::2/64')],
    ['RTM_GETADDR dump', dumpAddrs()],
    ['RTM_GETADDR dump family=inet6 index=3', dumpAddrs(6, 3)],
  ])('%s', (expected, req) => {
    expect(line(req)).toBe(expected);
  });

  it('sends IFA_FLAGS for flags above the 8-bit header field', () => {
    const b = bytesOf(newAddr(2, 'fd00::1/64', { noprefixroute: true }));
    expect(hex(b)).toContain('0800080000020000'); // IFA_FLAGS = IFA_F_NOPREFIXROUTE (0x200)
  });

  it('refuses addresses that are not CIDRs', () => {
    expect(() => newAddr(1, '10.0.0.1')).toThrow(/not a CIDR/);
    expect(() => newAddr(1, '10.0.0.1/33')).toThrow(/out of range/);
    expect(() => newAddr(1, '010.0.0.1/8')).toThrow(/not an IP/);
  });
});

group('route requests', () => {
  it.each<[string, Request]>([
    [
      'RTM_NEWROUTE create excl 0.0.0.0/0 via=10.0.0.1 oif=5 table=main proto=boot scope=universe type=unicast',
      newRoute({ dst: 'default', gateway: '10.0.0.1', oif: 5 }),
    ],
    [
      'RTM_NEWROUTE create excl ::/0 via=fd00::1 table=main proto=boot scope=universe type=unicast',
      newRoute({ dst: 'default', gateway: 'fd00::1' }),
    ],
    [
      'RTM_NEWROUTE create excl 10.1.0.0/16 oif=5 table=main proto=boot scope=link type=unicast',
      newRoute({ dst: '10.1.0.0/16', oif: 5 }),
    ],
    [
      'RTM_NEWROUTE create replace 10.2.0.0/16 via=10.0.0.1 src=10.0.0.2 metric=100 table=1000 proto=static scope=universe type=unicast',
      newRoute(
        { dst: '10.2.0.0/16', gateway: '10.0.0.1', src: '10.0.0.2', metric: 100, table: 1000, protocol: RTPROT_STATIC },
        { replace: true },
      ),
    ],
    [
      'RTM_NEWROUTE create excl fd00:1::/64 via=fe80::1 oif=3 table=main proto=boot scope=universe type=unicast',
      newRoute({ dst: 'fd00:1::/64', gateway: 'fe80::1', oif: 3 }),
    ],
    ['RTM_DELROUTE 0.0.0.0/0 via=10.0.0.1 table=main scope=nowhere', delRoute({ dst: 'default', gateway: '10.0.0.1' })],
    ['RTM_DELROUTE 10.1.0.0/16 oif=5 table=main scope=nowhere', delRoute({ dst: '10.1.0.0/16', oif: 5 })],
    ['RTM_GETROUTE dump family=inet', dumpRoutes(4)],
    ['RTM_GETROUTE dump', dumpRoutes()],
  ])('%s', (expected, req) => {
    expect(line(req)).toBe(expected);
  });

  it('marks an on-link gateway (RTNH_F_ONLINK in rtm_flags)', () => {
    expect(line(newRoute({ dst: '10.244.2.0/24', gateway: '10.244.2.0', oif: 9, onlink: true, protocol: 116 }))).toBe(
      'RTM_NEWROUTE create excl 10.244.2.0/24 via=10.244.2.0 oif=9 table=main proto=116 scope=universe type=unicast onlink',
    );
    expect(hex(bytesOf(newRoute({ dst: '10.0.0.0/8', gateway: '10.0.0.1', onlink: true })).subarray(24, 28))).toBe(
      '04000000',
    );
  });

  it('refuses a gateway of the other family', () => {
    expect(() => newRoute({ dst: '10.0.0.0/8', gateway: 'fd00::1' })).toThrow(/gateway fd00::1 is not IPv4/);
  });
});

group('rule requests', () => {
  it.each<[string, Request]>([
    ['RTM_NEWRULE create excl from=10.1.1.5/32 lookup table=100', newRule({ src: '10.1.1.5/32', table: 100 })],
    ['RTM_NEWRULE create excl from=fd00::5/128 lookup table=4000', newRule({ src: 'fd00::5/128', table: 4000 })],
    [
      'RTM_DELRULE from=10.1.1.5/32 pref=32765 lookup table=100',
      delRule({ src: '10.1.1.5/32', table: 100, priority: 32765 }),
    ],
    ['RTM_NEWRULE create excl family=inet6 lookup table=main', newRule({ family: 6, table: 254 })],
    ['RTM_GETRULE dump family=unspec', dumpRules()],
    ['RTM_GETRULE dump family=inet', dumpRules(4)],
  ])('%s', (expected, req) => {
    expect(line(req)).toBe(expected);
  });

  it('puts an 8-bit table in the header and every table in FRA_TABLE (golden bytes)', () => {
    const b = bytesOf(newRule({ src: '10.1.1.5/32', table: 100 }));
    expect(hex(b)).toBe(
      [
        '2c000000 2000 0506 01000000 00000000', // len 44, RTM_NEWRULE, REQUEST|ACK|EXCL|CREATE
        '02 00 20 00 64 00 00 01 00000000', // fib_rule_hdr: inet, src_len 32, table 100, action to_tbl
        '0800 0200 0a010105', // FRA_SRC
        '0800 0f00 64000000', // FRA_TABLE
      ]
        .join('')
        .replace(/\s+/g, ''),
    );
    expect(hex(bytesOf(newRule({ src: '10.1.1.5/32', table: 300 }))).slice(32 + 8, 32 + 10)).toBe('00');
  });

  it('refuses a rule without a family or with two', () => {
    expect(() => newRule({ table: 100 })).toThrow(/no family/);
    expect(() => newRule({ src: '10.0.0.1/32', dst: 'fd00::/64' })).toThrow(/mixes address families/);
  });
});

group('neighbour and FDB requests', () => {
  it.each<[string, Request]>([
    [
      'RTM_NEWNEIGH create replace family=inet index=9 10.244.2.0 lladdr=0a:00:00:00:00:02 permanent',
      replaceNeighbour(9, '10.244.2.0', '0a:00:00:00:00:02'),
    ],
    [
      'RTM_NEWNEIGH create replace family=inet6 index=9 fd00:10:244:2:: lladdr=0a:00:00:00:00:02 permanent',
      replaceNeighbour(9, 'fd00:10:244:2::', '0A:00:00:00:00:02'),
    ],
    ['RTM_DELNEIGH family=inet index=9 10.244.2.0', delNeighbour(9, '10.244.2.0')],
    ['RTM_GETNEIGH dump family=inet6', dumpNeighbours(6)],
    ['RTM_GETNEIGH dump family=inet index=9', dumpNeighbours(4, 9)],
    [
      'RTM_NEWNEIGH create replace fdb index=9 0a:00:00:00:00:02 dst=172.19.0.13 permanent self',
      replaceFdb(9, '0a:00:00:00:00:02', '172.19.0.13'),
    ],
    [
      'RTM_NEWNEIGH create replace fdb index=9 0a:00:00:00:00:02 dst=fc00::13 permanent self',
      replaceFdb(9, '0a:00:00:00:00:02', 'fc00::13'),
    ],
    ['RTM_DELNEIGH fdb index=9 0a:00:00:00:00:02 self', delFdb(9, '0a:00:00:00:00:02')],
    ['RTM_DELNEIGH fdb index=9 0a:00:00:00:00:02 dst=172.19.0.13 self', delFdb(9, '0a:00:00:00:00:02', '172.19.0.13')],
    ['RTM_GETNEIGH dump fdb index=9', dumpFdb(9)],
  ])('%s', (expected, req) => {
    expect(line(req)).toBe(expected);
  });

  it('lays out the ndmsg header: family, ifindex, state, flags, type (golden bytes)', () => {
    const b = bytesOf(replaceFdb(9, '0a:00:00:00:00:02', '172.19.0.13'));
    // AF_BRIDGE, pad, pad16, ifindex 9, NUD_PERMANENT, NTF_SELF, type 0
    expect(hex(b.subarray(16, 28))).toBe('070000000900000080000200');
  });
});
