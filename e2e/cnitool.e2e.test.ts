/**
 * cnitool (libcni 1.1.2, built from Debian's source by e2e/build-cnitool.sh) drives bin/ through
 * examples/e2e/cnitool.conflist (iptables) and cnitool-nftables.conflist (both plugins on their
 * nftables backends): ADD with a port mapping, CHECK, DEL, a second DEL. This cnitool has no GC or
 * STATUS verbs (libcni gained them in 1.2).
 */
import { describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkInside, expectHttpToken, hostPortUrls, leftovers, newToken } from './harness/checks';
import { RuntimeSandbox } from './harness/sandbox';
import {
  CNI_VERSIONS,
  JEST_TIMEOUT_MS,
  E2E_BUILD_DIR,
  conflist,
  expectAllCallsOk,
  expectVersion,
  scenario,
} from './harness/scenario';
import { callsOf } from './harness/trace';
import { waitFor } from '../lib/testutil/wait';

const CNITOOL = join(E2E_BUILD_DIR, 'cnitool');
/** [conflist, network name, tag]: the same chain on the iptables and on the nftables backends. */
const VARIANTS = [
  ['cnitool.conflist', 'e2e-cnitool', 'cnitool'],
  ['cnitool-nftables.conflist', 'e2e-cnitool-nft', 'cnitool-nft'],
] as const;
const CASES = VARIANTS.flatMap(([file, net, tag]) => CNI_VERSIONS.map((v) => [tag, v, file, net] as const));
const HOST_PORT = 8080;
const GATEWAY = '10.88.1.1';

describe('cnitool', () => {
  it.each(CASES)(
    '%s, cniVersion %s: add, check, del, del again',
    async (tag, version, file, NET) => {
      if (!existsSync(CNITOOL)) throw new Error(`${CNITOOL} is missing: run make e2e (it builds cnitool first)`);
      await scenario(`${tag}-${version}`, async (sb: RuntimeSandbox, steps) => {
        writeFileSync(join(sb.hostPath('/etc/cni/net.d'), '10-e2e.conflist'), conflist(file, version));
        await sb.sh('ip netns add c1 && ip -n c1 link set lo up');
        const netns = '/run/netns/c1';
        const env = {
          CNI_PATH: '/opt/cni/bin',
          NETCONFPATH: '/etc/cni/net.d',
          CAP_ARGS: JSON.stringify({ portMappings: [{ hostPort: HOST_PORT, containerPort: 80, protocol: 'tcp' }] }),
        };
        const cnitool = (verb: string): Promise<{ code: number; stdout: string; stderr: string }> =>
          sb.exec([CNITOOL, verb, NET, netns], { env });

        const add = await cnitool('add');
        if (add.code !== 0) throw new Error(`cnitool add failed: ${add.stderr}${add.stdout}`);
        steps.mark('add');
        const result = JSON.parse(add.stdout) as { cniVersion: string; ips: { address: string }[] };
        expect(result.cniVersion).toBe(version);
        const ip = result.ips[0]?.address.split('/')[0] ?? '';
        expect(ip).toMatch(/^10\.88\.1\./);

        const token = newToken();
        const www = join(sb.dir, 'www');
        mkdirSync(www);
        writeFileSync(join(www, 'index.html'), `${token}\n`);
        sb.startDaemon('httpd', ['nsenter', `--net=${netns}`, 'busybox', 'httpd', '-f', '-p', '80', '-h', www]);
        await checkInside((argv) => sb.exec(['ip', 'netns', 'exec', 'c1', ...argv]), ip, GATEWAY);
        for (const url of [...hostPortUrls(HOST_PORT), `http://${ip}/`]) await expectHttpToken(sb, url, token);
        steps.mark('traffic');

        const check = await cnitool('check');
        if (check.code !== 0) throw new Error(`cnitool check failed: ${check.stderr}${check.stdout}`);
        const del = await cnitool('del');
        if (del.code !== 0) throw new Error(`cnitool del failed: ${del.stderr}${del.stdout}`);
        const del2 = await cnitool('del');
        if (del2.code !== 0) throw new Error(`second cnitool del failed: ${del2.stderr}${del2.stdout}`);
        steps.mark('check+del+del');

        await sb.stopDaemon('httpd', 'KILL');
        await sb.sh('ip netns del c1');
        const trace = sb.trace();
        const containerId = callsOf(trace, 'bridge', 'ADD')[0]?.containerId ?? '';
        expect(containerId).toMatch(/^cnitool-[0-9a-f]{20}$/);
        expect(await leftovers(sb, { containerIds: [containerId], ips: [ip] })).toEqual([]);
        expectAllCallsOk(trace);
        expectVersion(trace, version, ['bridge', 'portmap']);
        // libcni runs the chain forward on ADD/CHECK and backwards on DEL; both DELs reach both plugins.
        expect(trace.map((e) => `${e.plugin} ${e.command}`)).toEqual([
          'bridge ADD',
          'portmap ADD',
          'bridge CHECK',
          'portmap CHECK',
          'portmap DEL',
          'bridge DEL',
          'portmap DEL',
          'bridge DEL',
        ]);
        expect(callsOf(trace, 'portmap', 'ADD')[0]?.runtimeConfigKeys).toEqual(['portMappings']);
      });
    },
    JEST_TIMEOUT_MS,
  );
});

