/**
 * A reload pass's batch (lib/firewall/batch.ts): several containers' setups rendered into one
 * transaction per family — shared chains, jumps and nft skeletons once, each container's own
 * rules after — and a concern that cannot render staging nothing. Inputs are golden files.
 */
import { describe, expect, it } from '@jest/globals';
import { RecordingRunner } from '../exec/recording';
import { forwardingChange, portForwardRequest } from '../testutil/firewall-requests';
import { expectGolden } from '../testutil/golden';
import { testAttachment } from '../testutil/invocation';
import { RestoreBatch } from './batch';
import { IptablesDriver } from './iptables/driver';
import { NftablesDriver } from './nftables/driver';
import { spoofRef, stageSpoofcheck } from './nftables/spoofcheck';
import type { ForwardingChange, PortForwardRequest } from './types';

const a = (i: number) => testAttachment('bnet', `ctr${i}`, 'eth0');
const ip = (i: number): string => `10.9.0.${i + 2}`;
const request = (i: number, hostPort = 8000 + i): PortForwardRequest =>
  portForwardRequest({
    attachment: a(i),
    containers: [{ address: ip(i), prefix: 24, family: 4 }],
    mappings: [{ hostPort, containerPort: 80, protocol: 'tcp', hostIP: '' }],
  });
const change = (i: number): ForwardingChange =>
  forwardingChange({ accept: [ip(i)], isolate: ['br0'], families: [4], owner: a(i) });

/** The programs a batch started, each with its input. */
function programs(runner: RecordingRunner): string {
  return runner.calls
    .map((c) => [`${c.tool} ${c.argv.join(' ')}`, ...(c.input === undefined ? [] : [String(c.input)])].join('\n'))
    .join('\n');
}

describe('a restore batch', () => {
  it('iptables: one read and one iptables-restore for every container, shared rules once', async () => {
    const runner = new RecordingRunner().on((c) => c.tool === 'iptables-save', {
      stdout:
        '*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n',
    });
    const d = new IptablesDriver(runner);
    const batch = new RestoreBatch(runner);
    for (const i of [0, 1]) {
      await d.masquerade.stage(batch, a(i), [{ address: ip(i), subnet: '10.9.0.0/24' }]);
      await d.portForwarding.stage(batch, request(i));
      await d.containerForwarding.stage(batch, change(i));
    }
    // A third container wants ctr0's host port: it stages nothing.
    await expect(d.portForwarding.stage(batch, request(2, 8000))).rejects.toThrow(/already forwarded/);
    await batch.commit();
    expect(runner.lines()).toEqual(['iptables-save', 'iptables-restore --noflush -w 10']);
    expectGolden(__dirname, 'batch-iptables', programs(runner));
  });

  it('nftables: one read, one nft -f for every container (skeletons once), one nft -j for the spoof checks', async () => {
    const runner = new RecordingRunner().on((c) => c.tool === 'nft' && c.argv.join(' ') === '-j list ruleset', {
      stdout: '{"nftables": [{"metainfo": {"json_schema_version": 1}}]}',
    });
    const d = new NftablesDriver(runner, () => undefined);
    const batch = new RestoreBatch(runner);
    for (const i of [0, 1]) {
      await d.masquerade.stage(batch, a(i), [{ address: ip(i), subnet: '10.9.0.0/24' }]);
      await d.portForwarding.stage(batch, request(i));
      await d.containerForwarding.stage(batch, change(i));
      await stageSpoofcheck(batch, spoofRef(`ctr${i}`, 'eth0'), `veth${i}`, `0a:58:0a:09:00:0${i + 2}`);
    }
    await batch.commit();
    expect(runner.lines().map((l) => l.slice(0, 14))).toEqual(['nft -j list ru', 'nft -f -', 'nft -j \'{"nfta']);
    expectGolden(__dirname, 'batch-nftables', programs(runner));
  });

  it('commits nothing when nothing was staged', async () => {
    const runner = new RecordingRunner();
    const batch = new RestoreBatch(runner);
    expect(batch.empty).toBe(true);
    await batch.commit();
    expect(runner.calls).toEqual([]);
  });
});
