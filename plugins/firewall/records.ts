/**
 * What the firewall plugin remembers per attachment, under `dataDir`
 * (default /var/lib/cni/tscni/firewall).
 *
 * Why records: the reference's rules carry only addresses and bridge names — no container ID —
 * and we keep them byte-identical so either implementation removes the other's. So a DEL without
 * prevResult (or without a netns) could not know which rules are this container's. Deriving the
 * addresses from host-local's lease files was the alternative; it was set aside because the
 * firewall plugin does not see the IPAM config of the interface plugin before it (dataDir,
 * network name of another plugin, or a different IPAM), and by the time the runtime retries a
 * DEL the lease may be gone. A record is written before any rule, and removed after them.
 *
 * Layout (every name in it was validated first):
 *   attachments/<network>/<containerID>/<ifname>.json   the record
 *   <realm>/ips/<ip>/<network>:<containerID>:<ifname>    who holds an address's rules
 *   <realm>/bridges/<bridge>/<network>:<containerID>:<ifname>   who needs a bridge isolated
 * A realm is where the rules live (`iptables`, `nftables`, `firewalld.<zone>`). The holder
 * directories make "is this the last attachment using it?" one directory read, and two DELs at
 * once cannot both miss the answer: each removes its own entry before it looks.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Attachment } from '../../lib/cni/invocation';
import { validateContainerId, validateIfName, type NetworkName } from '../../lib/cni/names';
import * as t from '../../lib/cni/schema';
import { formatIP, parseIP } from '../../lib/addr/ip';
import { isAdminChainName, isZoneName, type FirewallBackend } from './config';
import { isRuleLinkName } from './facts';
import { parseJson } from '../../lib/cni/json';

export interface FirewallRecord {
  readonly backend: FirewallBackend;
  /** firewalld zone (firewalld backend only). */
  readonly zone: string;
  readonly adminChain: string;
  /** Container addresses whose traffic the rules accept. */
  readonly ips: readonly string[];
  /** The bridge guarded for this attachment (`ingressPolicy: same-bridge`/`isolated`, or an internal network). */
  readonly bridge: string | undefined;
  /** The bridge is isolated from other isolated bridges (absent in older records: true). */
  readonly crossBridge?: boolean;
  /** False with `ingressPolicy: isolated` (absent: true). */
  readonly icc?: boolean;
  /** The network is internal. */
  readonly internal?: boolean;
  /** The host end of the container's veth, not counted when asking whether the bridge is still used. */
  readonly hostVeth: string | undefined;
}

const recordDecoder = t.object({
  backend: t.literal('iptables', 'nftables', 'firewalld'),
  zone: t.optional(t.string),
  adminChain: t.string,
  ips: t.array(t.string),
  bridge: t.optional(t.string),
  hostVeth: t.optional(t.string),
  crossBridge: t.optional(t.boolean),
  icc: t.optional(t.boolean),
  internal: t.optional(t.boolean),
});

/** Where a record's address rules live. */
export const ipRealm = (r: FirewallRecord): string => (r.backend === 'firewalld' ? `firewalld.${r.zone}` : r.backend);
/** Where isolation rules live for a backend: iptables for firewalld too, as in the reference. */
export const isolationRealm = (backend: FirewallBackend): string => (backend === 'firewalld' ? 'iptables' : backend);
const bridgeRealm = (r: FirewallRecord): string => isolationRealm(r.backend);

const keyOf = (a: Attachment): string => `${a.networkName}:${a.containerId}:${a.ifName}`;

/** What releasing an attachment leaves without a holder. */
export interface Released {
  readonly ips: string[];
  readonly bridgeFree: boolean;
}

export class RecordStore {
  constructor(readonly dir: string) {}

  private file(a: Attachment): string {
    return join(this.dir, 'attachments', a.networkName, a.containerId, `${a.ifName}.json`);
  }

  read(a: Attachment): FirewallRecord | undefined {
    let text: string;
    try {
      text = readFileSync(this.file(a), 'utf8');
    } catch {
      return undefined;
    }
    return this.parse(text);
  }