/**
 * Secondary networks the way multus attaches them, driven by cnitool (CNI_IFNAME picks the
 * interface): macvlan + static as net1, then macvlan + static → sbr as net2 on a second uplink;
 * and host-device + static on a veth standing for a spare NIC. static runs inside macvlan's and
 * host-device's process, as when installed (it is linked, not wrapped).
 */
describe('cnitool: multus-style secondary networks', () => {
  const NETNS = '/run/netns/c1';
  const run = (sb: RuntimeSandbox, verb: string, net: string, ifName: string) =>
    sb.exec([CNITOOL, verb, net, NETNS], {
      env: { CNI_PATH: '/opt/cni/bin', NETCONFPATH: '/etc/cni/net.d', CNI_IFNAME: ifName },
    });
  const ok = async (p: Promise<{ code: number; stdout: string; stderr: string }>, what: string): Promise<string> => {
    const r = await p;
    if (r.code !== 0) throw new Error(`cnitool ${what} failed: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const inside = (sb: RuntimeSandbox, argv: string[]) => sb.exec(['ip', 'netns', 'exec', 'c1', ...argv]);
  /** What the scenario made on purpose (the second uplink, the spare device and their far ends). */
  const expected = (l: string): boolean => /^veth (up1|hdx0)$|^netns file \/run\/netns\/far\d$/.test(l);

  it.each(CNI_VERSIONS)(
    'macvlan + static as net1, then macvlan + static → sbr as net2, cniVersion %s',
    async (version) => {
      if (!existsSync(CNITOOL)) throw new Error(`${CNITOOL} is missing: run make e2e (it builds cnitool first)`);
      await scenario(`cnitool-multus-${version}`, async (sb: RuntimeSandbox, steps) => {
        const netDir = sb.hostPath('/etc/cni/net.d');
        writeFileSync(join(netDir, '10-net1.conflist'), conflist('cnitool-macvlan-static.conflist', version));
        writeFileSync(join(netDir, '20-net2.conflist'), conflist('cnitool-sbr.conflist', version));
        // A second uplink to another network, whose far end alone knows 192.0.2.77.
        await sb.sh(
          'ip netns add far2 && ip link add up1 type veth peer name far netns far2 && ip link set up1 up && ' +
            'ip -n far2 addr add 198.51.100.1/24 dev far && ip -n far2 addr add 192.0.2.77/32 dev lo && ' +
            'ip -n far2 link set far up && ip -n far2 link set lo up',
        );
        await sb.sh('ip netns add c1 && ip -n c1 link set lo up');

        const add1 = JSON.parse(await ok(run(sb, 'add', 'e2e-net1', 'net1'), 'add net1')) as { cniVersion: string };
        expect(add1.cniVersion).toBe(version);
        await ok(run(sb, 'add', 'e2e-net2', 'net2'), 'add net2');
        steps.mark('add');
        expect((await inside(sb, ['ip', '-4', '-o', 'addr', 'show', 'net1'])).stdout).toContain('203.0.113.50/24');
        expect((await inside(sb, ['ip', '-4', '-o', 'addr', 'show', 'net2'])).stdout).toContain('198.51.100.50/24');
        expect((await inside(sb, ['ip', 'rule', 'show'])).stdout).toMatch(/from 198\.51\.100\.50 lookup 100/);
        // The main table leads everything out of net1; from net2's address, net2's table takes over.
        expect((await inside(sb, ['ip', 'route', 'get', '192.0.2.77'])).stdout).toContain('dev net1');
        expect((await inside(sb, ['ip', 'route', 'get', '192.0.2.77', 'from', '198.51.100.50'])).stdout).toMatch(
          /via 198\.51\.100\.1 dev net2 table 100/,
        );
        const pings = async (argv: string[]): Promise<boolean> =>
          (await inside(sb, ['ping', '-c', '1', '-W', '2', ...argv])).code === 0;
        await waitFor('a ping through net1', () => pings(['203.0.113.1']));
        await waitFor('a ping from net2’s address through net2', () => pings(['-I', '198.51.100.50', '192.0.2.77']));
        steps.mark('traffic');

        await ok(run(sb, 'check', 'e2e-net1', 'net1'), 'check net1');
        await ok(run(sb, 'check', 'e2e-net2', 'net2'), 'check net2');
        await ok(run(sb, 'del', 'e2e-net2', 'net2'), 'del net2');
        await ok(run(sb, 'del', 'e2e-net1', 'net1'), 'del net1');
        expect((await inside(sb, ['ip', 'rule', 'show'])).stdout).not.toContain('198.51.100.50');
        expect((await inside(sb, ['ip', '-o', 'link'])).stdout).not.toMatch(/net[12]/);
        await ok(run(sb, 'del', 'e2e-net2', 'net2'), 'second del net2');
        await ok(run(sb, 'del', 'e2e-net1', 'net1'), 'second del net1');
        steps.mark('check+del+del');

        await sb.sh('ip netns del c1');
        const trace = sb.trace();
        const ids = [...new Set(trace.map((e) => e.containerId))];
        expect(
          (await leftovers(sb, { containerIds: ids, ips: ['203.0.113.50', '198.51.100.50'] })).filter(
            (l) => !expected(l),
          ),
        ).toEqual([]);
        expectAllCallsOk(trace);
        expectVersion(trace, version, ['macvlan', 'sbr']);
        expect(trace.map((e) => `${e.plugin} ${e.command} ${e.ifName}`)).toEqual([
          'macvlan ADD net1',
          'macvlan ADD net2',
          'sbr ADD net2',
          'macvlan CHECK net1',
          'macvlan CHECK net2',
          'sbr CHECK net2',
          'sbr DEL net2',
          'macvlan DEL net2',
          'macvlan DEL net1',
          'sbr DEL net2',
          'macvlan DEL net2',
          'macvlan DEL net1',
        ]);
      });
    },
    JEST_TIMEOUT_MS,
  );

  it.each(CNI_VERSIONS)(
    'host-device + static: the device in and back, also when the namespace died, cniVersion %s',
    async (version) => {
      if (!existsSync(CNITOOL)) throw new Error(`${CNITOOL} is missing: run make e2e (it builds cnitool first)`);
      await scenario(`cnitool-host-device-${version}`, async (sb: RuntimeSandbox, steps) => {
        writeFileSync(
          join(sb.hostPath('/etc/cni/net.d'), '10-hostdev.conflist'),
          conflist('cnitool-host-device.conflist', version),
        );
        // The "spare NIC": a veth whose far end (100.64.9.1) sits in a namespace of its own.
        await sb.sh(
          'ip netns add far3 && ip link add hdx0 type veth peer name far netns far3 && ip link set hdx0 up && ' +
            'ip -n far3 addr add 100.64.9.1/24 dev far && ip -n far3 link set far up',
        );
        const hostLink = async (): Promise<string> => (await sb.exec(['ip', '-o', 'link', 'show', 'hdx0'])).stdout;
        await sb.sh('ip netns add c1 && ip -n c1 link set lo up');

        await ok(run(sb, 'add', 'e2e-hostdev', 'eth0'), 'add');
        expect(await hostLink()).toBe('');
        await checkInside((argv) => inside(sb, argv), '100.64.9.50', '100.64.9.1');
        steps.mark('add+traffic');
        await ok(run(sb, 'check', 'e2e-hostdev', 'eth0'), 'check');
        await ok(run(sb, 'del', 'e2e-hostdev', 'eth0'), 'del');
        // Back under its name and up, as it was.
        expect(await hostLink()).toMatch(/hdx0@.*<[^>]*\bUP\b/);
        await ok(run(sb, 'del', 'e2e-hostdev', 'eth0'), 'second del');
        steps.mark('check+del+del');

        // Again, and this time the namespace dies first: the kernel deletes the veth with it
        // (a physical NIC would go back to the initial namespace); DEL still succeeds.
        await ok(run(sb, 'add', 'e2e-hostdev', 'eth0'), 'add again');
        await sb.sh('ip netns del c1');
        await ok(run(sb, 'del', 'e2e-hostdev', 'eth0'), 'del after the netns died');
        expect(await hostLink()).toBe('');
        steps.mark('netns died');

        const trace = sb.trace();
        const ids = [...new Set(trace.map((e) => e.containerId))];
        expect((await leftovers(sb, { containerIds: ids, ips: ['100.64.9.50'] })).filter((l) => !expected(l))).toEqual(
          [],
        );
        expect(
          existsSync(join(sb.hostPath('/var/lib/cni'), 'tscni', 'host-device', 'e2e-hostdev'))
            ? readdirSync(join(sb.hostPath('/var/lib/cni'), 'tscni', 'host-device', 'e2e-hostdev'))
            : [],
        ).toEqual([]);
        expectAllCallsOk(trace);
        expectVersion(trace, version, ['host-device']);
        expect(trace.map((e) => `${e.plugin} ${e.command}`)).toEqual([
          'host-device ADD',
          'host-device CHECK',
          'host-device DEL',
          'host-device DEL',
          'host-device ADD',
          'host-device DEL',
        ]);
      });
    },
    JEST_TIMEOUT_MS,
  );
});
