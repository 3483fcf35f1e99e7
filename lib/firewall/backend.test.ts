import { beforeEach, describe, expect, it } from '@jest/globals';
import { RecordingRunner } from '../exec/recording';
import { resetBackendProbes, withBackend, type Backend } from './backend';

/** A run function that records the backends it was given and fails for those in `failing`. */
function recorder(failing: readonly Backend[] = []): { used: Backend[]; run: (b: Backend) => Promise<void> } {
  const used: Backend[] = [];
  return {
    used,
    run: async (b) => {
      used.push(b);
      if (failing.includes(b)) throw new Error(`${b} failed`);
    },
  };
}

const probeRunner = (iptablesWorks: boolean, nftWorks: boolean): RecordingRunner =>
  new RecordingRunner()
    .on((c) => c.tool === 'iptables', { exitCode: iptablesWorks ? 0 : 1 })
    .on((c) => c.tool === 'nft', { exitCode: nftWorks ? 0 : 1 });

describe('withBackend', () => {
  beforeEach(() => resetBackendProbes());

  it('uses the configured backend without probing', async () => {
    const runner = probeRunner(true, true);
    const r = recorder();
    await withBackend('nftables', r.run, async () => undefined, runner);
    expect(r.used).toEqual(['nftables']);
    expect(runner.calls).toHaveLength(0);
  });

  it('tries iptables first and spends no exec on the probe when it works', async () => {
    const runner = probeRunner(true, true);
    const r = recorder();
    await withBackend(undefined, r.run, async () => undefined, runner);
    expect(r.used).toEqual(['iptables']);
    expect(runner.calls).toHaveLength(0);
  });

  it('switches to nftables, after undoing the iptables attempt, where iptables is unusable', async () => {
    const runner = probeRunner(false, true);
    const r = recorder(['iptables']);
    const undone: string[] = [];
    await withBackend(undefined, r.run, async () => undone.push('iptables'), runner);
    expect(r.used).toEqual(['iptables', 'nftables']);
    expect(undone).toEqual(['iptables']);
    expect(runner.lines()).toEqual(['iptables -w 5 -t filter -S INPUT 1', 'nft list tables']);
  });

  it('reports the iptables failure where iptables is usable', async () => {
    const r = recorder(['iptables']);
    await expect(withBackend(undefined, r.run, async () => undefined, probeRunner(true, true))).rejects.toThrow(
      'iptables failed',
    );
    expect(r.used).toEqual(['iptables']);
  });

  it('reports the iptables failure where neither backend is usable', async () => {
    const r = recorder(['iptables']);
    await expect(withBackend(undefined, r.run, async () => undefined, probeRunner(false, false))).rejects.toThrow(
      'iptables failed',
    );
    expect(r.used).toEqual(['iptables']);
  });
});
