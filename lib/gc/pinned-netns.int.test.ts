/**
 * `tscni gc` and the pinned netns of a runtime that keeps no netns in libcni's cache (libcni
 * before 1.2: containerd 1.6). Such a runtime's DEL would have come with the pod's pinned
 * namespace (/run/netns/…), which still holds the attachment's address; gc gives its DEL that
 * namespace only when it is abandoned: no process in it, and no kept attachment's address in it.
 * In a sandbox, with a fake CRI runtime that lists only the pods it is told to (as containerd's
 * CRI after a pod was removed behind its back), pods set up through `tscni add` with CRI's
 * CNI_ARGS and their cache entries' netns removed:
 *  - an empty namespace is found and used: DEL removes the pod's interface in it;
 *  - a namespace a process is in is not used (a dry run before the process came names it);
 *  - a namespace holding a kept attachment's address is not used: two networks with one subnet,
 *    the gone pod's address (its own namespace deleted) found only on the live pod's interface
 *    (a dry run while CRI listed neither names it).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { CliSandbox } from '../testutil/cli-sandbox';
import { FakeCri } from '../testutil/fake-cri';
import type { RunResult } from '../testutil/sandbox';
import { waitFor } from '../testutil/wait';

const NET = 'pinnet';
const NET2 = 'pinnet2';
/** A subnet no other suite uses: gc looks at the addresses of every namespace of the machine. */
const SUBNET = '10.214.0.0/24';

let cli: CliSandbox;
let cri: FakeCri | undefined;
const sleepers: ChildProcess[] = [];
const netnsOf = (name: string): string => cli.netns(name);
const tscni = (args: string[], extra: Record<string, string> = {}): Promise<RunResult> => cli.tscni(args, extra);
const gc = (...more: string[]): Promise<RunResult> =>
  tscni(['gc', '--min-age', '0', '--cri-socket', cri?.socket ?? 'none', ...more]);
const cacheFile = (net: string, id: string): string => cli.cacheFile(net, id);
const leasesOf = (net: string, id: string): string[] => cli.leasesOf(net, id);

/** The addresses on eth0 in a container's namespace ([] when there is no eth0). */
const eth0 = async (name: string): Promise<string[]> => {
  const r = await cli.sb.exec(name, ['ip', '-j', 'addr', 'show', 'dev', 'eth0']);
  if (r.code !== 0) return [];
  const links = JSON.parse(r.stdout) as Array<{ addr_info: Array<{ family: string; local: string }> }>;
  return links.flatMap((l) => l.addr_info.filter((a) => a.family === 'inet').map((a) => a.local));
};

/**
 * A pod as CRI sets it up: a pinned namespace, the network's ADD with CRI's CNI_ARGS, and a
 * cache entry without the netns (as libcni before 1.2 writes it). Returns its container ID.
 */
async function criPod(net: string, name: string, ip?: string): Promise<string> {
  await cli.sb.addContainer(name);
  const id = cli.cid(name);
  const args = [
    'IgnoreUnknown=1',
    'K8S_POD_NAMESPACE=default',
    `K8S_POD_NAME=${name}`,
    `K8S_POD_INFRA_CONTAINER_ID=${id}`,
    `K8S_POD_UID=uid-${name}`,
    ...(ip ? [`IP=${ip}`] : []),
  ];
  const r = await tscni(['add', net, netnsOf(name)], { CNI_ARGS: args.join(';') });
  if (r.code !== 0) throw new Error(`tscni add ${net} ${name}: ${r.stderr}${r.stdout}`);
  const entry = JSON.parse(readFileSync(cacheFile(net, id), 'utf8')) as Record<string, unknown>;
  expect(entry['netns']).toBe(netnsOf(name));
  delete entry['netns'];
  writeFileSync(cacheFile(net, id), JSON.stringify(entry));
  return id;
}

/** The gc output line of one attachment. */
const lineOf = (out: string, net: string, id: string): string =>
  out.split('\n').find((l) => l.includes(` ${net}/${id}/eth0: `)) ?? `(no line for ${net}/${id}/eth0 in:\n${out})`;

/** A process that stays in a container's namespace until killed (by its PID, afterwards). */
async function occupy(name: string): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', cli.sb.nsName(name), 'sleep', '600'], { stdio: 'ignore' });
  sleepers.push(child);
  const ino = statSync(netnsOf(name)).ino;
  await waitFor(`a process in ${name}`, () => {
    try {
      return readlinkSync(`/proc/${child.pid}/ns/net`) === `net:[${ino}]`;
    } catch {
      return false;
    }
  });
  return child;
}