  /**
   * A record's names reach commands at DEL, so they are checked like the config's: an address must
   * be one (in canonical form), the bridge, admin chain and zone valid names.
   */
  private parse(text: string): FirewallRecord | undefined {
    try {
      const r = t.parseWith(recordDecoder, parseJson(text), 'firewall record');
      const canonical = (ip: string): boolean => {
        const a = parseIP(ip);
        return a !== undefined && formatIP(a) === ip;
      };
      if (
        !r.ips.every(canonical) ||
        (r.bridge && !isRuleLinkName(r.bridge)) ||
        !isAdminChainName(r.adminChain) ||
        (r.zone !== undefined && r.zone !== '' && !isZoneName(r.zone))
      )
        return undefined;
      return {
        backend: r.backend,
        zone: r.zone ?? '',
        adminChain: r.adminChain,
        ips: r.ips,
        bridge: r.bridge ?? undefined,
        hostVeth: r.hostVeth ?? undefined,
        ...(r.crossBridge === false ? { crossBridge: false } : {}),
        ...(r.icc === false ? { icc: false } : {}),
        ...(r.internal ? { internal: true } : {}),
      };
    } catch {
      return undefined; // a damaged record is as good as none: prevResult still works
    }
  }

  /** Writes the record (atomically) and its holder entries. */
  write(a: Attachment, r: FirewallRecord): void {
    for (const ip of r.ips) this.hold(join(this.dir, ipRealm(r), 'ips', ip), keyOf(a));
    if (r.bridge) this.hold(join(this.dir, bridgeRealm(r), 'bridges', r.bridge), keyOf(a));
    const file = this.file(a);
    mkdirSync(join(file, '..'), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(r) + '\n', { mode: 0o600 });
    renameSync(tmp, file);
  }

  private hold(dir: string, key: string): void {
    // A concurrent release may remove the (empty) directory between mkdir and write: try again.
    for (let i = 0; ; i++) {
      mkdirSync(dir, { recursive: true });
      try {
        writeFileSync(join(dir, key), '');
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || i >= 3) throw e;
      }
    }
  }

  /** Drops this attachment's holder entries for `ips` (and its bridge); says which are now unheld. */
  release(a: Attachment, r: FirewallRecord, ips: readonly string[] = r.ips, bridge = r.bridge): Released {
    const unheld = ips.filter((ip) => this.drop(join(this.dir, ipRealm(r), 'ips', ip), keyOf(a)));
    const bridgeFree = bridge ? this.drop(join(this.dir, bridgeRealm(r), 'bridges', bridge), keyOf(a)) : false;
    return { ips: unheld, bridgeFree };
  }

  /** Removes `key` from a holder directory; true when nobody holds it any more. */
  private drop(dir: string, key: string): boolean {
    rmSync(join(dir, key), { force: true });
    let left: string[];
    try {
      left = readdirSync(dir);
    } catch {
      return true;
    }
    if (left.length > 0) return false;
    try {
      rmdirSync(dir);
    } catch {
      // someone took it meanwhile (ENOTEMPTY) or removed it: either is fine
    }
    return true;
  }

  /** The record's addresses that no attachment holds any more. */
  unheld(r: FirewallRecord): string[] {
    return r.ips.filter((ip) => {
      try {
        return readdirSync(join(this.dir, ipRealm(r), 'ips', ip)).length === 0;
      } catch {
        return true;
      }
    });
  }

  /** True when no attachment (of any network) holds the bridge in `realm`. */
  bridgeUnheld(realm: string, bridge: string): boolean {
    try {
      return readdirSync(join(this.dir, realm, 'bridges', bridge)).length === 0;
    } catch {
      return true;
    }
  }

  /** Removes the record itself (last, after its rules are gone). */
  forget(a: Attachment): void {
    rmSync(this.file(a), { force: true });
    for (const dir of [join(this.file(a), '..'), join(this.file(a), '..', '..')]) {
      try {
        rmdirSync(dir);
      } catch {
        break; // not empty
      }
    }
  }

  /** Every record of a network. */
  list(networkName: NetworkName): Array<{ attachment: Attachment; record: FirewallRecord }> {
    const out: Array<{ attachment: Attachment; record: FirewallRecord }> = [];
    const netDir = join(this.dir, 'attachments', networkName);
    let ids: string[];
    try {
      ids = readdirSync(netDir);
    } catch {
      return out;
    }
    for (const containerId of ids) {
      let files: string[];
      try {
        files = readdirSync(join(netDir, containerId)).filter((f) => f.endsWith('.json'));
      } catch {
        continue;
      }
      for (const f of files) {
        let attachment: Attachment;
        try {
          // Names from disk are input: valid ones only reach a rule.
          attachment = {
            networkName,
            containerId: validateContainerId(containerId),
            ifName: validateIfName(f.slice(0, -'.json'.length)),
          };
        } catch {
          continue;
        }
        const record = this.read(attachment);
        if (record) out.push({ attachment, record });
      }
    }
    return out;
  }
}
