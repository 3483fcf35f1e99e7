/**
 * The ifb device of an attachment, named as the reference names it (`bwp` + the first 12 hex
 * digits of sha512(network + container ID)), so either implementation finds the other's; and
 * the alias tscni gives it, which lets GC tell its own devices (and their network) from others'
 * and lets DEL find the shaped host link without netns or prevResult.
 */
import { sha512hex } from '../../lib/sys/hash';

export const ifbName = (network: string, containerId: string): string =>
  `bwp${sha512hex(network + containerId)}`.slice(0, 15);

/** A network as its alias carries it: names have no length limit, aliases do (255 bytes). */
export const networkTag = (network: string): string => sha512hex(network).slice(0, 16);

export const ifbAlias = (network: string, hostLink: string): string =>
  `tscni bandwidth: network ${networkTag(network)}, shapes ${hostLink}`;

const ALIAS = /^tscni bandwidth: network ([0-9a-f]{16}), shapes (\S{1,15})$/;

/** What an alias says; undefined for a device tscni did not make (e.g. the reference's). */
export function parseIfbAlias(alias: string | undefined): { tag: string; hostLink: string } | undefined {
  const m = alias ? ALIAS.exec(alias) : null;
  return m?.[1] && m[2] ? { tag: m[1], hostLink: m[2] } : undefined;
}
