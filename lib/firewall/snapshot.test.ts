/**
 * A reload pass's snapshot on recording fakes whose answers are the kernel's own listings
 * (the golden files snapshot.int.test.ts writes from a sandbox): it reads each program once and
 * only when asked; every concern of `snapshotRules` is intact from it; a rule or element taken
 * out is broken, as the concern's check says on the same listing; what the snapshot cannot tell
 * (a rule that reads otherwise, an unreadable program) is unsure, for the check to decide.
 */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Family } from '../addr/ip';
import { FakeIptables } from '../testutil/fake-iptables';
import { snapshotRules as S } from '../testutil/firewall-requests';
import { driverFor } from './driver';
import type { Backend } from './backend';
import { checkSpoofcheck, inspectSpoofcheck } from './nftables/spoofcheck';
import { combine, groupRuleset, INTACT, RulesetSnapshot, unsure, type Finding } from './snapshot';
import { indexTable, splitSave } from './iptables/tables';

const golden = (name: string): string => readFileSync(join(__dirname, '__golden__', `${name}.txt`), 'utf8');
const SAVED: Record<Family, string> = {
  4: golden('snapshot-iptables-save-v4'),
  6: golden('snapshot-iptables-save-v6'),
};
const RULESET = golden('snapshot-nft-ruleset');

interface Host {
  v4?: string;
  v6?: string;
  /** `nft -j list ruleset` output; undefined: nft fails. */
  ruleset?: string | undefined;
  /** iptables-save fails. */
  noIptables?: boolean;
}

/**
 * The programs answering from the listings: iptables (save, -S, restore's -C) from a fake holding
 * the saved tables, nft's ruleset and each of its tables from the ruleset's JSON.
 */
function host(h: Host = {}): FakeIptables {
  const fw = new FakeIptables();
  fw.apply(4, h.v4 ?? SAVED[4]);
  fw.apply(6, h.v6 ?? SAVED[6]);
  fw.saveFails = h.noIptables === true;
  const ruleset = 'ruleset' in h ? h.ruleset : RULESET;
  fw.runner.on(
    (c) => c.tool === 'nft' && c.argv.join(' ') === '-j list ruleset',
    () => (ruleset === undefined ? { exitCode: 1, stderr: 'nft: no\n' } : { stdout: ruleset }),
  );
  fw.runner.on(
    (c) => c.tool === 'nft' && c.argv.slice(0, 3).join(' ') === '-j list table',
    (c) => {
      const objects = ruleset === undefined ? undefined : groupRuleset(ruleset).get(`${c.argv[3]} ${c.argv[4]}`);
      return objects ? { stdout: JSON.stringify({ nftables: objects }) } : { exitCode: 1, stderr: 'no such table\n' };
    },
  );
  return fw;
}

interface Judged {
  readonly what: string;
  inspect(s: RulesetSnapshot): Promise<Finding>;
  /** The check on the same listings; undefined where the fake cannot answer it (nft masquerade's text). */
  check?(): Promise<void>;
}

function concerns(fw: FakeIptables): Judged[] {
  const out: Judged[] = [];
  for (const backend of ['iptables', 'nftables'] as Backend[]) {
    const d = driverFor(backend, fw.runner);
    for (const x of ['a', 'b'] as const) {
      const masq: Judged = {
        what: `${backend} masquerade ${x}`,
        inspect: (s) => d.masquerade.inspect(S[x], S.masq[x], s),
      };
      out.push(
        backend === 'iptables' ? { ...masq, check: () => d.masquerade.check(S[x], S.masq[x]) } : masq,
        {
          what: `${backend} port forwarding ${x}`,
          inspect: (s) => d.portForwarding.inspect(S.ports[x], s),
          check: () => d.portForwarding.check(S.ports[x]),
        },
        {
          what: `${backend} container forwarding ${x}`,
          inspect: (s) => d.containerForwarding.inspect(S.forwarding[x], s),
          check: () => d.containerForwarding.check(S.forwarding[x]),
        },
      );
    }
  }
  out.push({
    what: 'MAC spoof check a',
    inspect: (s) => inspectSpoofcheck(s, S.spoof.ref, S.spoof.hostVeth, S.spoof.mac),
    check: () => checkSpoofcheck(fw.runner, S.spoof.ref, S.spoof.hostVeth, S.spoof.mac),
  });
  return out;
}

