/**
 * The one nf_tables request tscni sends itself (NFT_MSG_GETTABLE), pinned byte for byte, and the
 * kernel's answers to it, captured on Linux 6.18 with the FFI socket in a throwaway namespace
 * (`nldriver '[{"op":"captureNftTable","args":["inet","tscni_hostport"]}]'`, see testdriver.ts),
 * before and after `nft add table inet tscni_hostport`, replayed through the recording fake.
 */
import { describe, expect, it } from '@jest/globals';
import { NLM_F_ACK, NLM_F_REQUEST } from './constants';
import { describe as describeRequest } from './describe';
import { RecordingSocket, reply } from './fake';
import { encodeMessage } from './message';
import { getTableRequest, nftTableExists } from './nftables';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));

/** NFT_MSG_NEWTABLE (name, flags 0, use 0, handle, owner-less), then the ack. */
const TABLE_PRESENT = [
  hex(
    '44000000000a000001000000124f000001000002130001007473636e695f686f7374706f7274000008000300000000000c00040000000000000000010800020000000000',
  ),
  hex('240000000200000101000000124f00000000000028000000010a05000100000000000000'),
];
/** NLMSG_ERROR -ENOENT, capped, with the extended ack's offset of the name attribute. */
const TABLE_ABSENT = [hex('2c0000000200000301000000014f0000feffffff28000000010a050001000000000000000800020014000000')];

const socketWith = (...answer: ReturnType<typeof reply.raw>[]): RecordingSocket =>
  new RecordingSocket().respond(...answer);

describe('nftables over netlink', () => {
  it('asks for one table by family and name', () => {
    const r = getTableRequest('inet', 'tscni_hostport');
    const bytes = encodeMessage(
      { type: r.type, flags: r.flags | NLM_F_REQUEST | NLM_F_ACK, seq: 1 },
      r.header,
      r.attrs,
    );
    // nlmsghdr (len 40, type 0x0a01 = NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETTABLE, flags 0x5, seq 1),
    // nfgenmsg (NFPROTO_INET, version 0, res_id 0), NFTA_TABLE_NAME "tscni_hostport\0" padded to 4.
    expect(Buffer.from(bytes).toString('hex')).toBe(
      '28000000010a05000100000000000000' + '01000000' + '130001007473636e695f686f7374706f727400' + '00',
    );
    expect(describeRequest(bytes)).toBe('NFT_MSG_GETTABLE family=inet name=tscni_hostport');
  });

  it('reads the kernel reply with the table as present, and closes its socket', () => {
    const sock = socketWith(reply.raw(...TABLE_PRESENT));
    expect(nftTableExists('inet', 'tscni_hostport', () => sock)).toBe(true);
    expect(sock.requests).toEqual(['NFT_MSG_GETTABLE family=inet name=tscni_hostport']);
    expect(sock.closed).toBe(true);
  });

  it('reads ENOENT as absent', () => {
    const sock = socketWith(reply.raw(...TABLE_ABSENT));
    expect(nftTableExists('inet', 'cni_plugins_masquerade', () => sock)).toBe(false);
    expect(sock.requests).toEqual(['NFT_MSG_GETTABLE family=inet name=cni_plugins_masquerade']);
    expect(sock.closed).toBe(true);
  });

  it('cannot tell on any other refusal, so the caller runs nft', () => {
    for (const errno of ['EPERM', 'EAFNOSUPPORT', 'EINVAL']) {
      const sock = socketWith(reply.error(errno));
      expect(nftTableExists('ip', 'x', () => sock)).toBeUndefined();
      expect(sock.closed).toBe(true);
    }
  });

  it('cannot tell when no socket opens (not under Bun, or socket() fails)', () => {
    expect(nftTableExists('inet', 'cni_plugins_masquerade')).toBeUndefined();
    expect(nftTableExists('inet', 'x', () => undefined)).toBeUndefined();
    expect(
      nftTableExists('inet', 'x', () => {
        throw new Error('socket(AF_NETLINK): Protocol not supported');
      }),
    ).toBeUndefined();
  });
});
