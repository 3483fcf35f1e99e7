/**
 * What host-device remembers per attachment, `<dataDir>/<network>/<containerID>_<ifname>.json`:
 * the device's host name, MAC, alias and up state before ADD, and the namespace it went to
 * (path and inode). ADD writes it before moving the device and DEL removes it once the device is
 * back, so whatever happens in between (a kill -9, a DEL without CNI_NETNS, a namespace that
 * died) the next DEL or GC knows which device to bring back and how it was.
 *
 * The reference keeps no state: it finds the host name in the moved link's alias, which we set
 * too, so either implementation can take back a device the other moved. Records are written to
 * a temp file and renamed into place, so a reader sees an old or a new record, never a part;
 * every file is opened through lib/sys/safe-fs.ts (a planted link is replaced or refused, never
 * followed), and a record name too long for a file system is hashed.
 */
import { join } from 'node:path';
import * as t from '../../lib/cni/schema';
import { warn } from '../../lib/log';
import { parseJson } from '../../lib/cni/json';
import { fileNameFor, SafeDir } from '../../lib/sys/safe-fs';

export interface DeviceRecord {
  readonly network: string;
  readonly containerId: string;
  readonly ifName: string;
  /** The container namespace the device went to, and its inode (a path can be reused). */
  readonly netns: string;
  readonly netnsInode: number;
  /** DPDK: nothing was moved. */
  readonly dpdk: boolean;
  /** The device as it was in the host before ADD. */
  readonly hostName: string;
  readonly mac: string;
  readonly alias: string;
  readonly up: boolean;
}

const decoder = t.object({
  network: t.string,
  containerId: t.string,
  ifName: t.string,
  netns: t.string,
  netnsInode: t.uint,
  dpdk: t.boolean,
  hostName: t.string,
  mac: t.string,
  alias: t.string,
  up: t.boolean,
});

/** Records are small; anything bigger is not one. */
const MAX_RECORD = 64 * 1024;
/** The file name of an attachment's record (a name too long for a file system is hashed). */
const recordName = (containerId: string, ifName: string): string => fileNameFor(`${containerId}_${ifName}.json`, 255);

export class DeviceRecords {
  /** `own`: the directory is our default (not a configured dataDir), so a link planted at it is replaced, not followed. */
  constructor(
    readonly dir: string,
    private readonly own = false,
  ) {}

  /** Runs fn in `<dataDir>/<network>` (created when asked) through safe-fs; undefined when missing. */
  private inNetwork<T>(network: string, create: boolean, fn: (d: SafeDir) => T): T | undefined {
    const base = SafeDir.openState(this.dir, this.own, { create, mode: 0o700 });
    if (!base) return undefined;
    try {
      const d = base.sub(fileNameFor(network), { create, mode: 0o700 });
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

  /** The record, or undefined when there is none (or it cannot be read: then it is ignored). */
  read(network: string, containerId: string, ifName: string): DeviceRecord | undefined {
    const want = { network, containerId, ifName };
    const name = recordName(containerId, ifName);
    let text: string | undefined;
    try {
      text = this.inNetwork(network, false, (d) => d.readText(name, MAX_RECORD));
    } catch (e) {
      warn(`host-device: ignoring unreadable record ${join(this.dir, network, name)}: ${(e as Error).message}`);
      return undefined;
    }
    if (text === undefined) return undefined;
    try {
      const r = decoder(parseJson(text), []);
      if (r.network !== want.network || r.containerId !== want.containerId || r.ifName !== want.ifName)
        throw new Error('it names another attachment');
      return r;
    } catch (e) {
      warn(
        `host-device: ignoring unreadable record ${join(this.dir, network, name)}: ${e instanceof Error ? e.message : String(e)}`,
      );
      return undefined;
    }
  }

  write(r: DeviceRecord): void {
    this.inNetwork(r.network, true, (d) =>
      d.write(recordName(r.containerId, r.ifName), JSON.stringify(r, null, 1), 0o600),
    );
  }

  remove(network: string, containerId: string, ifName: string): void {
    try {
      this.inNetwork(network, false, (d) => d.remove(recordName(containerId, ifName)));
    } catch (e) {
      warn(`host-device: record of ${containerId}/${ifName} not removed: ${(e as Error).message}`);
    }
  }

  /** Every readable record of a network (GC). */
  list(network: string): DeviceRecord[] {
    const out: DeviceRecord[] = [];
    try {
      this.inNetwork(network, false, (d) => {
        for (const name of d.list()) {
          if (name.startsWith('.') || !name.endsWith('.json')) continue;
          // Container IDs may hold '_': the record says whose it is, and its file name must agree.
          let claimed: DeviceRecord;
          try {
            claimed = decoder(parseJson(d.readText(name, MAX_RECORD) ?? ''), []);
          } catch {
            continue;
          }
          if (claimed.network !== network || name !== recordName(claimed.containerId, claimed.ifName)) continue;
          out.push(claimed);
        }
      });
    } catch (e) {
      warn(`host-device: records of ${network} not listed: ${(e as Error).message}`);
    }
    return out;
  }
}
