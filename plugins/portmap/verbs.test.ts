/** portmap's verbs in-process against a recording runner: the commands each verb runs, no root needed. */
import { beforeEach, describe, expect, it } from '@jest/globals';
import { RecordingRunner } from '../../lib/exec/recording';
import type { Command } from '../../lib/exec/runner';
import { resetBackendProbes } from '../../lib/firewall/backend';
import { dnChainName } from '../../lib/firewall/iptables/port-forwarding';
import { renderSkeleton } from '../../lib/firewall/nftables/port-forwarding';
import { callVerb, withRunner } from '../../lib/testutil/verbs';
import { add } from './add';
import { check } from './check';
import { del } from './del';
import { gc } from './gc';

const verbs = { add, check, del, gc };
const prevResult = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'br0' }, { name: 'veth1' }, { name: 'eth0', sandbox: '/nonexistent/netns' }],
  ips: [{ address: '10.0.0.2/24', interface: 2 }],
};
const conf = (extra: object = {}): object => ({
  cniVersion: '1.1.0',
  name: 'net1',
  type: 'portmap',
  prevResult,
  runtimeConfig: {
    portMappings: [
      { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
      { hostPort: 5353, containerPort: 53, protocol: 'udp' },
    ],
  },
  ...extra,
});
const is =
  (tool: string, ...argv: string[]) =>
  (c: Command) =>
    c.tool === tool && argv.every((a, i) => c.argv[i] === a);

beforeEach(() => resetBackendProbes());

describe('portmap ADD', () => {
  it('nftables: one read, one transaction, then conntrack; prevResult unchanged', async () => {
    const runner = new RecordingRunner().on(is('nft', '-j', 'list'), { exitCode: 1 });
    const out = await callVerb(withRunner(verbs, runner), 'ADD', conf({ backend: 'nftables' }));
    expect(out.code).toBe(0);
    expect(out.json['ips']).toEqual(prevResult.ips);
    expect(runner.lines()).toEqual([
      'nft -j list table inet tscni_hostport',
      'nft -f -',
      'conntrack -D -f ipv4 -p udp --orig-port-dst 5353',
    ]);
    const tx = String(runner.calls[1]?.input);
    expect(tx).toContain(
      'add element inet tscni_hostport anyports4 { tcp . 8080 comment "n=net1;c=c1;i=eth0" : 10.0.0.2 . 80 }',
    );
  });

  it('iptables: a host port another container holds is an error, and nothing is written', async () => {
    const runner = new RecordingRunner().on(is('iptables-save'), {
      stdout:
        '*nat\n:CNI-DN-0000000000000000000aa - [0:0]\n-A CNI-DN-0000000000000000000aa -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.0.0.9:80\nCOMMIT\n',
    });
    const out = await callVerb(withRunner(verbs, runner), 'ADD', conf({ backend: 'iptables' }));
    expect(out.code).toBe(1);
    expect(out.json).toMatchObject({ code: 999, msg: 'host port 8080/tcp is already forwarded to another container' });
    expect(runner.calls.filter((c) => c.tool.endsWith('-restore'))).toEqual([]);
  });
});

describe('portmap DEL', () => {
  it('without portMappings removes the chain in both backends and flushes conntrack for the ports it had', async () => {
    const dn = dnChainName('net1', 'c1');
    const runner = new RecordingRunner()
      .on((c) => c.tool === 'iptables' && c.argv.includes(dn), {
        stdout: `-N ${dn}\n-A ${dn} -p udp -m udp --dport 5353 -j DNAT --to-destination 10.0.0.2:53\n`,
      })
      .on(is('nft', '-j', 'list'), { exitCode: 1 });
    const out = await callVerb(withRunner(verbs, runner), 'DEL', {
      cniVersion: '1.1.0',
      name: 'net1',
      type: 'portmap',
    });
    expect(out.code).toBe(0);
    const lines = runner.lines();
    expect(lines).toContain('nft -j list table inet tscni_hostport');
    expect(lines.filter((l) => l.startsWith('iptables-restore'))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith('ip6tables-restore'))).toHaveLength(0);
    expect(lines).toContain('conntrack -D -f ipv4 -p udp --orig-port-dst 5353');
  });
  it('with prevResult and portMappings: one iptables-restore for the family with an address, no iptables read', async () => {
    const runner = new RecordingRunner().on(is('nft', '-j', 'list'), { exitCode: 1 });
    const out = await callVerb(withRunner(verbs, runner), 'DEL', conf());
    expect(out.code).toBe(0);
    // The nft read runs here only because netlink cannot answer outside Bun; the shipped
    // executable asks the kernel whether the table exists first (lib/netlink/nftables.ts).
    expect(runner.lines()).toEqual([
      'iptables-restore --noflush -w 10',
      'nft -j list table inet tscni_hostport',
      'conntrack -D -f ipv4 -p udp --orig-port-dst 5353',
    ]);
    expect(String(runner.calls[0]?.input)).toContain(`-X ${dnChainName('net1', 'c1')}`);
  });
});

describe('portmap CHECK and GC', () => {
  it('CHECK names the missing element', async () => {
    // The table's fixed part as `nft -j list table` shows it: its chains and their rules.
    const skeleton = renderSkeleton().flatMap((line): Array<Record<string, unknown>> => {
      const chain = /^add chain inet tscni_hostport (\S+)/.exec(line)?.[1];
      const rule = /^add rule inet tscni_hostport (\S+)/.exec(line)?.[1];
      return chain ? [{ chain: { name: chain } }] : rule ? [{ rule: { chain: rule } }] : [];
    });
    const runner = new RecordingRunner().on(is('nft', '-j', 'list'), {
      stdout: JSON.stringify({ nftables: skeleton }),
    });
    const out = await callVerb(withRunner(verbs, runner), 'CHECK', conf({ backend: 'nftables' }));
    expect(out.json).toMatchObject({ code: 999, msg: 'missing hostport element tcp . 8080 in anyports4' });
  });

  it('CHECK finds a flushed table (chains without their rules)', async () => {
    const runner = new RecordingRunner().on(is('nft', '-j', 'list'), {
      stdout: JSON.stringify({ nftables: [{ chain: { name: 'prerouting' } }, { chain: { name: 'hostports' } }] }),
    });
    const out = await callVerb(withRunner(verbs, runner), 'CHECK', conf({ backend: 'nftables' }));
    expect(out.json).toMatchObject({ code: 999, msg: 'nftables table inet tscni_hostport is incomplete' });
  });

  it('GC without a list of valid attachments changes nothing', async () => {
    const runner = new RecordingRunner();
    const out = await callVerb(withRunner(verbs, runner), 'GC', { cniVersion: '1.1.0', name: 'net1', type: 'portmap' });
    expect(out.code).toBe(0);
    expect(runner.calls).toEqual([]);
  });
});
