/**
 * bandwidth chained after bridge at every cniVersion, in a sandbox: the previous result passed
 * on in the config's shape with the ifb added, the limits in the kernel (a root tbf on the host
 * veth, the ifb with its own), CHECK after ADD and after tampering, DEL twice and without the
 * namespace, nothing left; prevResult passed through untouched when there is nothing to shape;
 * the limits from the `bandwidth` capability; STATUS and GC at 1.1.0.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Sandbox, type RunResult } from '../lib/testutil/sandbox';
import { ALL_VERSIONS, PLUGIN_DIR, hasPlugin, pluginPath } from './harness';

let sb: Sandbox;
beforeAll(async () => {
  sb = await Sandbox.create('bwconf');
  mkdirSync(join(sb.dir, 'ipam'));
});
afterAll(async () => sb?.destroy());

type Json = Record<string, unknown>;
const family = (v: string): '0.2' | '0.4' | '1.x' => (v < '0.3.0' ? '0.2' : v < '1.0.0' ? '0.4' : '1.x');
const LIMITS = { ingressRate: 8_000_000, ingressBurst: 80_000, egressRate: 8_000_000, egressBurst: 80_000 };
const NET = 'bwconf';

/** Whether the host has a link of that name. */
const hasLink = async (name: string): Promise<boolean> =>
  (await sb.exec('host', ['ip', 'link', 'show', name])).code === 0;
/** The reference's ifb name: `bwp` and 12 hex digits of sha512(network + container ID). */
const ifbOf = (ctr: string): string =>
  `bwp${createHash('sha512')
    .update(NET + ctr)
    .digest('hex')}`.slice(0, 15);

/** The kinds of the root qdiscs (noqueue left out) on a container's host veth and on its ifb. */
async function rootQdiscs(hostVeth: string, ctr: string): Promise<string[]> {
  const r = await sb.exec('host', ['tc', '-j', 'qdisc', 'show']);
  return ((r.json as Json[]) ?? [])
    .filter((q) => q['root'] && q['kind'] !== 'noqueue')
    .filter((q) => q['dev'] === hostVeth || q['dev'] === ifbOf(ctr))
    .map((q) => `${String(q['kind'])} on ${q['dev'] === hostVeth ? 'veth' : 'ifb'}`)
    .sort();
}

/** The host end of the container's eth0. */
async function hostVethOf(ctr: string): Promise<string> {
  const inside = await sb.exec(ctr, ['ip', '-j', 'link', 'show', 'eth0']);
  const peer = (inside.json as Json[])[0]?.['link_index'];
  const host = await sb.exec('host', ['ip', '-j', 'link', 'show', 'type', 'veth']);
  return String((host.json as Json[]).find((l) => l['ifindex'] === peer)?.['ifname']);
}

