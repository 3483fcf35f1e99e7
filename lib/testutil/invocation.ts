/** A hand-made Invocation (or Attachment) for unit tests of config loaders and verbs (test-only module). */
import type { Attachment, Invocation } from '../cni/invocation';
import type { Verb } from '../cni/env';
import {
  validateContainerId,
  validateIfName,
  validateNetworkName,
  type ContainerId,
  type IfName,
  type NetworkName,
} from '../cni/names';
import type { CniVersion } from '../cni/version';

export function invocation(
  config: Record<string, unknown>,
  over: { command?: Verb; cniArgs?: string; netns?: string; ifName?: string; containerId?: string } = {},
): Invocation {
  const cniVersion = (typeof config['cniVersion'] === 'string' ? config['cniVersion'] : '1.0.0') as CniVersion;
  return {
    command: over.command ?? 'ADD',
    containerId: (over.containerId ?? 'ctr-1') as ContainerId,
    netns: over.netns ?? '/run/netns/none',
    ifName: (over.ifName ?? 'eth0') as IfName,
    cniArgs: over.cniArgs ?? '',
    cniPath: [],
    env: {},
    stdin: Buffer.from(JSON.stringify(config)),
    config,
    networkName: (typeof config['name'] === 'string' ? config['name'] : 'net') as NetworkName,
    cniVersion,
  };
}

/** An attachment of validated names. */
export const testAttachment = (networkName: string, containerId: string, ifName: string): Attachment => ({
  networkName: validateNetworkName(networkName),
  containerId: validateContainerId(containerId),
  ifName: validateIfName(ifName),
});
