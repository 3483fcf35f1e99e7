/**
 * Traffic control over netlink: every tc request kind pinned as a describe-line (decoded back
 * from the bytes), the tbf and redirect-filter payloads byte for byte, and real kernel replies
 * decoded through the receive path. The replies were captured on Linux 6.18 with the FFI socket
 * (`nldriver '[{"op":"capture","args":["qdisc","2","4294967295"]}, ...]'`, see testdriver.ts) in
 * a throwaway namespace holding a veth (2, 3) and an ifb (4): on 2 a root tbf (8 Mbit/s, 10 kB
 * burst), the ingress qdisc, a u32 filter passing 10.78.0.0/24 and a match-all redirect to 4;
 * on 4 an htb root (default 1:30) with classes 1:1 and 1:30 and a bfifo leaf 30:.
 */
import { describe as group, expect, it } from '@jest/globals';
import {
  ETH_P_ALL,
  ETH_P_IP,
  NLM_F_ACK,
  NLM_F_REQUEST,
  TC_H_INGRESS,
  TC_H_INGRESS_HANDLE,
  TC_H_ROOT,
} from './constants';
import { describe } from './describe';
import { RecordingSocket, reply } from './fake';
import { newIfb } from './links';
import { encodeMessage, type Request } from './message';
import { Rtnl } from './rtnl';
import {
  delQdisc,
  dumpClasses,
  dumpFilters,
  dumpQdiscs,
  formatHandle,
  getQdisc,
  newHtbClass,
  newQdisc,
  newU32Filter,
  tcHandle,
  tickInUsec,
} from './tc';

const bytesOf = (r: Request, seq = 1): Uint8Array =>
  encodeMessage({ type: r.type, flags: r.flags | NLM_F_REQUEST | NLM_F_ACK, seq }, r.header, r.attrs);
const line = (r: Request): string => describe(bytesOf(r));
const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const hex = (...chunks: string[]): Uint8Array => Uint8Array.from(Buffer.from(chunks.join(''), 'hex'));

const TBF = { kind: 'tbf', rate: 1_000_000, buffer: 156_250, limit: 35_000 } as const;
const REDIRECT = { kind: 'mirred', direction: 'egress-redirect', ifindex: 4, verdict: 'stolen' } as const;

group('handles and ticks', () => {
  it('formats handles as tc does', () => {
    expect(formatHandle(tcHandle(1))).toBe('1:');
    expect(formatHandle(tcHandle(1, 0x30))).toBe('1:30');
    expect(formatHandle(TC_H_INGRESS_HANDLE)).toBe('ffff:');
    expect(formatHandle(TC_H_ROOT)).toBe('root');
    expect(formatHandle(TC_H_INGRESS)).toBe('ingress');
  });

  it('reads the tick length from /proc/net/psched', () => {
    expect(tickInUsec('000003e8 00000040 000f4240 3b9aca00\n')).toBe(15.625);
    expect(() => tickInUsec('garbage')).toThrow(/psched/);
  });
});

