/**
 * The node's network configuration list, close to what kindnetd writes for kind: one range set
 * per pod CIDR (IPv4 and/or IPv6), leases on tmpfs, portmap for hostPorts. The pods' interface
 * is either a bridge per node (`--plugin bridge`, the default: the pods' gateway, hairpin so a
 * pod reaches its own hostPort) or a veth pair per pod routed by the node (`--plugin ptp`,
 * kindnetd's choice: every packet passes the node's netfilter, so a Service answer from a pod on
 * the same node is un-NATed without bridge netfilter). Masquerade is the node's job (table
 * `inet tscni_masq`, see masq.ts) unless the mode is `bridge` (the plugin's ipMasq). `loopback`
 * is not in the list: CRI runtimes call it themselves.
 */
import type { InstallOptions, MasqMode } from './options';

export type ConflistInput = Pick<
  InstallOptions,
  'network' | 'bridge' | 'dataDir' | 'mtu' | 'cniVersion' | 'firewall' | 'podCidrs' | 'plugin'
> & { masq: MasqMode };

export function renderConflist(o: ConflistInput): string {
  if (o.podCidrs.length === 0) throw new Error('render conflist: no pod CIDR');
  const ipam: Record<string, unknown> = {
    type: 'host-local',
    ranges: o.podCidrs.map((subnet) => [{ subnet }]),
    dataDir: o.dataDir,
  };
  let main: Record<string, unknown>;
  if (o.plugin === 'ptp') {
    main = { type: 'ptp', ipMasq: o.masq === 'bridge' };
    // ptp has no gateway to hand out: the default routes come from IPAM, one per family.
    ipam['routes'] = o.podCidrs.map((c) => ({ dst: c.includes(':') ? '::/0' : '0.0.0.0/0' }));
  } else {
    main = {
      type: 'bridge',
      bridge: o.bridge,
      isGateway: true,
      isDefaultGateway: true,
      ipMasq: o.masq === 'bridge',
      hairpinMode: true,
    };
  }
  if (o.mtu !== undefined) main['mtu'] = o.mtu;
  main['ipam'] = ipam;
  const plugins: Array<Record<string, unknown>> = [main];
  plugins.push({ type: 'portmap', capabilities: { portMappings: true } });
  if (o.firewall) plugins.push({ type: 'firewall' });
  return JSON.stringify({ cniVersion: o.cniVersion, name: o.network, plugins }, null, 2) + '\n';
}
