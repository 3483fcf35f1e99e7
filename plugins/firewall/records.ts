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
 *
 * A container ID has no length limit, so a name built from one may be too long for a file name
 * (a record that could never be written would make every DEL fail): such names are hashed
 * (lib/sys/safe-fs.ts fileNameFor) and the record names its attachment inside. Every file is
 * opened through safe-fs: a link planted in the directory is never followed.
 */
import { fileNameFor, SafeDir, UnsafePathError } from '../../lib/sys/safe-fs';
import { warn } from '../../lib/log';
import type { Attachment } from '../../lib/cni/invocation';
import { validateContainerId, validateIfName, validateNetworkName, type NetworkName } from '../../lib/cni/names';
import * as t from '../../lib/cni/schema';
import { formatIP, parseIP } from '../../lib/addr/ip';
import { DEFAULT_DATA_DIR, isAdminChainName, isZoneName, type FirewallBackend } from './config';
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
  // Which attachment the record is for (tscni 0.2+; older records say it by their path only).
  network: t.optional(t.string),
  containerID: t.optional(t.string),
  ifName: t.optional(t.string),
});

/** Records are small; anything bigger is not one of ours. */
const MAX_RECORD = 64 * 1024;

/** Where a record's address rules live. */
export const ipRealm = (r: FirewallRecord): string => (r.backend === 'firewalld' ? `firewalld.${r.zone}` : r.backend);
/** Where isolation rules live for a backend: iptables for firewalld too, as in the reference. */
export const isolationRealm = (backend: FirewallBackend): string => (backend === 'firewalld' ? 'iptables' : backend);
const bridgeRealm = (r: FirewallRecord): string => isolationRealm(r.backend);

const keyOf = (a: Attachment): string => fileNameFor(`${a.networkName}:${a.containerId}:${a.ifName}`);
/** attachments/<network>/<containerID>, and the record's name in it. */
const recordDir = (a: Attachment): string[] => ['attachments', fileNameFor(a.networkName), fileNameFor(a.containerId)];
const recordName = (a: Attachment): string => fileNameFor(`${a.ifName}.json`);

/** What releasing an attachment leaves without a holder. */
export interface Released {
  readonly ips: string[];
  readonly bridgeFree: boolean;
}

export class RecordStore {
  constructor(
    readonly dir: string,
    /** Our default directory (DEFAULT_DATA_DIR): a link planted at it is replaced, not followed. */
    private readonly own = dir === DEFAULT_DATA_DIR,
  ) {}

  /** Runs fn in the directory at `names` below the store (created when asked); undefined when missing. */
  private inDir<T>(names: readonly string[], create: boolean, fn: (d: SafeDir) => T): T | undefined {
    const base = SafeDir.openState(this.dir, this.own, { create, mode: 0o700 });
    if (!base) return undefined;
    try {
      const d = base.walk(names, { create, mode: 0o700 });
      if (!d) return undefined;
      try {
        return fn(d);
      } finally {
        d.close();
      }
    } finally {
      base.close();
    }
  }

  read(a: Attachment): FirewallRecord | undefined {
    let text: string | undefined;
    try {
      text = this.inDir(recordDir(a), false, (d) => d.readText(recordName(a), MAX_RECORD));
    } catch {
      return undefined; // unreadable (a link, a FIFO, too big): as good as none, prevResult still works
    }
    const r = text === undefined ? undefined : this.parse(text);
    return r && (r.attachment === undefined || sameAttachment(r.attachment, a)) ? r.record : undefined;
  }

  /**
   * A record's names reach commands at DEL, so they are checked like the config's: an address must
   * be one (in canonical form), the bridge, admin chain and zone valid names.
   */
  private parse(text: string): { record: FirewallRecord; attachment: Attachment | undefined } | undefined {
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
      const record: FirewallRecord = {
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
      const attachment =
        r.network !== undefined && r.containerID !== undefined && r.ifName !== undefined
          ? // Names from disk are input: valid ones only reach a rule (a bad one throws: damaged).
            {
              networkName: validateNetworkName(r.network),
              containerId: validateContainerId(r.containerID),
              ifName: validateIfName(r.ifName),
            }
          : undefined;
      return { record, attachment };
    } catch {
      return undefined; // a damaged record is as good as none: prevResult still works
    }
  }

  /** Writes the record (atomically) and its holder entries. */
  write(a: Attachment, r: FirewallRecord): void {
    for (const ip of r.ips) this.hold([ipRealm(r), 'ips', ip], keyOf(a));
    if (r.bridge) this.hold([bridgeRealm(r), 'bridges', r.bridge], keyOf(a));
    const content = { ...r, network: a.networkName, containerID: a.containerId, ifName: a.ifName };
    this.inDir(recordDir(a), true, (d) => d.write(recordName(a), JSON.stringify(content) + '\n', 0o600));
  }

