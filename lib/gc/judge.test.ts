/** gc's judgement, rule by rule: what keeps an attachment and what proves its container gone. */
import { describe, expect, it } from '@jest/globals';
import { criOwns, judge, podmanOwns, type Evidence, type Facts } from './judge';

const NOW = 1_000_000_000;
const BOOT = NOW - 3_600_000;
const ref = { networkName: 'net', containerId: 'c1', ifName: 'eth0' };
const lease = (ip: string, age: number) => ({ ip, dataDir: '/d', mtimeMs: NOW - age });
const cached = (netns: string, age: number, cniArgs: Array<[string, string]> = []) => ({
  file: '/cache/net-c1-eth0',
  netns,
  cniArgs,
  mtimeMs: NOW - age,
});
const facts = (f: Partial<Facts> = {}): Facts => ({
  now: NOW,
  bootTime: BOOT,
  minAgeMs: 60_000,
  busy: new Set(),
  runtimes: [],
  netnsExists: () => false,
  addressHolder: () => undefined,
  ...f,
});
const cri = (ids: string[]) => ({ name: 'CRI', ids: new Set(ids), owns: criOwns });
const criArgs: Array<[string, string]> = [
  ['K8S_POD_NAMESPACE', 'ns'],
  ['K8S_POD_INFRA_CONTAINER_ID', 'c1'],
];

describe('judge', () => {
  it('keeps a container a plugin call is running for, whatever else is said', () => {
    const e: Evidence = { attachment: ref, leases: [lease('10.0.0.2', 10 * 3_600_000)] };
    expect(judge(e, facts({ busy: new Set(['c1']) }))).toEqual({ gone: false, why: 'a plugin call for it is running' });
  });

  it('keeps what a runtime lists, even when its netns is gone', () => {
    const e: Evidence = { attachment: ref, cache: cached('/run/netns/x', 600_000), leases: [] };
    expect(judge(e, facts({ runtimes: [cri(['c1'])] })).gone).toBe(false);
  });

  it('the owning runtime not listing it: gone once older than the minimum age', () => {
    const old: Evidence = { attachment: ref, cache: cached('/run/netns/x', 600_000, criArgs), leases: [] };
    const young: Evidence = { attachment: ref, cache: cached('/run/netns/x', 1_000, criArgs), leases: [] };
    const f = facts({ runtimes: [cri(['other'])], netnsExists: () => true });
    expect(judge(old, f)).toEqual({ gone: true, why: 'CRI does not list it' });
    expect(judge(young, f).gone).toBe(false);
    // Not CRI's (no K8S_POD_INFRA_CONTAINER_ID): CRI's silence says nothing; the netns decides.
    const mine: Evidence = { attachment: ref, cache: cached('/run/netns/x', 600_000), leases: [] };
    expect(judge(mine, f)).toEqual({ gone: false, why: 'its netns /run/netns/x exists' });
  });

  it('gone when everything predates the last boot (leases outlive namespaces)', () => {
    const e: Evidence = { attachment: ref, leases: [lease('10.0.0.2', 2 * 3_600_000)] };
    expect(judge(e, facts())).toEqual({ gone: true, why: 'everything it left predates the last boot' });
  });

  it('a known netns decides: gone when the path is gone, kept while it exists', () => {
    const e: Evidence = { attachment: ref, cache: cached('/run/netns/x', 5), leases: [lease('10.0.0.2', 5)] };
    expect(judge(e, facts()).gone).toBe(true);
    expect(judge(e, facts({ netnsExists: () => true })).gone).toBe(false);
  });

  it('no netns known: kept while a namespace holds its address on its interface, else gone when old enough', () => {
    const e: Evidence = { attachment: ref, leases: [lease('10.0.0.2', 600_000)] };
    const holder = (ip: string, ifName: string) =>
      ip === '10.0.0.2' && ifName === 'eth0' ? '/proc/7/ns/net' : undefined;
    expect(judge(e, facts({ addressHolder: holder }))).toEqual({
      gone: false,
      why: '10.0.0.2 is on eth0 in /proc/7/ns/net',
    });
    expect(judge(e, facts())).toEqual({ gone: true, why: 'no network namespace holds 10.0.0.2 on eth0' });
    expect(judge({ attachment: ref, leases: [lease('10.0.0.2', 5)] }, facts()).gone).toBe(false);
    expect(judge({ attachment: ref, leases: [lease('10.0.0.2', 5)] }, facts({ minAgeMs: 0 })).gone).toBe(true);
  });

  it('keeps what nothing speaks about', () => {
    expect(judge({ attachment: ref, cache: cached('', 600_000), leases: [] }, facts()).gone).toBe(false);
  });

  it('ownership from CNI_ARGS: CRI by its infra container ID, podman by a pod name without a namespace', () => {
    const e = (args: Array<[string, string]>): Evidence => ({
      attachment: ref,
      cache: cached('', 1, args),
      leases: [],
    });
    expect(criOwns(e(criArgs))).toBe(true);
    expect(criOwns(e([['K8S_POD_INFRA_CONTAINER_ID', 'other']]))).toBe(false);
    expect(
      podmanOwns(
        e([
          ['IgnoreUnknown', '1'],
          ['K8S_POD_NAME', 'web'],
        ]),
      ),
    ).toBe(true);
    expect(podmanOwns(e(criArgs))).toBe(false);
    expect(podmanOwns({ attachment: ref, leases: [] })).toBe(false);
  });
});