(hasPlugin('bandwidth') && hasPlugin('bridge') ? describe.each : describe.skip.each)([...ALL_VERSIONS])(
  'bandwidth at %s',
  (version) => {
    const tag = version.replace(/\./g, '');
    const ctr = `bw${tag}`;
    const netns = (): string => `/run/netns/${sb.nsName(ctr)}`;
    const bridgeConf = (): Json => ({
      cniVersion: version,
      name: NET,
      type: 'bridge',
      bridge: `bwc${tag}`,
      isGateway: true,
      ipam: {
        type: 'host-local',
        subnet: `10.63.${ALL_VERSIONS.indexOf(version)}.0/24`,
        dataDir: join(sb.dir, 'ipam'),
      },
    });
    let prev: Json = {};
    let added: Json = {};
    let veth = '';
    const call = (
      plugin: string,
      command: string,
      config: unknown,
      ns: string | undefined = netns(),
    ): Promise<RunResult> =>
      sb.runPlugin(
        pluginPath(plugin),
        { command, containerId: ctr, netns: ns, ifName: 'eth0', path: PLUGIN_DIR },
        config,
      );
    const bwConf = (extra: Json = LIMITS, prevResult: Json | undefined = prev): Json => ({
      cniVersion: version,
      name: NET,
      type: 'bandwidth',
      ...extra,
      ...(prevResult ? { prevResult } : {}),
    });

    beforeAll(async () => {
      await sb.addContainer(ctr);
      const r = await call('bridge', 'ADD', bridgeConf());
      if (r.code !== 0) throw new Error(`bridge ADD: ${r.stdout}`);
      prev = r.json as Json;
      veth = await hostVethOf(ctr);
    });
    afterAll(async () => {
      await call('bridge', 'DEL', bridgeConf());
    });

    it('with nothing to shape, ADD passes prevResult on unchanged and touches nothing', async () => {
      const r = await call('bandwidth', 'ADD', bwConf({}));
      expect(r.code).toBe(0);
      expect(r.json).toEqual(prev);
      expect(await rootQdiscs(veth, ctr)).toEqual([]);
    });

    it('ADD passes prevResult on in the config version, plus the ifb (0.3.0 and later)', async () => {
      const r = await call('bandwidth', 'ADD', bwConf());
      expect(r.code).toBe(0);
      added = r.json as Json;
      expect(added['cniVersion']).toBe(version);
      const { interfaces, ...rest } = added;
      const { interfaces: prevInterfaces, ...prevRest } = prev;
      expect(rest).toEqual(prevRest);
      if (family(version) === '0.2') {
        expect(interfaces).toBeUndefined();
      } else {
        expect(interfaces).toEqual([
          ...(prevInterfaces as Json[]),
          {
            name: expect.stringMatching(/^bwp[0-9a-f]{12}$/),
            mac: expect.stringMatching(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/),
          },
        ]);
      }
    });

    it('the limits are in the kernel: a root tbf on the host veth and on the ifb', async () => {
      expect(await rootQdiscs(veth, ctr)).toEqual(['tbf on ifb', 'tbf on veth']);
      expect(await hasLink(ifbOf(ctr))).toBe(true);
    });

    if (version >= '0.4.0') {
      it('CHECK succeeds after ADD', async () => {
        const r = await call('bandwidth', 'CHECK', bwConf(LIMITS, added));
        expect({ code: r.code, out: r.stdout }).toEqual({ code: 0, out: '' });
      });

      it('CHECK fails once a limit is not what the config says', async () => {
        const r = await call('bandwidth', 'CHECK', bwConf({ ...LIMITS, ingressRate: 4_000_000 }, added));
        expect(r.code).not.toBe(0);
        expect(r.json).toMatchObject({ msg: "Rate doesn't match" });
      });
    }

    it('DEL removes the ifb; twice, and without the namespace, it still succeeds', async () => {
      expect((await call('bandwidth', 'DEL', bwConf())).code).toBe(0);
      expect(await hasLink(ifbOf(ctr))).toBe(false);
      expect((await call('bandwidth', 'DEL', bwConf())).code).toBe(0);
      expect((await call('bandwidth', 'DEL', bwConf(LIMITS, undefined), '')).code).toBe(0);
    });

    it('the limits may come from the bandwidth capability (runtimeConfig), as CRI runtimes send them', async () => {
      const viaCapability = bwConf({
        capabilities: { bandwidth: true },
        runtimeConfig: { bandwidth: { egressRate: 8_000_000, egressBurst: 80_000 } },
      });
      const r = await call('bandwidth', 'ADD', viaCapability);
      expect(r.code).toBe(0);
      expect(await rootQdiscs(veth, ctr)).toContain('tbf on ifb');
      expect((await call('bandwidth', 'DEL', viaCapability)).code).toBe(0);
      expect(await hasLink(ifbOf(ctr))).toBe(false);
    });

    if (version === '1.1.0') {
      it('[spec] STATUS succeeds for a valid config and fails (code 7) for an invalid one', async () => {
        const status = (config: Json): Promise<RunResult> =>
          sb.runPlugin(pluginPath('bandwidth'), { command: 'STATUS', path: PLUGIN_DIR }, config);
        expect((await status(bwConf(LIMITS, undefined))).code).toBe(0);
        expect((await status(bwConf({ ingressRate: 1000 }, undefined))).json).toMatchObject({ code: 7 });
      });

      it('[spec] GC removes the ifb of an attachment that is not valid', async () => {
        expect((await call('bandwidth', 'ADD', bwConf())).code).toBe(0);
        const gc = { ...bwConf(LIMITS, undefined), 'cni.dev/valid-attachments': [] };
        expect((await sb.runPlugin(pluginPath('bandwidth'), { command: 'GC', path: PLUGIN_DIR }, gc)).code).toBe(0);
        expect(await hasLink(ifbOf(ctr))).toBe(false);
        expect((await call('bandwidth', 'DEL', bwConf())).code).toBe(0);
      });
    }
  },
);
