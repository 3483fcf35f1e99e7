/**
 * ptp configuration (reference: plugins/main/ptp NetConf), decoded with Go's rules. IPAM is
 * required: a point-to-point link only makes sense with addresses on it.
 */
import type { NetConfig } from '../../lib/cni/invocation';
import { ConfigError } from '../../lib/cni/errors';
import type { DNS } from '../../lib/cni/result/types';
import * as t from '../../lib/cni/schema';
import { isBackend, type Backend } from '../../lib/firewall/backend';
import { commonKeys } from '../../lib/sublink/config';
import { configuredDns } from '../../lib/cni/netconf';

const decoder = t.object({
  ipMasq: t.optional(t.boolean),
  ipMasqBackend: t.optional(t.string),
  mtu: t.optional(t.int),
  ipam: commonKeys.ipam,
  dns: commonKeys.dns,
});

export interface PtpConfig {
  readonly ipMasq: boolean;
  /** Undefined: choose like the reference (iptables if usable, else nftables). */
  readonly ipMasqBackend: Backend | undefined;
  /** 0 = the kernel's default. */
  readonly mtu: number;
  /** '' when the config has none (ADD, CHECK and STATUS then fail). */
  readonly ipamType: string;
  readonly dns: DNS | undefined;
}

export function loadPtpConfig(config: NetConfig): PtpConfig {
  const c = t.parseWith(decoder, config, 'ptp configuration');
  const mtu = c.mtu ?? 0;
  if (mtu < 0 || mtu > 65535) throw new ConfigError(`invalid MTU ${mtu}`);
  let backend: Backend | undefined;
  if (c.ipMasqBackend) {
    if (!isBackend(c.ipMasqBackend)) throw new ConfigError(`unknown ipmasq backend ${JSON.stringify(c.ipMasqBackend)}`);
    backend = c.ipMasqBackend;
  }
  return {
    ipMasq: !!c.ipMasq,
    ipMasqBackend: backend,
    mtu,
    ipamType: c.ipam?.type ?? '',
    dns: configuredDns(c.dns),
  };
}

/** ADD, CHECK and STATUS need IPAM; the reference fails there with "no plugin name provided". */
export function requireIpam(cfg: PtpConfig): string {
  if (cfg.ipamType === '') throw new ConfigError('ptp needs an "ipam" section (no plugin name provided)');
  return cfg.ipamType;
}