group('tc requests', () => {
  it.each<[string, Request]>([
    [
      'RTM_NEWQDISC create excl dev=7 parent=root handle=1: tbf rate=1000000 buffer=156250 limit=35000',
      newQdisc({ index: 7, handle: tcHandle(1), parent: TC_H_ROOT, options: TBF }),
    ],
    [
      'RTM_NEWQDISC create excl dev=7 parent=root handle=1: tbf rate=12500000000 buffer=1 limit=2',
      newQdisc({
        index: 7,
        handle: tcHandle(1),
        parent: TC_H_ROOT,
        options: { kind: 'tbf', rate: 12_500_000_000, buffer: 1, limit: 2 },
      }),
    ],
    [
      'RTM_NEWQDISC create excl dev=7 parent=ingress handle=ffff: ingress',
      newQdisc({ index: 7, handle: TC_H_INGRESS_HANDLE, parent: TC_H_INGRESS, options: { kind: 'ingress' } }),
    ],
    [
      'RTM_NEWQDISC create excl dev=7 parent=root handle=1: htb default=30 r2q=10',
      newQdisc({
        index: 7,
        handle: tcHandle(1),
        parent: TC_H_ROOT,
        options: { kind: 'htb', defaultClass: 0x30, rate2quantum: 10 },
      }),
    ],
    [
      'RTM_NEWQDISC create excl dev=7 parent=1:30 handle=30: bfifo limit=35000',
      newQdisc({
        index: 7,
        handle: tcHandle(0x30),
        parent: tcHandle(1, 0x30),
        options: { kind: 'bfifo', limit: 35000 },
      }),
    ],
    [
      'RTM_NEWTCLASS create excl dev=7 parent=1: classid=1:30 htb rate=1000000 ceil=1000000 buffer=156250 cbuffer=156250 quantum=65536',
      newHtbClass({
        index: 7,
        handle: tcHandle(1, 0x30),
        parent: tcHandle(1),
        rate: 1_000_000,
        ceil: 1_000_000,
        buffer: 156_250,
        cbuffer: 156_250,
        quantum: 65536,
      }),
    ],
    [
      'RTM_NEWTFILTER create excl dev=7 parent=ffff: prio=1 proto=all u32 match=00000000/00000000@0 classid=1:1 mirred(egress-redirect dev=4 stolen)',
      newU32Filter({
        index: 7,
        parent: TC_H_INGRESS_HANDLE,
        prio: 1,
        protocol: ETH_P_ALL,
        classid: tcHandle(1, 1),
        keys: [],
        actions: [REDIRECT],
      }),
    ],
    [
      'RTM_NEWTFILTER create excl dev=7 parent=1: prio=1 proto=ip u32 match=0a4e0000/ffffff00@12 classid=1:1',
      newU32Filter({
        index: 7,
        parent: tcHandle(1),
        prio: 1,
        protocol: ETH_P_IP,
        classid: tcHandle(1, 1),
        keys: [{ mask: 0xffffff00, value: 0x0a4e0000, offset: 12 }],
        actions: [],
      }),
    ],
    ['RTM_DELQDISC dev=7 parent=root handle=1:', delQdisc(7, TC_H_ROOT, tcHandle(1))],
    ['RTM_DELQDISC dev=7 parent=ingress handle=ffff:', delQdisc(7, TC_H_INGRESS, TC_H_INGRESS_HANDLE)],
    ['RTM_GETQDISC echo dev=7 parent=root', getQdisc(7, TC_H_ROOT)],
    ['RTM_GETQDISC dump', dumpQdiscs()],
    ['RTM_GETTCLASS dump dev=7', dumpClasses(7)],
    ['RTM_GETTFILTER dump dev=7 parent=ingress', dumpFilters(7, TC_H_INGRESS)],
    [
      'RTM_NEWLINK create excl ifb up name=bwp0123 mtu=1450 txqlen=0',
      newIfb({ name: 'bwp0123', mtu: 1450, txqlen: 0, up: true }),
    ],
  ])('%s', (want, req) => expect(line(req)).toBe(want));

  it('encodes a tbf as the kernel reads it: tc_tbf_qopt (rate, limit, buffer), no rate table', () => {
    expect(hexOf(bytesOf(newQdisc({ index: 7, handle: tcHandle(1), parent: TC_H_ROOT, options: TBF })))).toBe(
      '58000000240005060100000000000000' + // nlmsghdr: RTM_NEWQDISC, request|ack|excl|create
        '000000000700000000000100ffffffff00000000' + // tcmsg: dev 7, handle 1:, parent root
        '0800010074626600' + // TCA_KIND "tbf"
        '2c000200' + // TCA_OPTIONS
        '28000100' + // TCA_TBF_PARMS
        '000000000000000040420f00' + // rate: linklayer unaware, 1000000 bytes/s
        '000000000000000000000000' + // peakrate: none
        'b88800005a620200' + // limit 35000, buffer 156250
        '00000000', // mtu
    );
  });

  it('sends the redirect as one mirred action (egress redirect, stolen) under a terminal match-all', () => {
    const f = newU32Filter({
      index: 7,
      parent: TC_H_INGRESS_HANDLE,
      prio: 1,
      protocol: ETH_P_ALL,
      classid: tcHandle(1, 1),
      keys: [],
      actions: [REDIRECT],
    });
    const b = hexOf(bytesOf(f));
    expect(b.slice(32, 72)).toBe('00000000' + '07000000' + '00000000' + '0000ffff' + '00030100'); // tcmsg: info = prio 1 << 16 | ETH_P_ALL in network order
    expect(b).toContain('2400050001000100' + '00000000' + '00000000' + '0000000000000000'); // sel: terminal, 1 key, 0/0 at 0
    expect(b).toContain('2000020000000000000000000400000000000000000000000100000004000000'); // tc_mirred: stolen, egress redirect, dev 4
  });
});
const QDISC_TBF = [
  hex(
    'bc00000024000000010000009e129fcc000000000200000000000100ffffffff0300000008000100746266002c000200',
    '28000100000000000000000040420f00000000000000000000000000b88800005a6202000000000005000c0000000000',
    '300007001400010000000000000000000000000000000000180003000000000000000000000000000000000000000000',
    '2c00030000000000000000000000000000000000000000000000000000000000000000000000000000000000',
  ),
  hex('2400000002000001010000009e129fcc000000002400000026000d000100000000000000'),
];
const QDISC_INGRESS = [
  hex(
    '980000002400000001000000a783f2b200000000020000000000fffff1ffffff010000000c000100696e677265737300',
    '0400020005000c0000000000300007001400010000000000000000000000000000000000180003000000000000000000',
    '0000000000000000000000002c0003000000000000000000000000000000000000000000000000000000000000000000',
    '0000000000000000',
  ),
  hex('240000000200000101000000a783f2b2000000002400000026000d000100000000000000'),
];
const FILTER_DUMP = [
  hex(
    '340000002c00020001000000b87c6b9c0000000002000000000000000000ffff08000100080001007533320008000b00',
    '00000000400000002c00020001000000b87c6b9c0000000002000000000000800000ffff080001000800010075333200',
    '08000b00000000000c0002000800040001000000740000002c00020001000000b87c6b9c000000000200000000080080',
    '0000ffff08000100080001007533320008000b0000000000400002002400050001000100000000000000000000000000',
    'ffffff000a4e000010000000000000000800020000000080080001000100010008000b0008000000340000002c000200',
    '01000000b87c6b9c0000000002000000000000000000ffff00030300080001007533320008000b000000000040000000',
    '2c00020001000000b87c6b9c0000000002000000000010800000ffff00030300080001007533320008000b0000000000',
    '0c00020008000400010000001c0100002c00020001000000b87c6b9c0000000002000000000810800000ffff00030300',
    '080001007533320008000b0000000000e800020024000500010001000000000000000000000000000000000000000000',
    '00000000000000000800020000001080080001000100010008000b0008000000a8000700a40001000b0001006d697272',
    '656400004400040014000100000000000000000000000000000000001400070000000000000000000000000000000000',
    '18000300000000000000000000000000000000000000000008000a000000000048000200200002000100000000000000',
    '040000000100000001000000010000000400000024000100020000000000000002000000000000000000000000000000',
    '0000000000000000',
  ),
  hex('140000000300020001000000b87c6b9c00000000'),
];
const CLASS_DUMP = [
  hex(
    '0401000028000200010000009246a0bd000000000400000001000100ffffffff0000000008000100687462004c000200',
    '300001000000000000000000ffffffff0000000000000000ffffffff093d0000093d0000000001000000000000000000',
    '0c00060000e87648170000000c00070000e8764817000000480007001400010000000000000000000000000000000000',
    '18000300000000000000000000000000000000000000000018000400000000000000000000000000093d0000093d0000',
    '2c0003000000000000000000000000000000000000000000000000000000000000000000000000000000000018000400',
    '000000000000000000000000093d0000093d0000ec00000028000200010000009246a0bd000000000400000030000100',
    'ffffffff0000300008000100687462003400020030000100000000000000000040420f00000000000000000040420f00',
    '5a6202005a62020000000100000000000000000048000700140001000000000000000000000000000000000018000300',
    '0000000000000000000000000000000000000000180004000000000000000000000000005a6202005a6202002c000300',
    '000000000000000000000000000000000000000000000000000000000000000000000000000000001800040000000000',
    '00000000000000005a6202005a620200',
  ),
  hex('1400000003000200010000009246a0bd00000000'),
];
const QDISC_HTB = [
  hex(
    'b40000002400000001000000560bb0b4000000000400000000000100ffffffff02000000080001006874620024000200',
    '18000200110003000a000000300000000000000000000000080005002000000005000c00000000003000070014000100',
    '000000000000000000000000000000001800030000000000000000000000000000000000000000002c00030000000000',
    '000000000000000000000000000000000000000000000000000000000000000000000000',
  ),
  hex('240000000200000101000000560bb0b4000000002400000026000d000100000000000000'),
];
const QDISC_BFIFO = [
  hex(
    '9c00000024000000010000004f81f7d500000000040000000000300030000100010000000a000100626669666f000000',
    '08000200b888000005000c00000000003000070014000100000000000000000000000000000000001800030000000000',
    '000000000000000000000000000000002c00030000000000000000000000000000000000000000000000000000000000',
    '000000000000000000000000',
  ),
  hex('2400000002000001010000004f81f7d5000000002400000026000d000100000000000000'),
];
const QDISC_NONE = [
  hex(
    '580000000200000301000000b4d688c8feffffff2400000026000d0001000000000000003400010043616e6e6f742066',
    '696e6420737065636966696564207164697363206f6e207370656369666965642064657669636500',
  ),
];

