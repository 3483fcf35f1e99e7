/**
 * The internal result: the 1.x shape (a superset of every older one). Plugins build and return
 * this; the printer converts it to the config's cniVersion (see convert.ts).
 */
export interface Interface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

export interface IPConfig {
  /** Index into `interfaces`; absent in IPAM results. */
  interface?: number;
  /** CIDR with the host address kept, e.g. 10.1.0.5/16. */
  address: string;
  gateway?: string;
}

export interface Route {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface DNS {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface Result {
  /** The version the result was parsed from or is meant for (informational). */
  cniVersion: string;
  interfaces?: Interface[];
  ips?: IPConfig[];
  routes?: Route[];
  dns?: DNS;
}
