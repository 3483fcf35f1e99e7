/**
 * portmap's part in `tscni reload`: the attachment's port forwarding, from the cached
 * runtimeConfig.portMappings and result, checked as CHECK checks it (shared chains and jumps
 * included) and restored by the driver's setup, which rewrites only this attachment's entries.
 */
import type { Invocation } from '../../lib/cni/dispatch';
import { prevResultOf } from '../../lib/cni/netconf';
import type { Runner } from '../../lib/exec/runner';
import { BACKENDS } from '../../lib/firewall/backend';
import { inEveryBackend, withDriver } from '../../lib/firewall/driver';
import type { Concern, Reloader } from '../../lib/reload/types';
import { loadPortmapConfig } from './config';
import { containerIPs } from './container-ips';
import { attachmentOf, requestFor } from './plan';

function concerns(inv: Invocation, runner: Runner): Concern[] {
  const cfg = loadPortmapConfig(inv);
  const prev = prevResultOf(inv);
  if (!prev || cfg.mappings.length === 0) return [];
  const ips = containerIPs(prev, inv.ifName);
  if (ips.length === 0) return [];
  const req = requestFor(inv, cfg, ips);
  return [
    {
      what: 'port forwarding',
      check: () => withDriver(cfg.backend, runner, (d) => d.portForwarding.check(req)),
      restore: () =>
        withDriver(
          cfg.backend,
          runner,
          (d) => d.portForwarding.setup(req),
          (iptables) => iptables.portForwarding.teardown(attachmentOf(inv)),
        ),
      undo: async () => {
        await inEveryBackend(
          runner,
          (d) => d.portForwarding.teardown(attachmentOf(inv)),
          cfg.backend ? [cfg.backend] : BACKENDS,
        );
      },
    },
  ];
}

export const reloader: Reloader = { concerns: (inv, runner) => ({ concerns: concerns(inv, runner), leases: [] }) };