/** `<what>: <finding>[ (check: <intact|broken>)]` for every concern, from one snapshot. */
async function judge(h: Host = {}): Promise<{ lines: string[]; reads: string[]; findings: Map<string, Finding> }> {
  const fw = host(h);
  const list = concerns(fw);
  const snap = new RulesetSnapshot(fw.runner);
  const findings = new Map<string, Finding>();
  for (const c of list) findings.set(c.what, await c.inspect(snap));
  const reads = fw.runner.lines();
  const lines: string[] = [];
  for (const c of list) {
    const f = findings.get(c.what);
    const checked = c.check
      ? ` (check: ${await c.check().then(
          () => 'intact',
          () => 'broken',
        )})`
      : '';
    lines.push(`${c.what}: ${f?.state}${checked}`);
  }
  return { lines, reads, findings };
}

interface NftObject {
  rule?: { chain?: string; family?: string; comment?: unknown; expr?: unknown };
  map?: { name?: string; elem?: unknown[] };
  set?: { name?: string; elem?: unknown[] };
}
/** The ruleset's JSON with its objects changed. */
const edited = (change: (objs: NftObject[]) => NftObject[]): string => {
  const doc = JSON.parse(RULESET) as { nftables: NftObject[] };
  return JSON.stringify({ nftables: change(doc.nftables) });
};

/** The listing without the lines `drop` picks. */
const without = (text: string, drop: (line: string) => boolean): string =>
  text
    .split('\n')
    .filter((l) => !drop(l))
    .join('\n');

/** Lines of `lines` whose concern matches, and the state each should have. */
const stateOf = (lines: string[], what: string): string | undefined =>
  lines.find((l) => l.startsWith(`${what}: `))?.slice(what.length + 2);

describe('reading the host', () => {
  it('reads each program once, and only when a concern asks', async () => {
    const fw = host();
    const snap = new RulesetSnapshot(fw.runner);
    expect(fw.runner.calls).toEqual([]);
    await snap.iptables(4, 'nat');
    await snap.iptables(4, 'filter');
    await Promise.all([snap.nftTable('inet', 'tscni_hostport'), snap.nftTable('bridge', 'nat')]);
    await snap.nftTable('inet', 'absent');
    expect(fw.runner.lines()).toEqual(['iptables-save', 'nft -j list ruleset']);
  });

  it('splits iptables-save per table and knows a table the host lacks as empty', async () => {
    const tables = splitSave(`# Generated\n${SAVED[4]}# Completed\n`);
    expect([...tables.keys()].sort()).toEqual(['filter', 'nat']);
    const nat = indexTable(tables.get('nat') ?? '');
    expect(nat.chains.has('POSTROUTING')).toBe(true);
    expect(nat.rulesOf('PREROUTING')).toEqual(['-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT']);
    const snap = new RulesetSnapshot(host({ v4: '*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n' }).runner);
    expect(await snap.iptables(4, 'nat')).toMatchObject({ rules: [] });
    expect((await snap.nftTable('inet', 'absent'))?.exists).toBe(false);
  });

  it('combines findings: broken before unsure before intact', () => {
    const broken: Finding = { state: 'broken', detail: 'x' };
    expect(combine([INTACT, unsure('u'), broken])).toBe(broken);
    expect(combine([INTACT, unsure('u')])).toEqual(unsure('u'));
    expect(combine([])).toBe(INTACT);
  });
});