group('kernel replies', () => {
  const rtnl = (...datagrams: Uint8Array[][]): Rtnl =>
    new Rtnl(new RecordingSocket().respond(...datagrams.map((d) => reply.raw(...d))));

  it('a tbf root qdisc', () => {
    expect(rtnl(QDISC_TBF).qdiscAt(2, TC_H_ROOT)).toEqual({
      index: 2,
      handle: tcHandle(1),
      parent: TC_H_ROOT,
      kind: 'tbf',
      tbf: { rate: 1_000_000, limit: 35_000, buffer: 156_250 },
    });
  });

  it('the ingress qdisc, and no ingress qdisc (EINVAL reads as none)', () => {
    const r = rtnl(QDISC_INGRESS, QDISC_NONE);
    expect(r.qdiscAt(2, TC_H_INGRESS)).toEqual({
      index: 2,
      handle: TC_H_INGRESS_HANDLE,
      parent: TC_H_INGRESS,
      kind: 'ingress',
    });
    expect(r.qdiscAt(3, TC_H_INGRESS)).toBeUndefined();
  });

  it('an htb root and its bfifo leaf', () => {
    const r = rtnl(QDISC_HTB, QDISC_BFIFO);
    expect(r.qdiscAt(4, TC_H_ROOT)).toMatchObject({ kind: 'htb', htb: { defaultClass: 0x30, rate2quantum: 10 } });
    expect(r.qdiscAt(4, tcHandle(1, 0x30))).toMatchObject({
      kind: 'bfifo',
      handle: tcHandle(0x30),
      parent: tcHandle(1, 0x30),
      fifoLimit: 35_000,
    });
  });

  it('htb classes, rates above 4 GB/s from the 64-bit attribute', () => {
    const classes = rtnl(CLASS_DUMP).classes(4);
    expect(classes.map((c) => [formatHandle(c.handle), formatHandle(c.parent), c.htb])).toEqual([
      ['1:1', 'root', { rate: 100_000_000_000, ceil: 100_000_000_000, buffer: 15625, cbuffer: 15625, quantum: 65536 }],
      ['1:30', 'root', { rate: 1_000_000, ceil: 1_000_000, buffer: 156_250, cbuffer: 156_250, quantum: 65536 }],
    ]);
  });

  it('u32 filters: the per-prio heads and hash tables, then key nodes with class and actions', () => {
    const nodes = rtnl(FILTER_DUMP)
      .filters(2, TC_H_INGRESS)
      .filter((f) => f.u32?.keys);
    expect(nodes).toEqual([
      {
        index: 2,
        handle: 0x80000800,
        parent: TC_H_INGRESS_HANDLE,
        prio: 1,
        protocol: ETH_P_IP,
        kind: 'u32',
        chain: 0,
        u32: {
          keys: [{ mask: 0xffffff00, value: 0x0a4e0000, offset: 16 }],
          terminal: true,
          classid: tcHandle(1, 1),
          actions: [],
        },
      },
      {
        index: 2,
        handle: 0x80100800,
        parent: TC_H_INGRESS_HANDLE,
        prio: 3,
        protocol: ETH_P_ALL,
        kind: 'u32',
        chain: 0,
        u32: {
          keys: [{ mask: 0, value: 0, offset: 0 }],
          terminal: true,
          classid: tcHandle(1, 1),
          actions: [{ kind: 'mirred', mirred: { direction: 'egress-redirect', ifindex: 4, verdict: 'stolen' } }],
        },
      },
    ]);
  });
});
