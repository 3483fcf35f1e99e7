/**
 * lib/firewall/text.ts against the real programs, and the plugins given interface names that
 * broke nft text before it (issue 20, row 1). In a sandbox: what the quoting functions write,
 * nft and iptables-restore read back as exactly the value; a firewall ADD on the nftables backend
 * with CNI_IFNAME `",6.6.6.6}#` once added 6.6.6.6 to the addresses it lets through (and DEL left
 * it); the MAC spoof check, portmap and masquerade on nftables now take such names whole, and
 * DEL leaves nothing. The reference (1.1.1, go-nft JSON) handles the spoof check's names too.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { BIN_DIR, REFERENCE_DIR, Sandbox, type RunResult } from '../testutil/sandbox';

import { iptComment, nftComment, nftString, ownerTag } from './text';

const IFNAMES = ['",6.6.6.6}#', 'e"x;{}$\\', "a'b`c|d&"];

let sb: Sandbox;
let ctrNs: string;
beforeAll(async () => {
  sb = await Sandbox.create('text');
  ctrNs = await sb.addContainer('c');
});
afterAll(async () => sb.destroy());

const ok = (r: RunResult): RunResult => {
  if (r.code !== 0) throw new Error(`failed: ${r.stdout}${r.stderr}`);
  return r;
};

describe('the programs read back exactly what text.ts writes', () => {
  // Every printable ASCII character in a word, and words made of the awkward ones.
  const samples = [
    ...Array.from({ length: 95 }, (_, i) => `a${String.fromCharCode(32 + i)}b`),
    'say "hi" \\ -j ACCEPT',
    '\\"',
    '"',
    '\\',
    'é ü 💀',
  ];

  it('iptables-restore: a quoted comment is one word with the exact bytes', async () => {
    const lines = ['*filter', ':TXT-TEST - [0:0]', ...samples.map((s) => `-A TXT-TEST ${iptComment(s)} -j RETURN`)];
    ok(await sb.exec('host', ['iptables-restore', '--noflush'], { input: [...lines, 'COMMIT', ''].join('\n') }));
    // iptables -C with the comment as one argv element: the rule with exactly that comment exists.
    for (const s of samples)
      ok(await sb.exec('host', ['iptables', '-C', 'TXT-TEST', '-m', 'comment', '--comment', s, '-j', 'RETURN']));
  });

  it('nft: a quoted string is the exact bytes, as an ifname set element and as a comment', async () => {
    const words = samples.filter((s) => !/["\\]/.test(s) && /^[\x20-\x7e]*$/.test(s));
    const lines = [
      'add table inet txt_test',
      'add set inet txt_test names { type ifname ; }',
      ...words.map((s, i) => `add element inet txt_test names { ${nftString(`n${i}`, 'name')} ${nftComment(s)} }`),
    ];
    ok(await sb.exec('host', ['nft', '-f', '-'], { input: lines.join('\n') + '\n' }));
    const listed = JSON.parse(
      (await sb.exec('host', ['nft', '-j', 'list', 'set', 'inet', 'txt_test', 'names'])).stdout,
    );
    const comments = (listed.nftables as Array<{ set?: { elem: Array<{ elem: { comment: string } }> } }>)
      .flatMap((o) => o.set?.elem ?? [])
      .map((e) => e.elem.comment);
    expect(comments.sort()).toEqual([...words].sort());
    ok(await sb.exec('host', ['nft', 'delete', 'table', 'inet', 'txt_test']));
  });

  it('owner tags are plain or hashed, never anything nft would read otherwise', () => {
    for (const n of IFNAMES.slice(0, 2)) expect(ownerTag('net', 'ctr', n)).toMatch(/^h=[0-9a-f]{40}$/);
    expect(ownerTag('net', 'ctr', IFNAMES[2] ?? '')).toBe(`n=net;c=ctr;i=${IFNAMES[2]}`);
  });
});

describe('plugins given hostile interface names', () => {
  const prev = (ifName: string, address: string): Record<string, unknown> => ({
    cniVersion: '1.0.0',
    interfaces: [{ name: 'hbr0' }, { name: 'vethx' }, { name: ifName, sandbox: '/run/netns/x' }],
    ips: [{ interface: 2, address }],
  });
  const call = (exe: string, command: string, ifName: string, config: unknown): Promise<RunResult> =>
    sb.runPlugin(exe, { command, containerId: 'ctr-h', netns: ctrNs, ifName }, config);

  it('firewall (nftables): the set holds the container’s address only, and DEL empties it', async () => {
    const conf = (ifName: string): Record<string, unknown> => ({
      cniVersion: '1.0.0',
      name: 'hnet',
      type: 'firewall',
      backend: 'nftables',
      dataDir: join(sb.dir, 'fw'),
      prevResult: prev(ifName, '10.66.0.2/24'),
    });
    for (const ifName of IFNAMES) {
      ok(await call(join(BIN_DIR, 'firewall'), 'ADD', ifName, conf(ifName)));
      const set = (await sb.exec('host', ['nft', 'list', 'set', 'inet', 'tscni_firewall', 'containers4'])).stdout;
      expect(set).toContain('10.66.0.2');
      expect(set).not.toContain('6.6.6.6');
      ok(await call(join(BIN_DIR, 'firewall'), 'DEL', ifName, conf(ifName)));
      const after = (await sb.exec('host', ['nft', 'list', 'set', 'inet', 'tscni_firewall', 'containers4'])).stdout;
      expect(after).not.toMatch(/10\.66\.0\.2|6\.6\.6\.6/);
    }
  });

  it('portmap (nftables): ADD, CHECK and DEL work and leave no element', async () => {
    const conf = (ifName: string): Record<string, unknown> => ({
      cniVersion: '1.0.0',
      name: 'hnet',
      type: 'portmap',
      backend: 'nftables',
      runtimeConfig: { portMappings: [{ hostPort: 18080, containerPort: 80, protocol: 'tcp' }] },
      prevResult: prev(ifName, '10.66.0.3/24'),
    });
    for (const ifName of IFNAMES) {
      for (const verb of ['ADD', 'CHECK', 'DEL']) ok(await call(join(BIN_DIR, 'portmap'), verb, ifName, conf(ifName)));
      const table = (await sb.exec('host', ['nft', 'list', 'table', 'inet', 'tscni_hostport'])).stdout;
      expect(table).not.toContain('10.66.0.3');
    }
  });

  it('bridge: the MAC spoof check and nftables masquerade take the name whole; either DEL removes the other’s', async () => {
    // Masquerade only between ours: the reference 1.1.1 has no nftables masquerade.
    const conf = (exeDir: string, masq = false): Record<string, unknown> => ({
      cniVersion: '1.0.0',
      name: 'hnet',
      type: 'bridge',
      bridge: 'hbr0',
      isGateway: true,
      ...(masq ? { ipMasq: true, ipMasqBackend: 'nftables' } : {}),
      macspoofchk: true,
      ipam: { type: 'host-local', subnet: '10.67.0.0/24', dataDir: join(sb.dir, `ipam-${exeDir === BIN_DIR}`) },
    });
    const ns = await sb.addContainer('br');
    const bridgeCall = (exeDir: string, command: string, ifName: string, config: unknown): Promise<RunResult> =>
      sb.runPlugin(join(exeDir, 'bridge'), { command, containerId: 'ctr-h', netns: ns, ifName, path: exeDir }, config);
    const spoofChains = async (): Promise<string> =>
      (await sb.exec('host', ['nft', 'list', 'table', 'bridge', 'nat'])).stdout;
    for (const ifName of IFNAMES) {
      // Ours, then DEL by ours; ours, then DEL by the reference; the reference's, then DEL by ours.
      for (const [adder, deleter] of [
        [BIN_DIR, BIN_DIR],
        [BIN_DIR, REFERENCE_DIR],
        [REFERENCE_DIR, BIN_DIR],
      ] as const) {
        const config = conf(adder, adder === deleter);
        const added = ok(await bridgeCall(adder, 'ADD', ifName, config));
        expect(await spoofChains()).toContain(`macspoofchk-ctr-h-${ifName}`);
        if (adder === BIN_DIR) ok(await bridgeCall(adder, 'CHECK', ifName, { ...config, prevResult: added.json }));
        ok(await bridgeCall(deleter, 'DEL', ifName, config));
        expect(await spoofChains()).not.toContain('cni-br-iface-ctr-h');
      }
    }
    const masq = (await sb.exec('host', ['nft', 'list', 'table', 'inet', 'cni_plugins_masquerade'])).stdout;
    expect(masq).not.toContain('10.67.0.');
  });
});
