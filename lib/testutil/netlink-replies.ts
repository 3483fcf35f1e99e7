/**
 * Kernel replies for unit tests of plugins that talk netlink through a RecordingSocket (test-only
 * module): a link as RTM_NEWLINK, an address as RTM_NEWADDR, built with the library's encoders.
 */
import {
  AF_INET,
  AF_INET6,
  IFA_ADDRESS,
  IFA_LOCAL,
  IFLA_ADDRESS,
  IFLA_IFNAME,
  IFLA_MTU,
  IFLA_TXQLEN,
  RTM_NEWADDR,
  RTM_NEWLINK,
} from '../netlink/constants';
import type { CannedMessage } from '../netlink/fake';
import { parseIp, parseMac } from '../netlink/inet';
import { attr, encodeAttrs, encodeIfAddr, encodeIfInfo } from '../netlink/message';

export interface CannedLink {
  index: number;
  name: string;
  mtu?: number;
  mac?: string;
  txqlen?: number;
  /** IFF_* bits. */
  flags?: number;
}

export function linkMessage(l: CannedLink): CannedMessage {
  const attrs = [attr.str(IFLA_IFNAME, l.name), attr.u32(IFLA_MTU, l.mtu ?? 1500)];
  if (l.mac) attrs.push(attr.bytes(IFLA_ADDRESS, parseMac(l.mac)));
  if (l.txqlen !== undefined) attrs.push(attr.u32(IFLA_TXQLEN, l.txqlen));
  return {
    type: RTM_NEWLINK,
    payload: new Uint8Array([...encodeIfInfo({ index: l.index, flags: l.flags ?? 0 }), ...encodeAttrs(attrs)]),
  };
}

/** An address `ip/prefix` on link `index`. */
export function addrMessage(index: number, cidr: string): CannedMessage {
  const [ip = '', prefix = '0'] = cidr.split('/');
  const { family, bytes } = parseIp(ip);
  return {
    type: RTM_NEWADDR,
    payload: new Uint8Array([
      ...encodeIfAddr({ family: family === 4 ? AF_INET : AF_INET6, prefixLen: Number(prefix), index }),
      ...encodeAttrs([attr.bytes(IFA_LOCAL, bytes), attr.bytes(IFA_ADDRESS, bytes)]),
    ]),
  };
}
