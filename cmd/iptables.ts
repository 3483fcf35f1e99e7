/**
 * `tscni reload --iptables`: one of the installer image's iptables modes first on PATH, chosen
 * or found out (lib/deploy/iptables-mode.ts). PATH is the process's own, so every program reload,
 * the watcher and gc's DELs start finds that mode's iptables.
 */
import { detectIptablesMode, pathWithMode, type IptablesMode, type ModeDecision } from '../lib/deploy/iptables-mode';
import type { Runner } from '../lib/exec/runner';
import { resetBackendProbes } from '../lib/firewall/backend';

export function useIptablesMode(mode: IptablesMode): void {
  process.env['PATH'] = pathWithMode(mode, process.env['PATH']);
  resetBackendProbes(); // a probe made before saw another iptables, or none
}

/** Finds the node's mode and, when there is one, uses it. */
export async function useNodeIptables(runner: Runner): Promise<ModeDecision> {
  const d = await detectIptablesMode(runner);
  if (d.mode) useIptablesMode(d.mode);
  return d;
}
