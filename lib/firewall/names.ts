/**
 * Firewall names and comments exactly as the reference plugins make them, so that rules
 * written by either implementation are recognised by the other and by operators' tooling.
 */
import { sha512hex } from '../sys/hash';

/** utils.FormatChainName / MustFormatChainNameWithPrefix: "CNI-" + prefix + hash, cut to 28 chars. */
export function chainName(networkName: string, containerId: string, prefix = ''): string {
  return `CNI-${prefix}${sha512hex(networkName + containerId)}`.slice(0, 28);
}

/** Go's %q for the plain strings CNI names are made of (validated: no control characters). */
export function goQuote(s: string): string {
  return JSON.stringify(s);
}

/** utils.FormatComment: `name: "<net>" id: "<cid>"`. */
export function ruleComment(networkName: string, containerId: string): string {
  return `name: ${goQuote(networkName)} id: ${goQuote(containerId)}`;
}

/** The nftables ipMasq rule hash of the reference: sha512(name)[:16] "-" sha512(ifname ":" id)[:16]. */
export function nftMasqHash(networkName: string, ifName: string, containerId: string): string {
  return `${nftMasqNetworkHash(networkName)}-${sha512hex(`${ifName}:${containerId}`).slice(0, 16)}`;
}

/** The network's half of nftMasqHash: every masquerade rule of the network starts with it. */
export const nftMasqNetworkHash = (networkName: string): string => sha512hex(networkName).slice(0, 16);

export { sha512hex };
