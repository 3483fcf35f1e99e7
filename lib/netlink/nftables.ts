/**
 * nf_tables over netlink (NETLINK_NETFILTER), for the one question a verb asks before deciding
 * to run `nft` at all: does this table exist? Teardown and GC look in the nftables backend on
 * every call (an attachment may have been set up under an earlier config), and on a host that
 * never used it the answer "no table" saves starting nft (~15-20 ms of CPU on the loaded test
 * machine, more than the rest of a bridge DEL's firewall work). Changes still go through one
 * `nft -f` transaction; this module only reads.
 */
import { NETLINK_NETFILTER, NFT_GETTABLE, NFTA_TABLE_NAME } from './constants';
import { attr, type Request } from './message';
import { isBun, isErrno, NetlinkSocket, type RawSocket } from './socket';
import { openRawSocket } from './ffi-socket';

export const NFPROTO = { inet: 1, ip: 2, ip6: 10 } as const;
export type NftFamily = keyof typeof NFPROTO;

/** NFT_MSG_GETTABLE for one table: nfgenmsg (family, version 0, res_id 0) and its name. */
export function getTableRequest(family: NftFamily, name: string): Request {
  return {
    type: NFT_GETTABLE,
    flags: 0,
    header: Uint8Array.of(NFPROTO[family], 0, 0, 0),
    attrs: [attr.str(NFTA_TABLE_NAME, name)],
  };
}

/** A NETLINK_NETFILTER socket in this namespace; undefined where there is none to open (not Bun). */
export type OpenNetfilter = () => RawSocket | undefined;

const openHere: OpenNetfilter = () => (isBun() ? openRawSocket(undefined, NETLINK_NETFILTER) : undefined);

/**
 * Whether the table exists in this network namespace; undefined when netlink cannot tell (no
 * socket, or the kernel answered with an error other than ENOENT, e.g. EPERM without
 * CAP_NET_ADMIN or an old kernel without the family), so the caller asks nft instead.
 */
export function nftTableExists(family: NftFamily, name: string, open: OpenNetfilter = openHere): boolean | undefined {
  let sock: NetlinkSocket | undefined;
  try {
    const raw = open();
    if (!raw) return undefined;
    sock = new NetlinkSocket(raw);
    sock.request(getTableRequest(family, name));
    return true;
  } catch (e) {
    return isErrno(e, 'ENOENT') ? false : undefined;
  } finally {
    sock?.close();
  }
}
