/**
 * ptp's part in `tscni reload`: its masquerade (`ipMasq`), rebuilt from the config and the
 * cached result as ADD made it and checked as bridge CHECK checks its own. Containers of
 * runtimes that keep no libcni cache are not known here (ptp keeps no other record of them).
 */
import type { Attachment } from '../../lib/cni/invocation';
import { prevResultOf } from '../../lib/cni/netconf';
import { containerIps } from '../../lib/reload/container-ips';
import type { Runner } from '../../lib/exec/runner';
import { masqueradeConcern } from '../../lib/reload/masquerade';
import { hostLocalLeaseRefs, type LeaseRef } from '../../lib/ipam/lease-refs';
import type { Concern, ReloadConf, Reloader } from '../../lib/reload/types';
import { loadPtpConfig } from './config';

function concerns(conf: ReloadConf, a: Attachment, runner: Runner): { concerns: Concern[]; leases: LeaseRef[] } {
  const cfg = loadPtpConfig(conf.config);
  const prev = prevResultOf(conf.config, conf.cniVersion);
  if (!prev || !cfg.ipMasq) return { concerns: [], leases: [] };
  const ips = containerIps(prev, a);
  if (ips.length === 0) return { concerns: [], leases: [] };
  return {
    concerns: [masqueradeConcern(runner, cfg.ipMasqBackend, a, ips)],
    leases: hostLocalLeaseRefs(conf.config, cfg.ipamType, ips),
  };
}

export const reloader: Reloader = { concerns };
