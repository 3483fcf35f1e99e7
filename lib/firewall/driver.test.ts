/** The firewall drivers against a recording runner: what they read, what they write, what they conclude. */
import { beforeEach, describe, expect, it } from '@jest/globals';
import { RecordingRunner } from '../exec/recording';
import type { Command } from '../exec/runner';
import { resetBackendProbes } from './backend';
import { driverFor, inEveryBackend, withDriver } from './driver';
import { testAttachment } from '../testutil/invocation';
import { renderMasqSetup } from './iptables/masquerade';
import { masqComment } from './nftables/masquerade';
import { dnChainName, planOf, renderPortmapTeardown } from './iptables/port-forwarding';
import { portForwardRequest } from '../testutil/firewall-requests';
import { chainName } from './names';
import { NftablesDriver } from './nftables/driver';

const ctr = testAttachment('net1', 'c1', 'eth0');
const chain = chainName('net1', 'c1');
const is =
  (tool: string, ...argv: string[]) =>
  (c: Command) =>
    c.tool === tool && argv.every((a, i) => c.argv[i] === a);
const listsChain = (name: string) => (c: Command) =>
  c.tool.endsWith('tables') && c.argv.includes('-S') && c.argv.includes(name);

beforeEach(() => resetBackendProbes());

describe('iptables masquerade', () => {
  it('teardown reads only POSTROUTING and the container chain, then writes one restore per family', async () => {
    const runner = new RecordingRunner()
      .on(listsChain('POSTROUTING'), (c) => ({
        stdout:
          c.tool === 'iptables'
            ? `-P POSTROUTING ACCEPT\n-A POSTROUTING -s 10.0.0.2/32 -m comment --comment "x" -j ${chain}\n`
            : '-P POSTROUTING ACCEPT\n',
      }))
      .on(listsChain(chain), (c) => (c.tool === 'iptables' ? { stdout: `-N ${chain}\n` } : { exitCode: 1 }));
    await driverFor('iptables', runner).masquerade.teardown(ctr);
    const restores = runner.calls.filter((c) => c.tool.endsWith('-restore'));
    expect(restores.map((c) => c.tool)).toEqual(['iptables-restore']);
    expect(restores[0]?.input).toBe(
      `*nat\n-D POSTROUTING -s 10.0.0.2/32 -m comment --comment "x" -j ${chain}\n-F ${chain}\n-X ${chain}\nCOMMIT\n`,
    );
    expect(runner.lines().filter((l) => l.includes(' -S '))).toHaveLength(4);
    expect(runner.calls.some((c) => c.tool.endsWith('-save'))).toBe(false);
  });

  it('check is one iptables-restore of -C lines per family and names the first missing rule', async () => {
    const addrs = [{ address: '10.0.0.2', subnet: '10.0.0.0/24' }];
    const rules = renderMasqSetup(ctr, addrs, 4)
      .split('\n')
      .filter((l) => l.startsWith('-A '));
    const full = new RecordingRunner();
    await driverFor('iptables', full).masquerade.check(ctr, addrs);
    expect(full.lines()).toEqual(['iptables-restore --noflush -w 10']);
    expect(full.calls[0]?.input).toBe(`*nat\n${rules.map((r) => `-C ${r.slice(3)}`).join('\n')}\nCOMMIT\n`);
    const partial = new RecordingRunner().on(is('iptables-restore'), {
      exitCode: 1,
      stderr: 'iptables-restore: line 3 failed: Bad rule (does a matching rule exist in that chain?).\n',
    });
    await expect(driverFor('iptables', partial).masquerade.check(ctr, addrs)).rejects.toMatchObject({
      code: 999,
      msg: 'masquerade rule not found in iptables table nat',
      details: rules[1],
    });
    const broken = new RecordingRunner().on(is('iptables-restore'), { exitCode: 2, stderr: 'no lock\n' });
    await expect(driverFor('iptables', broken).masquerade.check(ctr, addrs)).rejects.toThrow('no lock');
  });
});