describe('judging every concern from the listings', () => {
  it('finds everything intact from three readings, as every check says', async () => {
    const { lines, reads } = await judge();
    expect(lines.filter((l) => !/: intact( \(check: intact\))?$/.test(l))).toEqual([]);
    expect(lines).toHaveLength(13);
    expect(reads.sort()).toEqual(['ip6tables-save', 'iptables-save', 'nft -j list ruleset']);
  });

  it('iptables: a missing jump, chain rule, DNAT rule or accept is broken, as check says; the rest intact', async () => {
    const v4 = without(
      SAVED[4],
      (l) =>
        // b's masquerade jump, a's v4 accept of everything from it, a's udp DNAT
        (l.startsWith('-A POSTROUTING -s 10.88.0.3/32 ') && l.includes('id: \\"beef\\"')) ||
        l === '-A CNI-FORWARD -s 10.88.0.2/32 -j ACCEPT' ||
        (l.includes('--dport 5353 -j DNAT') && l.includes('10.88.0.2:53')),
    );
    const { lines, findings } = await judge({ v4 });
    expect(stateOf(lines, 'iptables masquerade a')).toBe('intact (check: intact)');
    expect(stateOf(lines, 'iptables masquerade b')).toBe('broken (check: broken)');
    expect(stateOf(lines, 'iptables container forwarding a')).toBe('broken (check: broken)');
    expect(stateOf(lines, 'iptables container forwarding b')).toBe('intact (check: intact)');
    expect(stateOf(lines, 'iptables port forwarding a')).toBe('broken (check: broken)');
    expect(stateOf(lines, 'iptables port forwarding b')).toBe('intact (check: intact)');
    expect(lines.filter((l) => !l.startsWith('iptables')).every((l) => / intact( |$)/.test(l))).toBe(true);
    expect(findings.get('iptables masquerade b')).toEqual({
      state: 'broken',
      detail: expect.stringMatching(/^masquerade rule not found in iptables table nat: a jump to CNI-/),
    });
  });

  it('iptables -F: every iptables concern is broken (chains left empty)', async () => {
    const flushed = (t: string): string => without(t, (l) => l.startsWith('-A '));
    const { lines } = await judge({ v4: flushed(SAVED[4]), v6: flushed(SAVED[6]) });
    for (const l of lines.filter((x) => x.startsWith('iptables'))) expect(l).toMatch(/: broken \(check: broken\)$/);
  });

  it('iptables masquerade listed otherwise than rendered is unsure: its check decides', async () => {
    const v4 = SAVED[4].replace(
      '! -d 224.0.0.0/4 -m comment --comment "name: \\"podman\\" id: \\"c0ffee\\""',
      '! -d 224.0.0.0/4 -m comment --comment "other"',
    );
    expect(v4).not.toBe(SAVED[4]);
    const { lines } = await judge({ v4 });
    expect(stateOf(lines, 'iptables masquerade a')).toBe('unsure (check: broken)');
    expect(stateOf(lines, 'iptables masquerade b')).toBe('intact (check: intact)');
  });

  it('nftables: a missing rule or element is broken, as check says; a rule that reads otherwise is unsure', async () => {
    // b's masquerade rule, b's any-port element, a's v6 address, a's spoof-check drop rule.
    const ruleset = edited((objs) =>
      objs
        .filter((o) => !(o.rule?.chain === 'masq_checks' && String(o.rule.comment).includes('id: beef')))
        .filter((o) => !(o.rule?.family === 'bridge' && JSON.stringify(o.rule.expr) === '[{"drop":null}]'))
        .map((o) => {
          const set = o.map ?? o.set;
          if (set?.name === 'anyports4' || set?.name === 'containers6')
            set.elem = set.elem?.filter((e) => !/8081|fd00:88::2/.test(JSON.stringify(e)));
          return o;
        }),
    );
    const { lines } = await judge({ ruleset });
    expect(stateOf(lines, 'nftables masquerade a')).toBe('intact');
    expect(stateOf(lines, 'nftables masquerade b')).toBe('broken');
    expect(stateOf(lines, 'nftables port forwarding a')).toBe('intact (check: intact)');
    expect(stateOf(lines, 'nftables port forwarding b')).toBe('broken (check: broken)');
    expect(stateOf(lines, 'nftables container forwarding a')).toBe('broken (check: broken)');
    expect(stateOf(lines, 'nftables container forwarding b')).toBe('intact (check: intact)');
    expect(stateOf(lines, 'MAC spoof check a')).toBe('broken (check: broken)');

    const odd = RULESET.replace('"right":"10.88.0.3"}', '"right":"10.88.0.33"}');
    expect(odd).not.toBe(RULESET);
    expect(stateOf((await judge({ ruleset: odd })).lines, 'nftables masquerade b')).toBe('unsure');
  });

  it('nft flush ruleset: every nftables concern is broken; nft unreadable: unsure, left to the checks', async () => {
    const flushed = await judge({ ruleset: '{"nftables": [{"metainfo": {"version": "1.0.6"}}]}' });
    for (const l of flushed.lines.filter((x) => !x.startsWith('iptables')))
      expect(l).toMatch(/: broken( \(check: broken\))?$/);
    const unread = await judge({ ruleset: undefined });
    for (const l of unread.lines.filter((x) => !x.startsWith('iptables'))) expect(l).toMatch(/: unsure/);
    expect(unread.lines.filter((x) => x.startsWith('iptables')).every((l) => / intact/.test(l))).toBe(true);
  });

  it('iptables-save unreadable: the iptables concerns are unsure', async () => {
    const { lines } = await judge({ noIptables: true });
    for (const l of lines.filter((x) => x.startsWith('iptables'))) expect(l).toMatch(/: unsure/);
  });
});
