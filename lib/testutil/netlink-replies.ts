/**
 * Kernel replies for unit tests of plugins that talk netlink through a RecordingSocket (test-only
 * module): addresses, routes and rules as the kernel's RTM_NEW* messages, built with the library's
 * encoders (links: `cannedLink` in lib/netlink/fake.ts).
 */
import {
  AF_INET,
  AF_INET6,
  IFA_ADDRESS,
  IFA_FLAGS,
  IFA_LOCAL,
  RTM_NEWADDR,
  RTM_NEWROUTE,
  RTM_NEWRULE,
} from '../netlink/constants';
import type { CannedMessage } from '../netlink/fake';
import { parseIp } from '../netlink/inet';
import { attr, encodeAttrs, encodeIfAddr, type AttrSpec, type Request } from '../netlink/message';
import { newRoute, type RouteSpec } from '../netlink/routes';
import { newRule, type RuleSpec } from '../netlink/rules';

/** An address `ip/prefix` on link `index` (scope and IFA_F_* flags when given). */
export function addrMessage(index: number, cidr: string, o: { scope?: number; flags?: number } = {}): CannedMessage {
  const [ip = '', prefix = '0'] = cidr.split('/');
  const { family, bytes } = parseIp(ip);
  const attrs: AttrSpec[] = [attr.bytes(IFA_LOCAL, bytes), attr.bytes(IFA_ADDRESS, bytes)];
  if (o.flags !== undefined) attrs.push(attr.u32(IFA_FLAGS, o.flags));
  const header = { family: family === 4 ? AF_INET : AF_INET6, prefixLen: Number(prefix), index, scope: o.scope ?? 0 };
  return { type: RTM_NEWADDR, payload: new Uint8Array([...encodeIfAddr(header), ...encodeAttrs(attrs)]) };
}

/** The payload of a request builder's message, as the kernel would describe the same object. */
function payloadOf(req: Request): Uint8Array {
  const attrs = encodeAttrs(req.attrs ?? []);
  const out = new Uint8Array(req.header.length + attrs.length);
  out.set(req.header);
  out.set(attrs, req.header.length);
  return out;
}

/** A route as RTM_NEWROUTE (a dump's entry), from the fields a RouteSpec takes. */
export function routeMessage(spec: RouteSpec): CannedMessage {
  return { type: RTM_NEWROUTE, payload: payloadOf(newRoute(spec)) };
}

/** A rule as RTM_NEWRULE (a dump's entry); the kernel always reports its priority. */
export function ruleMessage(spec: RuleSpec & { priority: number }): CannedMessage {
  return { type: RTM_NEWRULE, payload: payloadOf(newRule(spec)) };
}
