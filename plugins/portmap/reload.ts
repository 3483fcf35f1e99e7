/**
 * portmap's part in `tscni reload`: the attachment's port forwarding, from the cached
 * runtimeConfig.portMappings and result, checked as CHECK checks it (shared chains and jumps
 * included) and restored by the driver's setup, which rewrites only this attachment's entries.
 */
import type { Attachment } from '../../lib/cni/invocation';
import { prevResultOf } from '../../lib/cni/netconf';
import type { Runner } from '../../lib/exec/runner';
import { BACKENDS, defaultBackend } from '../../lib/firewall/backend';
import { driverFor, inEveryBackend, inspectWithDriver, withDriver } from '../../lib/firewall/driver';
import type { Concern, ReloadConf, Reloader } from '../../lib/reload/types';
import { loadPortmapConfig } from './config';
import { containerIPs } from './container-ips';
import { requestFor } from './plan';

function concerns(conf: ReloadConf, a: Attachment, runner: Runner): Concern[] {
  const cfg = loadPortmapConfig(conf.config);
  const prev = prevResultOf(conf.config, conf.cniVersion);
  if (!prev || cfg.mappings.length === 0) return [];
  const ips = containerIPs(prev, a.ifName);
  if (ips.length === 0) return [];
  const req = requestFor(a, cfg, ips);
  return [
    {
      what: 'port forwarding',
      inspect: (snap) => inspectWithDriver(cfg.backend, runner, (d) => d.portForwarding.inspect(req, snap)),
      check: () => withDriver(cfg.backend, runner, (d) => d.portForwarding.check(req)),
      restore: () =>
        withDriver(
          cfg.backend,
          runner,
          (d) => d.portForwarding.setup(req),
          (iptables) => iptables.portForwarding.teardown(a),
        ),
      stage: async (batch) =>
        driverFor(cfg.backend ?? (await defaultBackend(runner)), runner).portForwarding.stage(batch, req),
      undo: async () => {
        await inEveryBackend(runner, (d) => d.portForwarding.teardown(a), cfg.backend ? [cfg.backend] : BACKENDS);
      },
    },
  ];
}

export const reloader: Reloader = {
  concerns: (conf, a, runner) => ({ concerns: concerns(conf, a, runner), leases: [] }),
};