  private hold(names: readonly string[], key: string): void {
    // A concurrent release may remove the (empty) directory between mkdir and write: try again.
    // An empty entry is created in place (no temp file a kill could leave to count as a holder).
    for (let i = 0; ; i++) {
      try {
        this.inDir(names, true, (d) => d.createExclusive(key, '', 0o600));
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || i >= 3) throw e;
      }
    }
  }

  /** Drops this attachment's holder entries for `ips` (and its bridge); says which are now unheld. */
  release(a: Attachment, r: FirewallRecord, ips: readonly string[] = r.ips, bridge = r.bridge): Released {
    const unheld = ips.filter((ip) => this.drop([ipRealm(r), 'ips'], ip, keyOf(a)));
    const bridgeFree = bridge ? this.drop([bridgeRealm(r), 'bridges'], bridge, keyOf(a)) : false;
    return { ips: unheld, bridgeFree };
  }

  /**
   * Removes `key` from the holder directory `name` (in `parent`); true when nobody holds it any
   * more. A holder directory that cannot be used safely (a planted link) counts as unheld: DEL
   * removes the rules of the address it releases rather than fail on someone else's link.
   */
  private drop(parent: readonly string[], name: string, key: string): boolean {
    try {
      return this.dropIn(parent, name, key);
    } catch (e) {
      if (!(e instanceof UnsafePathError)) throw e;
      warn(`firewall records: ${e.message}; ${name} treated as no longer held`);
      return true;
    }
  }

  private dropIn(parent: readonly string[], name: string, key: string): boolean {
    const left = this.inDir(parent, false, (p) => {
      const holders = p.sub(name);
      if (!holders) return 0;
      try {
        holders.remove(key);
        return holders.list().length;
      } finally {
        holders.close();
      }
    });
    if (left) return false;
    // Empty: remove it (someone taking it meanwhile makes rmdir fail, which is fine).
    this.inDir(parent, false, (p) => p.remove(name));
    return true;
  }

  private holders(names: readonly string[]): number {
    try {
      return this.inDir(names, false, (d) => d.list().length) ?? 0;
    } catch {
      return 0;
    }
  }

  /** The record's addresses that no attachment holds any more. */
  unheld(r: FirewallRecord): string[] {
    return r.ips.filter((ip) => this.holders([ipRealm(r), 'ips', ip]) === 0);
  }

  /** True when no attachment (of any network) holds the bridge in `realm`. */
  bridgeUnheld(realm: string, bridge: string): boolean {
    return this.holders([realm, 'bridges', bridge]) === 0;
  }

  /** Removes the record itself (last, after its rules are gone), and its directories once empty. */
  forget(a: Attachment): void {
    const [attachments, net, id] = recordDir(a) as [string, string, string];
    try {
      this.inDir(recordDir(a), false, (d) => d.removeWithTemps(recordName(a)));
      this.inDir([attachments, net], false, (d) => d.remove(id));
      this.inDir([attachments], false, (d) => d.remove(net));
    } catch (e) {
      if (!(e instanceof UnsafePathError)) throw e;
      warn(`firewall records: ${e.message}; the record is left`);
    }
  }

  /** Every record of a network. */
  list(networkName: NetworkName): Array<{ attachment: Attachment; record: FirewallRecord }> {
    const out: Array<{ attachment: Attachment; record: FirewallRecord }> = [];
    this.inDir(['attachments', fileNameFor(networkName)], false, (netDir) => {
      for (const idName of netDir.list()) {
        let ctr: SafeDir | undefined;
        try {
          ctr = netDir.sub(idName);
        } catch {
          continue; // not a directory of ours
        }
        if (!ctr) continue;
        try {
          for (const f of ctr.list()) {
            let parsed: ReturnType<RecordStore['parse']>;
            try {
              const text = ctr.readText(f, MAX_RECORD);
              parsed = text === undefined ? undefined : this.parse(text);
            } catch {
              continue;
            }
            if (!parsed) continue;
            let attachment: Attachment;
            try {
              // Older records name their attachment by their path only; names from disk are input.
              attachment = parsed.attachment ?? {
                networkName,
                containerId: validateContainerId(idName),
                ifName: validateIfName(f.endsWith('.json') ? f.slice(0, -'.json'.length) : f),
              };
            } catch {
              continue;
            }
            // A record is only taken where it would be written: its names must lead to it.
            if (
              attachment.networkName === networkName &&
              fileNameFor(attachment.containerId) === idName &&
              recordName(attachment) === f
            )
              out.push({ attachment, record: parsed.record });
          }
        } finally {
          ctr.close();
        }
      }
    });
    return out;
  }
}

const sameAttachment = (x: Attachment, y: Attachment): boolean =>
  x.networkName === y.networkName && x.containerId === y.containerId && x.ifName === y.ifName;