describe('nftables masquerade', () => {
  it('setup replaces the attachment’s old rules in the same transaction', async () => {
    const runner = new RecordingRunner().on(is('nft', '-a', 'list', 'chain'), {
      stdout:
        '\t\tip saddr 10.0.0.9 ip daddr != 10.0.0.0/24 masquerade comment "other" # handle 3\n' +
        `\t\tip saddr 10.0.0.7 ip daddr != 10.0.0.0/24 masquerade comment "${masqComment(ctr)}" # handle 4\n`,
    });
    await driverFor('nftables', runner).masquerade.setup(ctr, [{ address: '10.0.0.2', subnet: '10.0.0.0/24' }]);
    const tx = runner.calls.find((c) => c.argv[0] === '-f');
    expect(String(tx?.input)).toContain('delete rule inet cni_plugins_masquerade masq_checks handle 4\n');
    expect(String(tx?.input)).not.toContain('handle 3');
    expect(String(tx?.input)).toContain('add rule inet cni_plugins_masquerade masq_checks ip saddr == 10.0.0.2');
  });

  it('check reports a missing rule and a missing table', async () => {
    const none = new RecordingRunner().on(is('nft', 'list', 'table'), { exitCode: 1 });
    await expect(
      driverFor('nftables', none).masquerade.check(ctr, [{ address: '10.0.0.2', subnet: '10.0.0.0/24' }]),
    ).rejects.toMatchObject({ msg: 'nftables table inet cni_plugins_masquerade not found' });
    const empty = new RecordingRunner().on(is('nft', 'list', 'table'), {
      stdout: 'table inet cni_plugins_masquerade {\n\tchain postrouting {\n\t\tgoto masq_checks\n\t}\n}\n',
    });
    await expect(
      driverFor('nftables', empty).masquerade.check(ctr, [{ address: '10.0.0.2', subnet: '10.0.0.0/24' }]),
    ).rejects.toMatchObject({ msg: 'masquerade rule not found in inet cni_plugins_masquerade' });
  });
});

describe('nftables teardown and GC where the table is absent', () => {
  const withTable = (answer: boolean | undefined): { runner: RecordingRunner; d: NftablesDriver; asked: string[] } => {
    const asked: string[] = [];
    const runner = new RecordingRunner().on(is('nft', '-a', 'list', 'chain'), {
      stdout: `\t\tip saddr 10.0.0.2 ip daddr != 10.0.0.0/24 masquerade comment "${masqComment(ctr)}" # handle 4\n`,
    });
    return {
      runner,
      asked,
      d: new NftablesDriver(runner, (family, name) => {
        asked.push(`${family} ${name}`);
        return answer;
      }),
    };
  };

  it('starts no nft when netlink says the table does not exist', async () => {
    const { runner, d, asked } = withTable(false);
    await d.masquerade.teardown(ctr);
    await d.masquerade.gc('net1', new Set());
    const removed = await d.portForwarding.teardown(ctr);
    await d.portForwarding.gc('net1', new Set());
    expect(runner.calls).toHaveLength(0);
    expect([...removed.entries()]).toEqual([]);
    expect(asked).toEqual([
      'inet cni_plugins_masquerade',
      'inet cni_plugins_masquerade',
      'inet tscni_hostport',
      'inet tscni_hostport',
    ]);
  });

  it('reads and writes one transaction as before when the table exists or netlink cannot tell', async () => {
    for (const answer of [true, undefined]) {
      const { runner, d } = withTable(answer);
      await d.masquerade.teardown(ctr);
      expect(runner.lines()).toEqual(['nft -a list chain inet cni_plugins_masquerade masq_checks', 'nft -f -']);
      expect(runner.calls[1]?.input).toBe('delete rule inet cni_plugins_masquerade masq_checks handle 4\n');
    }
  });
});

