/**
 * One `tscni reload` pass with the registry's reloaders (bridge masquerade, portmap, the firewall
 * plugin; iptables backend) over containers in libcni's cache, against a fake iptables
 * (lib/testutil/fake-iptables.ts): what the pass reads, what it restores, and that the programs
 * it starts do not grow with the containers — one `iptables-save` for a pass that finds
 * everything intact; for one that finds things broken, a fresh `iptables-save` and one
 * `iptables-restore` per family for all of them. Plans are golden files.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Attachment } from '../lib/cni/invocation';
import type { Command, Runner } from '../lib/exec/runner';
import { reload } from '../lib/reload/reload';
import type { Outcome } from '../lib/reload/types';
import { markTeardown } from '../lib/state/marks';
import { FakeIptables } from '../lib/testutil/fake-iptables';
import { expectGolden } from '../lib/testutil/golden';
import { testAttachment } from '../lib/testutil/invocation';
import { lookupReloader } from './registry';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const NET = 'passnet';
const cid = (i: number): string => `ctr${String(i).padStart(3, '0')}`;
const ipOf = (i: number): string => `10.88.${Math.floor((i + 2) / 250)}.${(i + 2) % 250}`;

/** A node with `n` containers in libcni's cache, their leases held, their netns files there. */
function node(n: number): {
  dir: string;
  run: (fw: FakeIptables, dryRun?: boolean, runner?: Runner) => Promise<Outcome[]>;
} {
  const dir = mkdtempSync(join(tmpdir(), 'tscni-reload-pass-'));
  dirs.push(dir);
  const list = {
    cniVersion: '1.1.0',
    name: NET,
    plugins: [
      {
        type: 'bridge',
        bridge: 'cni0',
        isGateway: true,
        ipMasq: true,
        ipMasqBackend: 'iptables',
        ipam: { type: 'host-local', subnet: '10.88.0.0/16', dataDir: join(dir, 'leases') },
      },
      { type: 'portmap', capabilities: { portMappings: true }, backend: 'iptables' },
      { type: 'firewall', backend: 'iptables', dataDir: join(dir, 'fw') },
    ],
  };
  for (const d of ['cache/results', 'net.d', `leases/${NET}`, 'netns']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'net.d', `10-${NET}.conflist`), JSON.stringify(list));
  for (let i = 0; i < n; i++) {
    const id = cid(i);
    writeFileSync(join(dir, 'netns', id), '');
    writeFileSync(join(dir, 'leases', NET, ipOf(i)), `${id}\r\neth0`);
    const result = {
      cniVersion: '1.1.0',
      interfaces: [
        { name: 'cni0', mac: '0a:58:0a:58:00:01' },
        { name: `veth${id}`, mac: '0a:58:0a:58:01:01' },
        { name: 'eth0', mac: '0a:58:0a:58:00:02', sandbox: join(dir, 'netns', id) },
      ],
      ips: [{ address: `${ipOf(i)}/16`, gateway: '10.88.0.1', interface: 2 }],
    };
    writeFileSync(
      join(dir, 'cache', 'results', `${NET}-${id}-eth0`),
      JSON.stringify({
        kind: 'cniCacheV1',
        containerId: id,
        ifName: 'eth0',
        networkName: NET,
        netns: join(dir, 'netns', id),
        config: Buffer.from(JSON.stringify(list)).toString('base64'),
        capabilityArgs: { portMappings: [{ hostPort: 8000 + i, containerPort: 80, protocol: 'tcp' }] },
        result,
      }),
    );
  }
  return {
    dir,
    run: (fw, dryRun = false, runner: Runner = fw.runner) =>
      reload({
        cacheDir: join(dir, 'cache'),
        netconfPath: join(dir, 'net.d'),
        runDir: join(dir, 'run'),
        dryRun,
        networks: [],
        env: { TSCNI_RUN_DIR: join(dir, 'run') },
        runner,
        reloaders: lookupReloader,
      }),
  };
}

