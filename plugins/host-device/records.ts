/**
 * What host-device remembers per attachment, `<dataDir>/<network>/<containerID>_<ifname>.json`:
 * the device's host name, MAC, alias and up state before ADD, and the namespace it went to
 * (path and inode). ADD writes it before moving the device and DEL removes it once the device is
 * back, so whatever happens in between (a kill -9, a DEL without CNI_NETNS, a namespace that
 * died) the next DEL or GC knows which device to bring back and how it was.
 *
 * The reference keeps no state: it finds the host name in the moved link's alias, which we set
 * too, so either implementation can take back a device the other moved. Records are written to
 * a temp file and renamed into place, so a reader sees an old or a new record, never a part,
 * and a planted symlink is replaced, not followed.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as t from '../../lib/cni/schema';
import { warn } from '../../lib/log';
import { randomBytes } from '../../lib/sys/hash';

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

export class DeviceRecords {
  constructor(readonly dir: string) {}

  private netDir(network: string): string {
    return join(this.dir, network);
  }

  private file(network: string, containerId: string, ifName: string): string {
    return join(this.netDir(network), `${containerId}_${ifName}.json`);
  }

  /** The record, or undefined when there is none (or it cannot be read: then it is ignored). */
  read(network: string, containerId: string, ifName: string): DeviceRecord | undefined {
    return this.load(this.file(network, containerId, ifName), { network, containerId, ifName });
  }

  /** A record file that decodes and speaks for the attachment its name says. */
  private load(file: string, want: Pick<DeviceRecord, 'network' | 'containerId' | 'ifName'>): DeviceRecord | undefined {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return undefined;
    }
    try {
      const r = decoder(JSON.parse(text), []);
      if (r.network !== want.network || r.containerId !== want.containerId || r.ifName !== want.ifName)
        throw new Error('it names another attachment');
      return r;
    } catch (e) {
      warn(`host-device: ignoring unreadable record ${file}: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  }

  write(r: DeviceRecord): void {
    const dir = this.netDir(r.network);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = join(dir, `.${r.containerId}_${r.ifName}.${randomBytes(4).toString('hex')}.tmp`);
    writeFileSync(tmp, JSON.stringify(r, null, 1), { mode: 0o600 });
    renameSync(tmp, this.file(r.network, r.containerId, r.ifName));
  }

  remove(network: string, containerId: string, ifName: string): void {
    rmSync(this.file(network, containerId, ifName), { force: true });
  }

  /** Every readable record of a network (GC). */
  list(network: string): DeviceRecord[] {
    let names: string[];
    try {
      names = readdirSync(this.netDir(network));
    } catch {
      return [];
    }
    const out: DeviceRecord[] = [];
    for (const name of names) {
      if (name.startsWith('.') || !name.endsWith('.json')) continue;
      // Container IDs may hold '_': the record says whose it is, and its file name must agree.
      const file = join(this.netDir(network), name);
      let claimed: DeviceRecord | undefined;
      try {
        claimed = decoder(JSON.parse(readFileSync(file, 'utf8')), []);
      } catch {
        continue;
      }
      if (claimed.network !== network || name !== `${claimed.containerId}_${claimed.ifName}.json`) continue;
      out.push(claimed);
    }
    return out;
  }
}
