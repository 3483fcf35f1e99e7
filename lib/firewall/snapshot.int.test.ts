/**
 * A reload pass's snapshot against the real programs, in a sandbox: the rules of
 * lib/testutil/firewall-requests.ts' `snapshotRules` set up by the drivers on both backends, then
 * read back as `iptables-save`, `ip6tables-save` and `nft -j list ruleset` list them — those
 * listings are the golden files snapshot.test.ts reads (`make golden` rewrites them). From one
 * snapshot every concern is intact, as its own check says, with one program per reading; after
 * `iptables -F` (and the nat table's) and after `nft flush ruleset`, the concerns of what was
 * flushed are broken, as their checks say, and the others still intact.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ExecError, formatCommandLine, type Runner } from '../exec/runner';
import { expectGolden } from '../testutil/golden';
import { forwardingChange, snapshotRules as S } from '../testutil/firewall-requests';
import { Sandbox } from '../testutil/sandbox';
import { driverFor } from './driver';
import { checkSpoofcheck, inspectSpoofcheck, setupSpoofcheck } from './nftables/spoofcheck';
import { groupRuleset, RulesetSnapshot, type Finding } from './snapshot';
import type { Backend } from './backend';

let sb: Sandbox;
const programs: string[] = [];
/** The programs, run in the sandbox's host netns; each command line noted. */
const runner: Runner = {
  async run(cmd) {
    programs.push(formatCommandLine(cmd.tool, cmd.argv));
    const input = cmd.input === undefined ? undefined : String(cmd.input);
    const r = await sb.exec('host', [cmd.tool, ...cmd.argv], input === undefined ? {} : { input });
    if (r.code !== 0 && !cmd.allowFailure)
      throw new ExecError(formatCommandLine(cmd.tool, cmd.argv), r.code, r.stdout, r.stderr);
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.code };
  },
};

/** Our tables, in a fixed order: what the nftables golden holds. */
const OUR_TABLES = ['inet cni_plugins_masquerade', 'inet tscni_hostport', 'inet tscni_firewall', 'bridge nat'];

/** Every concern of the two attachments on one backend (the spoof check is nftables' on both). */
function concerns(
  backend: Backend,
): Array<{ what: string; inspect: (s: RulesetSnapshot) => Promise<Finding>; check: () => Promise<void> }> {
  const d = driverFor(backend, runner);
  const out = [];
  for (const x of ['a', 'b'] as const) {
    const a = S[x];
    out.push(
      {
        what: `${backend} masquerade ${x}`,
        inspect: (s: RulesetSnapshot) => d.masquerade.inspect(a, S.masq[x], s),
        check: () => d.masquerade.check(a, S.masq[x]),
      },
      {
        what: `${backend} port forwarding ${x}`,
        inspect: (s: RulesetSnapshot) => d.portForwarding.inspect(S.ports[x], s),
        check: () => d.portForwarding.check(S.ports[x]),
      },
      {
        what: `${backend} container forwarding ${x}`,
        inspect: (s: RulesetSnapshot) => d.containerForwarding.inspect(S.forwarding[x], s),
        check: () => d.containerForwarding.check(S.forwarding[x]),
      },
    );
  }
  return out;
}

const spoof = {
  what: 'MAC spoof check a',
  inspect: (s: RulesetSnapshot) => inspectSpoofcheck(s, S.spoof.ref, S.spoof.hostVeth, S.spoof.mac),
  check: () => checkSpoofcheck(runner, S.spoof.ref, S.spoof.hostVeth, S.spoof.mac),
};

/** Each concern's finding from one snapshot, and what its check says, as `<what>: <finding> / <check>`. */
async function judged(list: ReturnType<typeof concerns>): Promise<{ lines: string[]; reads: string[] }> {
  programs.length = 0;
  const snap = new RulesetSnapshot(runner);
  const findings = [];
  for (const c of list) findings.push(await c.inspect(snap));
  const reads = [...programs].sort();
  const lines = [];
  for (const [i, c] of list.entries()) {
    const checked = await c.check().then(
      () => 'intact',
      () => 'broken',
    );
    lines.push(`${c.what}: ${findings[i]?.state} / ${checked}`);
  }
  return { lines, reads };
}

describe('the snapshot against the kernel', () => {
  const all = (): ReturnType<typeof concerns> => [...concerns('iptables'), ...concerns('nftables'), spoof];

  beforeAll(async () => {
    sb = await Sandbox.create('snap');
    for (const backend of ['iptables', 'nftables'] as const) {
      const d = driverFor(backend, runner);
      for (const x of ['a', 'b'] as const) {
        await d.masquerade.setup(S[x], S.masq[x]);
        await d.portForwarding.setup(S.ports[x]);
        await d.containerForwarding.apply(forwardingChange({ ...S.forwarding[x], owner: S[x] }));
      }
    }
    await setupSpoofcheck(runner, S.spoof.ref, S.spoof.hostVeth, S.spoof.mac);
  });
  afterAll(async () => sb?.destroy());

  it('lists the rules as the goldens the unit tests read hold', async () => {
    for (const family of [4, 6] as const) {
      const save = (await sb.exec('host', [family === 6 ? 'ip6tables-save' : 'iptables-save'])).stdout;
      expectGolden(
        __dirname,
        `snapshot-iptables-save-v${family}`,
        save
          .split('\n')
          .filter((l) => !l.startsWith('#'))
          .join('\n'),
      );
    }
    const grouped = groupRuleset((await sb.exec('host', ['nft', '-j', 'list', 'ruleset'])).stdout);
    const ours = OUR_TABLES.flatMap((t) => grouped.get(t) ?? []);
    expectGolden(
      __dirname,
      'snapshot-nft-ruleset',
      `{"nftables": [\n${ours.map((o) => JSON.stringify(o)).join(',\n')}\n]}`,
    );
  });

  it('every concern is intact from one reading per program, as its check says', async () => {
    const { lines, reads } = await judged(all());
    expect(lines.filter((l) => l.endsWith(': intact / intact'))).toEqual(lines);
    expect(reads).toEqual(['ip6tables-save', 'iptables-save', 'nft -j list ruleset']);
  });

  it('after iptables -F, the iptables concerns are broken and the nftables ones intact, as their checks say', async () => {
    for (const tool of ['iptables', 'ip6tables'])
      for (const table of ['nat', 'filter']) await sb.exec('host', [tool, '-t', table, '-F']);
    const { lines } = await judged(all());
    for (const l of lines)
      expect(l).toBe(`${l.split(':')[0]}: ${l.startsWith('iptables') ? 'broken / broken' : 'intact / intact'}`);
  });

  it('after nft flush ruleset, every concern is broken, as its check says', async () => {
    await sb.exec('host', ['nft', 'flush', 'ruleset']);
    const { lines } = await judged(all());
    for (const l of lines) expect(l).toBe(`${l.split(':')[0]}: broken / broken`);
  });
});
