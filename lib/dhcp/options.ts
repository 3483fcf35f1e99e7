/**
 * The dhcp IPAM's `provide` and `request` keys turned into DHCP options (the reference's
 * prepareOptions): option names or numbers, values given or taken from CNI_ARGS, the parameter
 * request list with its defaults. Shared by the plugin (which validates and resolves them) and
 * the daemon (which puts them in its messages). Pure and small: the plugin path loads it.
 */
import { Opt } from './codes';

/** Names as dhcp-options(5) spells them: the reference's six, then the ones its docs list. */
const OPTION_NAMES: Readonly<Record<string, number>> = {
  'dhcp-client-identifier': Opt.ClientId,
  'subnet-mask': Opt.SubnetMask,
  routers: Opt.Router,
  'host-name': Opt.HostName,
  'user-class': Opt.UserClass,
  'vendor-class-identifier': Opt.ClassId,
  'domain-name-servers': Opt.DomainNameServer,
  'domain-name': Opt.DomainName,
  'domain-search': Opt.DomainSearch,
  'static-routes': Opt.StaticRoute,
  'classless-static-routes': Opt.ClasslessRoute,
  'dhcp-lease-time': Opt.LeaseTime,
  'dhcp-renewal-time': Opt.RenewalTime,
  'dhcp-rebinding-time': Opt.RebindingTime,
  'interface-mtu': 26,
  'ntp-servers': 42,
};

/**
 * The parameter request list when no `request` entry says `skipDefault`: the reference's
 * (routers, subnet mask) and the DNS options, since the result carries DNS.
 */
export const DEFAULT_REQUEST: readonly number[] = [
  Opt.Router,
  Opt.SubnetMask,
  Opt.DomainNameServer,
  Opt.DomainName,
  Opt.DomainSearch,
];

/** Option codes the daemon sets itself and that `provide` must not replace. */
const RESERVED = new Set<number>([
  Opt.Pad,
  Opt.End,
  Opt.MessageType,
  Opt.ServerId,
  Opt.RequestedIP,
  Opt.Overload,
  Opt.ParameterRequestList,
  Opt.MaxMessageSize,
]);

export class OptionError extends Error {
  constructor(msg: string) {
    super(msg);
    this.name = 'OptionError';
  }
}

/** An option name (see OPTION_NAMES) or a decimal number 0–255. */
export function parseOptionName(option: string): number {
  const named = OPTION_NAMES[option];
  if (named !== undefined) return named;
  if (/^\d{1,3}$/.test(option) && Number(option) <= 255) return Number(option);
  throw new OptionError(
    `Can not parse option ${JSON.stringify(option)}: not a known option name or a number from 0 to 255`,
  );
}

export interface ProvideOption {
  option?: string;
  value?: string;
  fromArg?: string;
}
export interface RequestOption {
  option?: string;
  skipDefault?: boolean;
}

/** What the daemon sends on top of its own options: provided values (text) and the request list. */
export interface LeaseOptions {
  /** [code, value] in the order given; a later value for a code replaces an earlier one. */
  provide: Array<[number, string]>;
  request: number[];
}

/** CNI_ARGS read as the reference's dhcp does: `;`-separated pairs split at the first `=`. */
export function looseCniArgs(raw: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const pair of raw.split(';')) {
    const at = pair.indexOf('=');
    if (at >= 0) out.set(pair.slice(0, at), pair.slice(at + 1));
  }
  return out;
}

export function prepareOptions(
  cniArgs: string,
  provide: readonly ProvideOption[],
  request: readonly RequestOption[],
): LeaseOptions {
  const args = looseCniArgs(cniArgs);
  const out: LeaseOptions = { provide: [], request: [] };
  const put = (code: number, value: string, what: string): void => {
    if (Buffer.byteLength(value, 'utf8') > 255) throw new OptionError(`value too long for option ${what}`);
    out.provide.push([code, value]);
  };
  for (const p of provide) {
    const name = p.option ?? '';
    const code = parseOptionName(name);
    if (RESERVED.has(code)) throw new OptionError(`option ${JSON.stringify(name)} is set by the DHCP client itself`);
    if (p.value) put(code, p.value, JSON.stringify(name));
    const fromArg = p.fromArg !== undefined ? args.get(p.fromArg) : undefined;
    if (fromArg !== undefined) put(code, fromArg, `${JSON.stringify(name)} from CNI_ARGS ${JSON.stringify(p.fromArg)}`);
  }
  let skipDefault = false;
  for (const r of request) {
    if (r.skipDefault) skipDefault = true;
    if (r.option === undefined || r.option === '') continue;
    const code = parseOptionName(r.option);
    if (!out.request.includes(code)) out.request.push(code);
  }
  if (!skipDefault) for (const c of DEFAULT_REQUEST) if (!out.request.includes(c)) out.request.push(c);
  return out;
}

/** The client identifier the reference sends and keys its leases by: `<id>/<network>/<ifname>`, at most 254 bytes. */
export function clientIdOf(containerId: string, networkName: string, ifName: string): string {
  const id = `${containerId}/${networkName}/${ifName}`;
  return Buffer.from(id, 'utf8').subarray(0, 254).toString('latin1');
}