/** The pass as a golden: its outcomes, then the programs it started (restore input indented). */
function plan(outcomes: readonly Outcome[], fw: FakeIptables, from = 0): string {
  const lines = outcomes.map((o) => `${o.state} ${o.subject} ${o.what}${o.detail ? `: ${o.detail}` : ''}`);
  lines.push('', 'programs:');
  for (const [i, l] of fw.runner.lines().slice(from).entries()) {
    lines.push(l);
    const input = fw.runner.calls[from + i]?.input;
    if (input !== undefined)
      lines.push(
        ...String(input)
          .trimEnd()
          .split('\n')
          .map((x) => `  ${x}`),
      );
  }
  return lines.join('\n');
}

const attachment = (i: number): Attachment => testAttachment(NET, cid(i), 'eth0');

describe('a reload pass', () => {
  it('restores every concern of a host without rules, then finds them intact from one iptables-save', async () => {
    const n = node(3);
    const fw = new FakeIptables();
    const first = await n.run(fw);
    expect(first.map((o) => o.state)).toEqual(Array(9).fill('restored'));
    expectGolden(__dirname, 'reload-pass-restores', plan(first, fw));
    const mark = fw.runner.calls.length;
    const again = await n.run(fw);
    expect(again.map((o) => o.state)).toEqual(Array(9).fill('intact'));
    expect(fw.runner.lines().slice(mark)).toEqual(['iptables-save']);
  });

  it('a dry run lists what is broken from the reading alone and writes nothing', async () => {
    const n = node(2);
    const fw = new FakeIptables();
    const out = await n.run(fw, true);
    expect(out.map((o) => `${o.state} ${o.what}`)).toEqual(
      [0, 1].flatMap(() => ['broken masquerade', 'broken port forwarding', 'broken container forwarding']),
    );
    expect(fw.runner.lines()).toEqual(['iptables-save']);
  });

  it('over 50 containers, a pass that finds everything intact starts one program', async () => {
    const n = node(50);
    const fw = new FakeIptables();
    await n.run(fw);
    const mark = fw.runner.calls.length;
    const again = await n.run(fw);
    expect(again).toHaveLength(150);
    expect(again.every((o) => o.state === 'intact')).toBe(true);
    expect(fw.runner.lines().slice(mark)).toEqual(['iptables-save']);
  });

  it('restores only what is broken, and skips a container being deleted without reading for it', async () => {
    const n = node(3);
    const fw = new FakeIptables();
    await n.run(fw);
    // ctr001's masquerade jump is gone; ctr002 is being deleted (its DEL stopped after portmap).
    const jump = fw
      .saved(4, 'nat')
      .split('\n')
      .find((l) => l.startsWith('-A POSTROUTING ') && l.includes(cid(1)));
    fw.apply(4, `*nat\n${jump?.replace(/^-A /, '-D ')}\nCOMMIT\n`);
    markTeardown({ TSCNI_RUN_DIR: join(n.dir, 'run') }, attachment(2));
    const mark = fw.runner.calls.length;
    const out = await n.run(fw);
    expectGolden(__dirname, 'reload-pass-one-broken', plan(out, fw, mark));
  });

  it('reads nothing when every container is being deleted', async () => {
    const n = node(2);
    const fw = new FakeIptables();
    for (const i of [0, 1]) markTeardown({ TSCNI_RUN_DIR: join(n.dir, 'run') }, attachment(i));
    const out = await n.run(fw);
    expect(out.map((o) => `${o.state} ${o.what}`)).toEqual(['skipped all', 'skipped all']);
    expect(fw.runner.calls).toEqual([]);
  });

  it('leaves a concern the snapshot cannot tell to its own check, which may find it intact', async () => {
    const n = node(1);
    // The kernel matches a `-C` rule by meaning: here, as the same words.
    const fw = new FakeIptables((a, b) => a.split(/ +/).join(' ') === b.split(/ +/).join(' '));
    await n.run(fw);
    // The masquerade rule is listed otherwise than rendered (as another iptables version might).
    const rule = fw
      .saved(4, 'nat')
      .split('\n')
      .find((l) => l.includes(' -j MASQUERADE') && l.includes('! -d 224.0.0.0/4'));
    fw.apply(4, `*nat\n${rule?.replace(/^-A /, '-D ')}\n${rule?.replace(' ! -d', '  ! -d')}\nCOMMIT\n`);
    const mark = fw.runner.calls.length;
    const out = await n.run(fw);
    expect(out.map((o) => `${o.state} ${o.what}`)).toEqual([
      'intact masquerade',
      'intact port forwarding',
      'intact container forwarding',
    ]);
    // The reading, then masquerade's own check (one iptables-restore of -C lines); nothing written.
    expect(fw.runner.lines().slice(mark)).toEqual(['iptables-save', 'iptables-restore --noflush -w 10']);
    expect(String(fw.runner.calls[mark + 1]?.input)).toMatch(/^\*nat\n-C POSTROUTING /);
  });

  it('after iptables -F, 50 containers are restored with one iptables-restore', async () => {
    const n = node(50);
    const fw = new FakeIptables();
    await n.run(fw);
    fw.flush('iptables -F');
    const mark = fw.runner.calls.length;
    const out = await n.run(fw);
    expect(out).toHaveLength(150);
    expect(out.every((o) => o.state === 'restored')).toBe(true);
    // The pass's reading, the batch's fresh one, one write.
    expect(fw.runner.lines().slice(mark)).toEqual([
      'iptables-save',
      'iptables-save',
      'iptables-restore --noflush -w 10',
    ]);
    const again = fw.runner.calls.length;
    expect((await n.run(fw)).every((o) => o.state === 'intact')).toBe(true);
    expect(fw.runner.lines().slice(again)).toEqual(['iptables-save']);
  });

  it('when the batched transaction fails, restores each container on its own: one bad container blocks no other', async () => {
    const n = node(3);
    const fw = new FakeIptables();
    // Every write that carries ctr001's masquerade fails (as a kernel refusing its rule would).
    const bad = (c: Command): boolean =>
      c.tool === 'iptables-restore' && /^-[AN] CNI-c1d483f41afd5fb2f38e8420 /m.test(String(c.input ?? ''));
    const runner: Runner = {
      run: (c) => (bad(c) ? Promise.reject(new Error('iptables-restore: line 3 failed')) : fw.runner.run(c)),
    };
    const out = await n.run(fw, false, runner);
    expect(out.map((o) => `${o.state} ${o.subject} ${o.what}`)).toEqual([
      'restored passnet/ctr000/eth0 masquerade',
      'restored passnet/ctr000/eth0 port forwarding',
      'restored passnet/ctr000/eth0 container forwarding',
      'failed passnet/ctr001/eth0 masquerade',
      'restored passnet/ctr001/eth0 port forwarding',
      'restored passnet/ctr001/eth0 container forwarding',
      'restored passnet/ctr002/eth0 masquerade',
      'restored passnet/ctr002/eth0 port forwarding',
      'restored passnet/ctr002/eth0 container forwarding',
    ]);
    // What the others need is in place: the next pass finds only ctr001's masquerade broken.
    const next = await n.run(fw, true);
    expect(next.filter((o) => o.state !== 'intact').map((o) => `${o.state} ${o.subject} ${o.what}`)).toEqual([
      'broken passnet/ctr001/eth0 masquerade',
    ]);
  });

  it('takes back what the batch restored for a container whose DEL began meanwhile', async () => {
    const n = node(2);
    const fw = new FakeIptables();
    const runner: Runner = {
      run: (c) => {
        // ctr001's DEL begins while the batch is written.
        if (c.tool === 'iptables-restore' && String(c.input ?? '').includes('-N CNI-FORWARD'))
          markTeardown({ TSCNI_RUN_DIR: join(n.dir, 'run') }, attachment(1));
        return fw.runner.run(c);
      },
    };
    const out = await n.run(fw, false, runner);
    expect(out.map((o) => `${o.state} ${o.subject} ${o.what}`)).toEqual([
      'restored passnet/ctr000/eth0 masquerade',
      'restored passnet/ctr000/eth0 port forwarding',
      'restored passnet/ctr000/eth0 container forwarding',
      'gone passnet/ctr001/eth0 masquerade',
      'gone passnet/ctr001/eth0 port forwarding',
      'gone passnet/ctr001/eth0 container forwarding',
    ]);
    const nat = fw.saved(4, 'nat');
    expect(nat).toContain('id: \\"ctr000\\"');
    expect(nat).not.toContain('ctr001');
    expect(fw.saved(4, 'filter')).not.toContain('10.88.0.3/32');
  });
});
