/**
 * The node's network configuration list, close to what kindnetd writes for kind: one range set
 * per pod CIDR (IPv4 and/or IPv6), leases on tmpfs, the bridge as the pods' default gateway,
 * hairpin so a pod reaches its own hostPort, portmap for hostPorts. Masquerade is the node's job
 * (table `inet tscni_masq`, see masq.ts) unless the mode is `bridge`. `loopback` is not in the
 * list: CRI runtimes call it themselves.
 */
import type { InstallOptions, MasqMode } from './options';

export type ConflistInput = Pick<
  InstallOptions,
  'network' | 'bridge' | 'dataDir' | 'mtu' | 'cniVersion' | 'firewall' | 'podCidrs'
> & { masq: MasqMode };

export function renderConflist(o: ConflistInput): string {
  if (o.podCidrs.length === 0) throw new Error('render conflist: no pod CIDR');
  const bridge: Record<string, unknown> = {
    type: 'bridge',
    bridge: o.bridge,
    isGateway: true,
    isDefaultGateway: true,
    ipMasq: o.masq === 'bridge',
    hairpinMode: true,
  };
  if (o.mtu !== undefined) bridge['mtu'] = o.mtu;
  bridge['ipam'] = {
    type: 'host-local',
    ranges: o.podCidrs.map((subnet) => [{ subnet }]),
    dataDir: o.dataDir,
  };
  const plugins: Array<Record<string, unknown>> = [bridge];
  plugins.push({ type: 'portmap', capabilities: { portMappings: true } });
  if (o.firewall) plugins.push({ type: 'firewall' });
  return JSON.stringify({ cniVersion: o.cniVersion, name: o.network, plugins }, null, 2) + '\n';
}
