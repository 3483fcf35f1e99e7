/**
 * Which iptables the node uses, for `tscni reload` run from the installer image (the DaemonSet's
 * watcher). The plugins run on the node and write their iptables rules with the node's own
 * `iptables`: iptables-nft (rules in nf_tables) or iptables-legacy (x_tables). A watcher that
 * restores them from the image must use the same one, or it would check and restore rules the
 * node's DEL never looks at. So the image carries both (xtables-nft-multi, xtables-legacy-multi)
 * and one directory of program links per mode (IPTABLES_MODES_DIR/<mode>/iptables-restore, ...);
 * `--iptables` puts one of them first on PATH, which every program tscni starts inherits.
 *
 * `auto` tells the node's mode the way kube-proxy's image does: kubelet creates the chain
 * KUBE-IPTABLES-HINT (older kubelets KUBE-KUBELET-CANARY) in the mode it uses; without such a
 * hint, the mode with more rules wins. With no rule in either, no mode is picked and iptables
 * stays off PATH: the node may have no iptables at all, and then the plugins used nftables, so
 * the watcher must as well. Restoring into a mode the node lacks would leave rules its DEL
 * cannot remove.
 */
import type { Runner } from '../exec/runner';

/** Where the installer image keeps one directory of iptables program links per mode. */
export const IPTABLES_MODES_DIR = '/opt/tscni/iptables';
export const IPTABLES_MODES = ['nft', 'legacy'] as const;
export type IptablesMode = (typeof IPTABLES_MODES)[number];
/** The iptables programs tscni starts (lib/exec/runner.ts), linked in each mode's directory. */
export const IPTABLES_PROGRAMS = [
  'iptables',
  'iptables-save',
  'iptables-restore',
  'ip6tables',
  'ip6tables-save',
  'ip6tables-restore',
] as const;
/** The chains kubelet creates in the mode it uses (newest first). */
export const KUBELET_HINTS = ['KUBE-IPTABLES-HINT', 'KUBE-KUBELET-CANARY'] as const;

export const modeDir = (mode: IptablesMode, root = IPTABLES_MODES_DIR): string => `${root}/${mode}`;

export const isIptablesMode = (s: string): s is IptablesMode => (IPTABLES_MODES as readonly string[]).includes(s);

/** What one mode's `iptables-save` and `ip6tables-save` output says. */
export interface ModeEvidence {
  /** The kubelet hint chain found, if any. */
  readonly hint?: string;
  /** Rules (`-A` lines) in every table of both families. */
  readonly rules: number;
}

export function evidenceOf(saveText: string): ModeEvidence {
  let rules = 0;
  let hint: string | undefined;
  for (const line of saveText.split('\n')) {
    if (line.startsWith('-A ')) rules++;
    const chain = /^:(\S+) /.exec(line)?.[1];
    if (chain !== undefined && (KUBELET_HINTS as readonly string[]).includes(chain)) hint ??= chain;
  }
  return hint === undefined ? { rules } : { hint, rules };
}

export interface ModeDecision {
  /** Undefined: no evidence either way (iptables stays off PATH). */
  readonly mode?: IptablesMode;
  readonly why: string;
}

/** The node's mode from both modes' evidence (see the top of the file). */
export function decideMode(e: Readonly<Record<IptablesMode, ModeEvidence>>): ModeDecision {
  const hinted = IPTABLES_MODES.filter((m) => e[m].hint !== undefined);
  if (hinted.length === 1 && hinted[0]) {
    const m = hinted[0];
    return { mode: m, why: `kubelet's chain ${e[m].hint} is in iptables-${m}` };
  }
  const counts = `${e.nft.rules} rules in iptables-nft, ${e.legacy.rules} in iptables-legacy`;
  const both = hinted.length === 2 ? 'kubelet hint chains in both modes; ' : '';
  if (e.nft.rules === 0 && e.legacy.rules === 0) return { why: `${both}no iptables rules in either mode` };
  return { mode: e.legacy.rules > e.nft.rules ? 'legacy' : 'nft', why: `${both}${counts}` };
}

/**
 * Reads both modes' rules through the image's links and decides. Only whole-ruleset saves are
 * run (no `-t`): naming a table would make iptables-legacy load that table's kernel module, and
 * so create the very tables it counts.
 */
export async function detectIptablesMode(runner: Runner, root = IPTABLES_MODES_DIR): Promise<ModeDecision> {
  const evidence = {} as Record<IptablesMode, ModeEvidence>;
  for (const m of IPTABLES_MODES) {
    let text = '';
    for (const tool of ['iptables-save', 'ip6tables-save'] as const) {
      const r = await runner
        .run({ tool, path: `${modeDir(m, root)}/${tool}`, argv: [], allowFailure: true, timeoutMs: 10_000 })
        .catch(() => undefined);
      if (r?.exitCode === 0) text += r.stdout;
    }
    evidence[m] = evidenceOf(text);
  }
  return decideMode(evidence);
}

/** PATH with a mode's program links first. */
export const pathWithMode = (mode: IptablesMode, path: string | undefined, root = IPTABLES_MODES_DIR): string =>
  path ? `${modeDir(mode, root)}:${path}` : modeDir(mode, root);
