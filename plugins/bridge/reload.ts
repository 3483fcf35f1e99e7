/**
 * bridge's part in `tscni reload`: its masquerade (`ipMasq`) and MAC spoof check
 * (`macspoofchk`), rebuilt from the config and the cached result as ADD made them, checked the
 * way CHECK checks them (from the pass's snapshot where it can tell). Restoring masquerade is the driver's idempotent setup; the spoof
 * check is replaced whole (teardown, then setup), so a half-flushed one leaves no double rule.
 */
import { attachmentKey, type Attachment } from '../../lib/cni/invocation';
import { prevResultOf } from '../../lib/cni/netconf';
import type { IPConfig, Result } from '../../lib/cni/result/types';
import type { Runner } from '../../lib/exec/runner';
import {
  checkSpoofcheck,
  inspectSpoofcheck,
  setupSpoofcheck,
  spoofRef,
  stageSpoofcheck,
  teardownSpoofcheck,
} from '../../lib/firewall/nftables/spoofcheck';
import { normalizeMac } from '../../lib/net/mac';
import { validateContainerId, validateIfName } from '../../lib/cni/names';
import { NetworkStore } from '../../lib/ipam/disk-store';
import { formatCIDR, parseIP } from '../../lib/addr/ip';
import { rangeFor } from '../../lib/ipam/ranges';
import { loadConfig as loadHostLocalConfig } from '../../lib/ipam/config';
import { hostLocalLeaseRefs, type LeaseRef } from '../../lib/ipam/lease-refs';
import type { Concern, ReloadConf, Reloader, Target } from '../../lib/reload/types';
import { loadBridgeConfig, type BridgeConfig } from './config';
import { masqueradeConcern } from '../../lib/reload/masquerade';
import { containerIps } from '../../lib/reload/container-ips';

/** The host veth and container MAC of the cached result, validated (they reach nft). */
function spoofFacts(prev: Result, a: Attachment, cfg: BridgeConfig): { hostVeth: string; mac: string } | undefined {
  const ifaces = prev.interfaces ?? [];
  const cont = ifaces.find((i) => i.name === a.ifName && !!i.sandbox);
  const host = ifaces.find((i) => !i.sandbox && i.name !== cfg.bridge);
  const mac = cont?.mac ? normalizeMac(cont.mac) : undefined;
  // The veth name goes into an nft rule: the characters of a link name that need no quoting.
  if (!host || !/^[A-Za-z0-9_.@+-]{1,15}$/.test(host.name) || !mac) return undefined;
  return { hostVeth: host.name, mac };
}

function concerns(conf: ReloadConf, a: Attachment, runner: Runner): { concerns: Concern[]; leases: LeaseRef[] } {
  const cfg = loadBridgeConfig(conf.config, conf.cniArgs);
  const prev = prevResultOf(conf.config, conf.cniVersion);
  if (!prev) return { concerns: [], leases: [] };
  const out: Concern[] = [];
  const ips = containerIps(prev, a);
  if (cfg.ipMasq && ips.length > 0) out.push(masqueradeConcern(runner, cfg.ipMasqBackend, a, ips));
  const spoof = cfg.macspoofchk ? spoofFacts(prev, a, cfg) : undefined;
  if (spoof) {
    const ref = spoofRef(a.containerId, a.ifName);
    out.push({
      what: 'MAC spoof check',
      inspect: (snap) => inspectSpoofcheck(snap, ref, spoof.hostVeth, spoof.mac),
      check: () => checkSpoofcheck(runner, ref, spoof.hostVeth, spoof.mac),
      restore: async () => {
        await teardownSpoofcheck(runner, ref);
        await setupSpoofcheck(runner, ref, spoof.hostVeth, spoof.mac);
      },
      stage: (batch) => stageSpoofcheck(batch, ref, spoof.hostVeth, spoof.mac),
      undo: () => teardownSpoofcheck(runner, ref),
    });
  }
  const leases = hostLocalLeaseRefs(conf.config, cfg.ipamType, ips);
  return { concerns: out, leases };
}

/**
 * Masquerade of the attachments whose leases are in this network's host-local store (for
 * runtimes that keep no libcni cache): each lease's address with the subnet of its range.
 */
async function known(conf: ReloadConf, runner: Runner): Promise<Target[]> {
  const cfg = loadBridgeConfig(conf.config, conf.cniArgs);
  if (!cfg.ipMasq || cfg.ipamType !== 'host-local') return [];
  const ipam = loadHostLocalConfig(conf.config, conf.cniArgs);
  const store = NetworkStore.open(ipam.dataDir, conf.networkName, false);
  let leases;
  try {
    leases = await store.scan();
  } catch {
    return []; // no store yet
  }
  const byOwner = new Map<string, { id: string; ifname: string; ips: IPConfig[]; refs: LeaseRef[] }>();
  for (const l of leases) {
    if (l.owner.kind !== 'attachment') continue; // a legacy lease names no interface
    const addr = parseIP(l.ip);
    const range = addr ? ipam.ranges.map((set) => rangeFor(set, addr)).find((r) => r !== undefined) : undefined;
    if (!addr || !range) continue;
    const key = attachmentKey(l.owner.id, l.owner.ifname);
    const g = byOwner.get(key) ?? { id: l.owner.id, ifname: l.owner.ifname, ips: [], refs: [] };
    byOwner.set(key, g);
    g.ips.push({ address: formatCIDR(addr, range.prefix) });
    g.refs.push({ dataDir: ipam.dataDir, ip: l.ip });
  }
  const out: Target[] = [];
  for (const g of byOwner.values()) {
    let a: Attachment;
    try {
      // The store is input too: its names must be valid before they reach a rule.
      a = { networkName: conf.networkName, containerId: validateContainerId(g.id), ifName: validateIfName(g.ifname) };
    } catch {
      continue;
    }
    out.push({
      attachment: a,
      netns: '',
      leases: g.refs,
      concerns: [masqueradeConcern(runner, cfg.ipMasqBackend, a, g.ips)],
      source: 'leases',
    });
  }
  return out;
}

export const reloader: Reloader = { concerns, known };