describe('port forwarding teardown', () => {
  it('iptables: returns the mappings the container’s chain had, per family', async () => {
    const dn = dnChainName('net1', 'c1');
    const runner = new RecordingRunner().on((c) => c.tool === 'iptables' && c.argv.includes(dn), {
      stdout: `-N ${dn}\n-A ${dn} -p udp -m udp --dport 53 -j DNAT --to-destination 10.0.0.2:5353\n`,
    });
    const removed = await driverFor('iptables', runner).portForwarding.teardown(ctr);
    expect([...removed.entries()]).toEqual([[4, [{ hostPort: 53, containerPort: 5353, protocol: 'udp', hostIP: '' }]]]);
  });

  it('iptables with the request setup was given: one restore in the family with an address, no read', async () => {
    const req = portForwardRequest({ attachment: ctr, containers: [{ address: '10.0.0.2', prefix: 24, family: 4 }] });
    const runner = new RecordingRunner();
    const removed = await driverFor('iptables', runner).portForwarding.teardown(ctr, req);
    expect(runner.lines()).toEqual(['iptables-restore --noflush -w 10']);
    expect(runner.calls[0]?.input).toBe(
      renderPortmapTeardown(planOf(req, { address: '10.0.0.2', prefix: 24, family: 4 })),
    );
    expect(removed.get(4)?.map((m) => m.hostPort)).toEqual([8080, 8443, 5353]);
    expect(removed.has(6)).toBe(false);
  });

  it('iptables with a request that differs from the rules: the restore fails, then the read path', async () => {
    const dn = dnChainName('net1', 'c1');
    const req = portForwardRequest({ attachment: ctr, containers: [{ address: '10.0.0.2', prefix: 24, family: 4 }] });
    let restores = 0;
    const runner = new RecordingRunner()
      .on(is('iptables-restore'), () => ({ exitCode: restores++ === 0 ? 1 : 0, stderr: 'line 2 failed' }))
      .on((c) => c.tool === 'iptables' && c.argv.includes(dn), {
        stdout: `-N ${dn}\n-A ${dn} -p udp -m udp --dport 53 -j DNAT --to-destination 10.0.0.2:5353\n`,
      });
    const removed = await driverFor('iptables', runner).portForwarding.teardown(ctr, req);
    expect(runner.lines()).toEqual([
      'iptables-restore --noflush -w 10',
      `iptables -w 5 -t nat -S ${dn}`,
      'iptables -w 5 -t nat -S CNI-HOSTPORT-SNAT',
      'iptables -w 5 -t nat -S CNI-HOSTPORT-DNAT',
      'iptables-restore --noflush -w 10',
    ]);
    expect(runner.calls[4]?.input).toContain(`-X ${dn}`);
    expect([...removed.entries()]).toEqual([[4, [{ hostPort: 53, containerPort: 5353, protocol: 'udp', hostIP: '' }]]]);
  });

  it('nftables: turns the owner’s map elements back into mappings', async () => {
    const owner = 'n=net1;c=c1;i=eth0';
    const runner = new RecordingRunner().on(is('nft', '-j', 'list', 'table'), {
      stdout: JSON.stringify({
        nftables: [
          {
            map: {
              name: 'hostports6',
              type: ['ipv6_addr', 'inet_proto', 'inet_service'],
              elem: [
                [{ elem: { val: { concat: ['fd00::1', 'udp', 53] }, comment: owner } }, { concat: ['fd00::2', 5353] }],
              ],
            },
          },
          {
            map: {
              name: 'anyports4',
              type: ['inet_proto', 'inet_service'],
              elem: [
                [{ elem: { val: { concat: ['tcp', 80] }, comment: 'n=x;c=y;i=z' } }, { concat: ['10.0.0.3', 80] }],
              ],
            },
          },
        ],
      }),
    });
    const removed = await driverFor('nftables', runner).portForwarding.teardown(ctr);
    expect([...removed.entries()]).toEqual([
      [6, [{ hostIP: 'fd00::1', protocol: 'udp', hostPort: 53, containerPort: 5353 }]],
    ]);
    expect(runner.calls.find((c) => c.argv[0] === '-f')?.input).toBe(
      'delete element inet tscni_hostport hostports6 { fd00::1 . udp . 53 }\n',
    );
  });
});

describe('choosing a driver', () => {
  it('withDriver uses the configured backend and probes nothing', async () => {
    const runner = new RecordingRunner();
    const used: string[] = [];
    await withDriver('nftables', runner, async (d) => void used.push(d.backend));
    expect(used).toEqual(['nftables']);
    expect(runner.calls).toHaveLength(0);
  });

  it('inEveryBackend ignores the failure of an unusable backend and reports that of a usable one', async () => {
    const noNft = new RecordingRunner().on(is('nft'), { exitCode: 1 });
    const results = await inEveryBackend(noNft, async (d) => {
      if (d.backend === 'nftables') throw new Error('nft failed');
      return d.backend;
    });
    expect(results).toEqual(['iptables', undefined]);
    resetBackendProbes();
    await expect(
      inEveryBackend(new RecordingRunner(), async (d) => {
        if (d.backend === 'nftables') throw new Error('nft failed');
      }),
    ).rejects.toThrow('nft failed');
  });
});