describe('tscni gc: the pinned netns of a runtime without netns in its cache', () => {
  beforeAll(async () => {
    cli = await CliSandbox.create('gcpin', (dir) => {
      const ipam = { type: 'host-local', subnet: SUBNET, dataDir: dir('leases') };
      return [
        { name: NET, plugins: [{ type: 'bridge', bridge: 'pinbr0', isGateway: true, ipam }] },
        // Another bridge on the same subnet (no gateway address: the first bridge has it).
        { name: NET2, plugins: [{ type: 'bridge', bridge: 'pinbr1', ipam }] },
      ];
    });
    cri = await FakeCri.start(cli.dir('cri.sock'));
  });

  afterAll(async () => {
    for (const s of sleepers) if (s.exitCode === null && s.signalCode === null) s.kill('SIGKILL');
    await cri?.stop();
    await cli?.destroy();
  });

  it('an empty namespace holding the address is found and used: the DEL removes the interface in it', async () => {
    const id = await criPod(NET, 'pa');
    const ips = await eth0('pa');
    expect(ips).toHaveLength(1);
    cri!.sandboxes = ['some-other-pod'];
    const r = await gc();
    expect(r.code).toBe(0);
    expect(cri!.calls).toBeGreaterThan(0);
    expect(lineOf(r.stdout, NET, id)).toBe(
      `collected ${NET}/${id}/eth0: CRI (${cri!.socket}) does not list it; DEL gets ${netnsOf('pa')}, the netns holding its address`,
    );
    // As the runtime's own DEL would have: the interface, its lease, the host's veth and the cache entry go.
    expect(await eth0('pa')).toEqual([]);
    expect(leasesOf(NET, id)).toEqual([]);
    expect(existsSync(cacheFile(NET, id))).toBe(false);
    expect((await cli.sb.exec('host', ['ip', '-o', 'link', 'show', 'master', 'pinbr0'])).stdout).toBe('');
    await cli.sb.removeContainer('pa');
  });

  it('not used while a process is in the namespace: DEL goes without a netns and the interface stays', async () => {
    const id = await criPod(NET, 'pb');
    const [ip] = await eth0('pb');
    cri!.sandboxes = [];
    // Abandoned, it would be used.
    expect(lineOf((await gc('--dry-run')).stdout, NET, id)).toContain(`DEL gets ${netnsOf('pb')}`);
    const sleeper = await occupy('pb');
    const dry = await gc('--dry-run');
    expect(lineOf(dry.stdout, NET, id)).toBe(`gone      ${NET}/${id}/eth0: CRI (${cri!.socket}) does not list it`);
    const r = await gc();
    expect(r.code).toBe(0);
    expect(lineOf(r.stdout, NET, id)).toBe(`collected ${NET}/${id}/eth0: CRI (${cri!.socket}) does not list it`);
    expect(leasesOf(NET, id)).toEqual([]);
    expect(existsSync(cacheFile(NET, id))).toBe(false);
    // Nothing was done inside the namespace the process lives in.
    expect(await eth0('pb')).toEqual([ip]);
    sleeper.kill('SIGKILL');
    await cli.sb.removeContainer('pb');
  });

  it('not used while a kept attachment’s address is in it (one subnet on two networks)', async () => {
    // The live pod: eth0 with 10.214.0.9 on the second network; the gone pod had the same
    // address on the first, and its namespace is gone, so only the live pod's eth0 holds it.
    const live = await criPod(NET2, 'pc-live', '10.214.0.9');
    const gone = await criPod(NET, 'pc-gone', '10.214.0.9');
    expect(await eth0('pc-live')).toEqual(['10.214.0.9']);
    await cli.sb.removeContainer('pc-gone');
    // While CRI listed neither, the live pod's namespace would be taken for the gone pod's DEL.
    cri!.sandboxes = [];
    expect(lineOf((await gc('--dry-run')).stdout, NET, gone)).toContain(`DEL gets ${netnsOf('pc-live')}`);
    cri!.sandboxes = [live];
    const r = await gc();
    expect(r.code).toBe(0);
    expect(lineOf(r.stdout, NET, gone)).toBe(`collected ${NET}/${gone}/eth0: CRI (${cri!.socket}) does not list it`);
    expect(lineOf(r.stdout, NET2, live)).toBe(`kept      ${NET2}/${live}/eth0: CRI (${cri!.socket}) lists it`);
    expect(leasesOf(NET, gone)).toEqual([]);
    // The live pod lost nothing: its interface, address, lease and cache entry, and CHECK passes.
    expect(await eth0('pc-live')).toEqual(['10.214.0.9']);
    expect(leasesOf(NET2, live)).toEqual(['10.214.0.9']);
    expect(existsSync(cacheFile(NET2, live))).toBe(true);
    expect((await tscni(['check', NET2, netnsOf('pc-live')])).code).toBe(0);
  });
});
