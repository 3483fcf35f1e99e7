/**
 * `tscni reload` in a sandbox, on both backends: containers set up by `tscni add` (libcni's
 * cache) with masquerade, port forwarding and the firewall plugin; the sandbox host's rules are
 * flushed (`iptables -t nat -F` and `iptables -F`, or `nft flush ruleset`, only ever inside the
 * sandbox's host netns), traffic proves masquerade and forwarding broken, reload puts back
 * exactly what was there, a second reload changes nothing. Also: intact containers are left
 * alone, a container being deleted is not restored, a dry run changes nothing, and a reload
 * racing ADDs and DELs leaves no rule of a deleted container behind.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expectServing, world, type Backend, type World } from '../testutil/reload-world';
import { BIN_DIR, runOk, type RunResult } from '../testutil/sandbox';

const lines = (r: RunResult): string[] => r.stdout.split('\n').filter((l) => l !== '');

describe.each<Backend>(['iptables', 'nftables'])('tscni reload (%s)', (backend) => {
  let w: World;
  beforeAll(async () => {
    w = await world(backend);
  });
  afterAll(async () => w?.destroy());

  it('restores masquerade, port forwarding and the firewall plugin after a flush, exactly as they were', async () => {
    await expectServing(w);
    const before = await w.ruleSet();
    await w.flush();
    expect(await w.masquerades('c1')).toBe(false);
    expect(await w.forwards(8081, 'c1')).toBe(false);

    // A dry run lists what is broken and changes nothing.
    const flushed = await w.rules();
    const broken = ['masquerade', 'port forwarding', 'container forwarding'];
    if (backend === 'nftables') broken.push('MAC spoof check');
    const dry = await w.reload('--dry-run');
    expect(dry.code).toBe(0);
    for (const name of ['c1', 'c2'])
      for (const what of broken)
        expect(lines(dry)).toContainEqual(
          expect.stringMatching(new RegExp(`^broken +rlnet/${w.cid(name)}/eth0 ${what}:`)),
        );
    expect(await w.rules()).toBe(flushed);

    const r = await w.reload();
    // The MAC spoof check lives in nftables' bridge family: `iptables -F` leaves it alone.
    const intact = backend === 'iptables' ? 2 : 0;
    expect(r.stderr).toMatch(`${8 - intact} restored, ${intact} intact, 0 broken, 0 gone, 0 skipped, 0 failed`);
    expect(r.code).toBe(0);
    await expectServing(w);
    // The same rules as before the flush: none missing, none doubled.
    expect(await w.ruleSet()).toEqual(before);
    // Their CHECK agrees.
    for (const name of ['c1', 'c2']) expect((await w.tscni(['check', 'rlnet', w.netns(name)])).code).toBe(0);
  });

  it('a second reload changes nothing, and tells it from one reading of the firewall', async () => {
    const once = await w.rules();
    const r = await w.tscni(['reload'], { TSCNI_DEBUG: '1' });
    expect(r.stderr).toMatch(/0 restored, 8 intact/);
    expect(lines(r).every((l) => l.startsWith('intact '))).toBe(true);
    expect(await w.rules()).toBe(once); // byte for byte, nft handles included
    // Every concern judged from the snapshot as the kernel lists it: no check of its own ran,
    // and the programs are the pass's readings only (the MAC spoof check is nftables' either way).
    expect(r.stderr).not.toMatch(/the snapshot cannot tell/);
    const programs = [...r.stderr.matchAll(/ exec \d+ ms: (.*)$/gm)].map((m) => m[1]);
    expect(programs.sort()).toEqual(
      backend === 'iptables' ? ['iptables-save', 'nft -j list ruleset'] : ['nft -j list ruleset'],
    );
  });

  it('leaves containers whose rules are intact alone', async () => {
    // Break only c1's masquerade.
    if (backend === 'iptables') {
      const jump = (await w.sb.exec('host', ['iptables', '-t', 'nat', '-S', 'POSTROUTING'])).stdout
        .split('\n')
        .find((l) => l.includes(w.cid('c1')));
      expect(jump).toBeDefined();
      const input = `*nat\n${(jump ?? '').replace(/^-A /, '-D ')}\nCOMMIT\n`;
      await runOk(['ip', 'netns', 'exec', w.sb.hostNs, 'iptables-restore', '--noflush'], { input });
    } else {
      const listing = (
        await w.sb.exec('host', ['nft', '-a', 'list', 'chain', 'inet', 'cni_plugins_masquerade', 'masq_checks'])
      ).stdout;
      const handle = /ip saddr 10\.77\.0\.\d+ .*id: (\S+)" # handle (\d+)/.exec(
        listing.split('\n').find((l) => l.includes(w.cid('c1'))) ?? '',
      )?.[2];
      await runOk([
        'ip',
        'netns',
        'exec',
        w.sb.hostNs,
        'nft',
        'delete',
        'rule',
        'inet',
        'cni_plugins_masquerade',
        'masq_checks',
        'handle',
        handle ?? '0',
      ]);
    }
    expect(await w.masquerades('c1')).toBe(false);
    const c2Before = (await w.rules()).split('\n').filter((l) => l.includes(w.cid('c2')));
    const r = await w.reload();
    expect(lines(r).filter((l) => !l.startsWith('intact '))).toEqual([
      expect.stringMatching(new RegExp(`^restored rlnet/${w.cid('c1')}/eth0 masquerade: `)),
    ]);
    expect(await w.masquerades('c1')).toBe(true);
    expect((await w.rules()).split('\n').filter((l) => l.includes(w.cid('c2')))).toEqual(c2Before);
  });

  it('does not restore a container whose DEL has begun, and its DEL then leaves nothing', async () => {
    await w.add('c3', 8083);
    // The runtime's DEL of c3 stopped after portmap (as between two plugins of its chain).
    const cache = JSON.parse(
      (await w.sb.exec('host', ['cat', join(w.env['CNI_CACHE_DIR'] ?? '', 'results', `rlnet-${w.cid('c3')}-eth0`)]))
        .stdout,
    ) as { result: unknown };
    const pm = await w.sb.runPlugin(
      join(BIN_DIR, 'portmap'),
      {
        command: 'DEL',
        containerId: w.cid('c3'),
        netns: w.netns('c3'),
        ifName: 'eth0',
        env: { TSCNI_RUN_DIR: w.env['TSCNI_RUN_DIR'] },
      },
      { cniVersion: '1.1.0', name: 'rlnet', type: 'portmap', backend, prevResult: cache.result },
    );
    expect(pm.code).toBe(0);
    await w.flush();
    const r = await w.reload();
    expect(lines(r)).toContainEqual(`skipped  rlnet/${w.cid('c3')}/eth0 all: being deleted (teardown mark)`);
    expect(lines(r).filter((l) => l.includes(w.cid('c3')))).toHaveLength(1);
    expect(await w.forwards(8081, 'c1')).toBe(true);
    await w.del('c3');
    expect((await w.rules()).includes(w.cid('c3'))).toBe(false);
    expect(readdirSync(join(w.env['TSCNI_RUN_DIR'] ?? '', 'teardown'))).toEqual([]);
  });

  it('restores containers of a runtime that keeps no cache, from the leases and the firewall records', async () => {
    await w.sb.addContainer('d1');
    const list = JSON.parse(
      (await w.sb.exec('host', ['cat', join(w.env['NETCONFPATH'] ?? '', '10-rlnet.conflist')])).stdout,
    ) as { plugins: Array<Record<string, unknown>> };
    const plugin = (i: number, prevResult?: unknown): Record<string, unknown> => ({
      ...list.plugins[i],
      cniVersion: '1.1.0',
      name: 'rlnet',
      ...(prevResult === undefined ? {} : { prevResult }),
    });
    const direct = (type: string, command: string, config: unknown): Promise<RunResult> =>
      w.sb.runPlugin(
        join(BIN_DIR, type),
        { command, containerId: 'ctr-d1', netns: w.netns('d1'), ifName: 'eth0' },
        config,
      );
    const br = await direct('bridge', 'ADD', plugin(0));
    expect(br.code).toBe(0);
    expect((await direct('firewall', 'ADD', plugin(2, br.json))).code).toBe(0);
    expect(await w.masquerades('d1')).toBe(true);
    await w.flush();
    expect(await w.masquerades('d1')).toBe(false);
    const r = await w.reload();
    expect(lines(r).filter((l) => l.includes('ctr-d1'))).toEqual([
      expect.stringMatching(/^restored rlnet\/ctr-d1\/eth0 masquerade: /),
      expect.stringMatching(/^restored rlnet\/ctr-d1\/eth0 container forwarding: /),
    ]);
    expect(await w.masquerades('d1')).toBe(true);
    expect((await direct('firewall', 'DEL', plugin(2, br.json))).code).toBe(0);
    expect((await direct('bridge', 'DEL', plugin(0, br.json))).code).toBe(0);
    expect((await w.rules()).includes('ctr-d1')).toBe(false);
    expect(lines(await w.reload()).filter((l) => l.includes('ctr-d1'))).toEqual([]);
  });

  it('racing ADDs and DELs, reloads leave no rule of a deleted container and restore every live one', async () => {
    const names = ['r1', 'r2', 'r3', 'r4'];
    const churn = async (name: string, port: number): Promise<void> => {
      for (let i = 0; i < 3; i++) {
        await w.add(name, port);
        await w.del(name);
      }
    };
    const reloads = async (): Promise<void> => {
      for (let i = 0; i < 4; i++) {
        await w.flush();
        const r = await w.reload();
        expect(r.stdout).not.toMatch(/^failed/m);
      }
    };
    // Everything finishes before anything is judged (a failure must not leave calls running).
    const settled = await Promise.allSettled([...names.map((n, i) => churn(n, 8090 + i)), reloads()]);
    for (const s of settled) if (s.status === 'rejected') throw s.reason;
    const rules = await w.rules();
    for (const n of names) expect(rules.includes(w.cid(n))).toBe(false);
    await w.reload();
    await expectServing(w);
  });

  it('after a flush, one reload restores 50 containers in one transaction per family', async () => {
    // The programs a reload starts (its TSCNI_DEBUG timeline), printed for the README's table.
    const programsOf = async (label: string): Promise<string[]> => {
      await w.flush();
      const r = await w.tscni(['reload'], { TSCNI_DEBUG: '1' });
      expect(r.code).toBe(0);
      expect(r.stdout).not.toMatch(/^failed/m);
      const programs = [...r.stderr.matchAll(/ exec \d+ ms: (.*)$/gm)].map((m) => m[1] ?? '');
      const tally = new Map<string, number>();
      for (const p of programs)
        tally.set(p.split(' ').slice(0, 2).join(' '), (tally.get(p.split(' ').slice(0, 2).join(' ')) ?? 0) + 1);
      const counts = [...tally].map(([p, n]) => `${n}× ${p}`).join(', ');
      process.stderr.write(`reload after a flush, ${label} (${backend}): ${programs.length} programs (${counts})\n`);
      return programs;
    };
    // One container first (c2 goes).
    await w.del('c2');
    const one = await programsOf('1 container');
    expect(await w.masquerades('c1')).toBe(true);
    const many = Array.from({ length: 50 }, (_, i) => `m${i}`);
    for (const [i, name] of many.entries()) await w.add(name, 8200 + i);
    const before = await w.ruleSet();
    const programs = await programsOf('51 containers');
    // Everything back, none doubled, and the programs do not grow with the containers: the
    // reading, the batch's fresh reading, one write per family (nftables: nft -f and nft -j).
    expect(await w.ruleSet()).toEqual(before);
    expect(programs.length).toBe(one.length);
    expect(programs.filter((p) => /^(ip6?tables-restore|nft -f|nft -j (?!list))/.test(p))).toHaveLength(
      backend === 'iptables' ? 1 : 2,
    );
    expect(await w.masquerades('c1')).toBe(true);
    expect(await w.forwards(8081, 'c1')).toBe(true);
  });
});
