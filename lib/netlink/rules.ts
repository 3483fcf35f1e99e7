/**
 * Policy routing rules (RTM_*RULE, `ip rule`): decoding, and the add / delete / dump requests.
 * Selectors travel as CIDR text (`10.1.1.5/32`); a rule without `src` matches every source.
 */
import {
  FIB_RULE_HDR_LEN,
  FRA_DST,
  FRA_FWMARK,
  FRA_FWMASK,
  FRA_IIFNAME,
  FRA_OIFNAME,
  FRA_PRIORITY,
  FRA_PROTOCOL,
  FRA_SRC,
  FRA_TABLE,
  FR_ACT_TO_TBL,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  RTM_DELRULE,
  RTM_GETRULE,
  RTM_NEWRULE,
  RT_TABLE_UNSPEC,
} from './constants';
import { afOf, familyOf } from './addrs';
import { formatIp, parsePrefix } from './inet';
import { Attrs, attr, type AttrSpec, type NlMessage, type Request } from './message';
import type { Family } from '../addr/ip';

export interface Rule {
  family: Family;
  /** FRA_PRIORITY (`pref` in `ip rule`); the kernel gives every rule one. */
  priority: number;
  /** Source selector, `10.1.1.5/32`; absent for "from all". */
  src?: string;
  dst?: string;
  /** The table looked up (FRA_TABLE, or the header's 8 bits). */
  table: number;
  /** FR_ACT_* */
  action: number;
  iifname?: string;
  oifname?: string;
  fwmark?: number;
  fwmask?: number;
  /** FRA_PROTOCOL: who added the rule (RTPROT_*). */
  protocol?: number;
  tos: number;
  flags: number;
}

/** The fixed header: rtmsg's layout with res1/res2 in place of protocol/scope and action in place of type. */
interface RuleHeader {
  family: number;
  dstLen: number;
  srcLen: number;
  tos: number;
  table: number;
  action: number;
  flags: number;
}

function encodeHeader(h: Partial<RuleHeader>): Uint8Array {
  const b = new Uint8Array(FIB_RULE_HDR_LEN);
  b[0] = h.family ?? 0;
  b[1] = h.dstLen ?? 0;
  b[2] = h.srcLen ?? 0;
  b[3] = h.tos ?? 0;
  b[4] = h.table ?? 0;
  b[7] = h.action ?? 0;
  new DataView(b.buffer).setUint32(8, (h.flags ?? 0) >>> 0, true);
  return b;
}

export function decodeRuleHeader(p: Uint8Array): RuleHeader {
  if (p.length < FIB_RULE_HDR_LEN)
    throw new Error(`netlink message too short for fib_rule_hdr: ${p.length} < ${FIB_RULE_HDR_LEN} bytes`);
  return {
    family: p[0] ?? 0,
    dstLen: p[1] ?? 0,
    srcLen: p[2] ?? 0,
    tos: p[3] ?? 0,
    table: p[4] ?? 0,
    action: p[7] ?? 0,
    flags: new DataView(p.buffer, p.byteOffset, p.byteLength).getUint32(8, true),
  };
}

/** Decodes an RTM_NEWRULE message; undefined for families other than IPv4/IPv6. */
export function decodeRule(m: NlMessage): Rule | undefined {
  const h = decodeRuleHeader(m.payload);
  const family = familyOf(h.family);
  if (!family) return undefined;
  const a = Attrs.parse(m.payload, FIB_RULE_HDR_LEN);
  const r: Rule = {
    family,
    priority: a.u32(FRA_PRIORITY) ?? 0,
    table: a.u32(FRA_TABLE) ?? h.table,
    action: h.action,
    tos: h.tos,
    flags: h.flags,
  };
  const src = a.bytes(FRA_SRC);
  if (src) r.src = `${formatIp(src)}/${h.srcLen}`;
  const dst = a.bytes(FRA_DST);
  if (dst) r.dst = `${formatIp(dst)}/${h.dstLen}`;
  const iif = a.str(FRA_IIFNAME);
  if (iif) r.iifname = iif;
  const oif = a.str(FRA_OIFNAME);
  if (oif) r.oifname = oif;
  const mark = a.u32(FRA_FWMARK);
  if (mark !== undefined) r.fwmark = mark;
  const mask = a.u32(FRA_FWMASK);
  if (mask !== undefined) r.fwmask = mask;
  const proto = a.u8(FRA_PROTOCOL);
  if (proto !== undefined) r.protocol = proto;
  return r;
}

/** A dump of the rules of one family, or of every family. */
export const dumpRules = (family?: Family): Request => ({
  type: RTM_GETRULE,
  flags: NLM_F_DUMP,
  header: encodeHeader({ family: family ? afOf(family) : 0 }),
});

export interface RuleSpec {
  /** Needed when neither `src` nor `dst` says it. */
  family?: Family;
  src?: string;
  dst?: string;
  table?: number;
  /** Left out, the kernel picks one just above the `main` rule's (as `ip rule add` does). */
  priority?: number;
  /** FR_ACT_*; lookup in `table` by default. */
  action?: number;
}

function ruleBody(s: RuleSpec): { header: Uint8Array; attrs: AttrSpec[] } {
  const src = s.src === undefined ? undefined : parsePrefix(s.src);
  const dst = s.dst === undefined ? undefined : parsePrefix(s.dst);
  const family = s.family ?? src?.family ?? dst?.family;
  if (!family) throw new Error('rule: no family (give src, dst or family)');
  for (const p of [src, dst]) {
    if (p && p.family !== family) throw new Error(`rule: ${s.src ?? ''} ${s.dst ?? ''} mixes address families`);
  }
  const attrs: AttrSpec[] = [];
  if (src) attrs.push(attr.bytes(FRA_SRC, src.bytes));
  if (dst) attrs.push(attr.bytes(FRA_DST, dst.bytes));
  if (s.priority !== undefined) attrs.push(attr.u32(FRA_PRIORITY, s.priority));
  const table = s.table ?? RT_TABLE_UNSPEC;
  // The header holds 8 bits of the table; FRA_TABLE holds all of it.
  if (s.table !== undefined) attrs.push(attr.u32(FRA_TABLE, table));
  const header = encodeHeader({
    family: afOf(family),
    srcLen: src?.len ?? 0,
    dstLen: dst?.len ?? 0,
    table: table < 256 ? table : RT_TABLE_UNSPEC,
    action: s.action ?? FR_ACT_TO_TBL,
  });
  return { header, attrs };
}

/** Adds a rule; EEXIST when the same rule (priority included) is there. */
export function newRule(s: RuleSpec): Request {
  const { header, attrs } = ruleBody(s);
  return { type: RTM_NEWRULE, flags: NLM_F_CREATE | NLM_F_EXCL, header, attrs };
}

/** Deletes the first rule that matches every field given (ENOENT when none does). */
export function delRule(s: RuleSpec): Request {
  const { header, attrs } = ruleBody(s);
  return { type: RTM_DELRULE, flags: 0, header, attrs };
}
