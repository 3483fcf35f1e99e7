/**
 * ADD: one address per range set, all under one store lock (so a dual-stack allocation is
 * atomic), rolled back entirely if any set fails. Messages follow the reference's cmdAdd/Get.
 */
import type { Invocation } from '../../lib/cni/invocation';
import { CniError } from '../../lib/cni/errors';
import type { IPConfig, Result } from '../../lib/cni/result/types';
import { pickNext, type Picked } from '../../lib/ipam/allocator';
import { NetworkStore, type Owner } from '../../lib/ipam/disk-store';
import { formatCIDR, formatIP, parseIP, type Addr } from '../../lib/addr/ip';
import { rangeContains, rangeFor, rangeSetString, type RangeSet } from '../../lib/ipam/ranges';
import { readResolvConf } from '../../lib/ipam/resolv';
import { warn } from '../../lib/log';
import { loadConfig } from '../../lib/ipam/config';

function takeRequested(set: RangeSet, pending: Map<string, Addr>): Addr | undefined {
  for (const [k, a] of pending) {
    if (rangeFor(set, a)) {
      pending.delete(k);
      return a;
    }
  }
  return undefined;
}

function reserveRequested(store: NetworkStore, set: RangeSet, addr: Addr, owner: Owner): Picked {
  const ip = formatIP(addr);
  const range = rangeFor(set, addr);
  if (!range) throw new Error(`${ip} not in range set ${rangeSetString(set)}`);
  if (addr.value === range.gateway) throw new Error(`requested ip ${ip} is subnet's gateway`);
  if (!store.reserve(ip, owner))
    throw new Error(`requested IP address ${ip} is not available in range set ${rangeSetString(set)}`);
  return { range, addr, ip };
}

/** Addresses held back by the reuse delay (released less than the delay ago), with their release times. */
interface HeldBack {
  readonly delayMs: number;
  readonly now: number;
  readonly released: ReadonlyMap<string, number>;
}

function reserveNext(
  store: NetworkStore,
  set: RangeSet,
  index: number,
  owner: Owner,
  held: readonly string[],
  delay: HeldBack | undefined,
): Picked {
  for (const ip of held) {
    const a = parseIP(ip);
    if (a && set.some((r) => rangeContains(r, a))) {
      throw new Error(`${ip} has been allocated to ${owner.id}, duplicate allocation is not allowed`);
    }
  }
  const waiting: number[] = [];
  const picked = pickNext(set, store.lastReserved(index), {
    claim: (ip) => {
      const at = delay?.released.get(ip);
      if (at !== undefined && !store.exists(ip)) {
        waiting.push(at);
        return false;
      }
      return store.reserve(ip, owner);
    },
    names: () => store.names(),
  });
  if (picked) return picked;
  const msg = `no IP addresses available in range set: ${rangeSetString(set)}`;
  if (!delay || waiting.length === 0) throw new Error(msg);
  const soonest = Math.ceil((Math.min(...waiting) + delay.delayMs - delay.now) / 1000);
  throw new Error(
    `${msg} (${waiting.length} released ${waiting.length === 1 ? 'address is' : 'addresses are'} held back by ` +
      `the reuse delay, reuseDelaySeconds ${delay.delayMs / 1000}; the first is free again in ${soonest} s)`,
  );
}

export async function add(inv: Invocation): Promise<Result> {
  const conf = loadConfig(inv.config, inv.cniArgs);
  const dns = conf.resolvConf ? readResolvConf(conf.resolvConf) : undefined;
  const owner: Owner = { id: inv.containerId, ifname: inv.ifName };
  const store = NetworkStore.open(conf.dataDir, inv.networkName);

  const ips = await store.locked((s) => {
    const held = s.leasesOf(owner);
    const now = Date.now();
    const delay =
      conf.reuseDelayMs > 0
        ? { delayMs: conf.reuseDelayMs, now, released: s.recentlyReleased(conf.reuseDelayMs, now) }
        : undefined;
    const pending = new Map(conf.requested.map((a) => [formatIP(a), a] as const));
    const taken: string[] = [];
    const out: IPConfig[] = [];
    try {
      conf.ranges.forEach((set, index) => {
        try {
          const want = takeRequested(set, pending);
          const p = want ? reserveRequested(s, set, want, owner) : reserveNext(s, set, index, owner, held, delay);
          taken.push(p.ip);
          // As the reference, with each reservation (a rolled-back ADD still moves it). Not fatal:
          // the cursor only says where the next search starts; the leases and the index count.
          try {
            s.setLastReserved(index, p.ip);
          } catch (e) {
            warn((e as Error).message);
          }
          out.push({
            address: formatCIDR(p.addr, p.range.prefix),
            gateway: formatIP({ family: p.addr.family, value: p.range.gateway }),
          });
        } catch (e) {
          const msg = `failed to allocate for range ${index}: ${e instanceof CniError ? e.msg : (e as Error).message}`;
          // A store error (full or read-only disk) keeps its code; allocation failures are the reference's 999.
          throw e instanceof CniError ? new CniError(e.code, msg, e.details) : new Error(msg);
        }
      });
      if (pending.size > 0) throw new Error(`failed to allocate all requested IPs: ${[...pending.keys()].join(' ')}`);
      s.setIndex(owner, [...new Set([...held, ...taken])]);
    } catch (e) {
      try {
        s.release(taken);
      } catch (re) {
        s.invalidate();
        warn(`rolling back ${taken.join(' ')} failed: ${(re as Error).message}`);
      }
      throw e;
    }
    return out;
  });

  const result: Result = { cniVersion: inv.cniVersion, ips };
  if (conf.routes.length > 0) result.routes = conf.routes;
  if (dns && Object.keys(dns).length > 0) result.dns = dns;
  return result;
}
