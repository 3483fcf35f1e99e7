/**
 * Kernel replies for unit tests of plugins that talk netlink through a RecordingSocket (test-only
 * module): an address as RTM_NEWADDR, built with the library's encoders (links: `cannedLink` in
 * lib/netlink/fake.ts).
 */
import { AF_INET, AF_INET6, IFA_ADDRESS, IFA_LOCAL, RTM_NEWADDR } from '../netlink/constants';
import type { CannedMessage } from '../netlink/fake';
import { parseIp } from '../netlink/inet';
import { attr, encodeAttrs, encodeIfAddr } from '../netlink/message';

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
