/**
 * The vocabulary of lib/firewall: what plugins ask of a firewall backend, per concern. The
 * implementations are in iptables/ and nftables/, one file per concern; driver.ts picks one.
 */
import type { Family } from '../addr/ip';
import type { Attachment } from '../cni/invocation';
import type { Backend } from './backend';
import type { RestoreBatch } from './batch';
import type { Finding, RulesetSnapshot } from './snapshot';

/** A container address with its subnet, e.g. { address: '10.1.0.5', subnet: '10.1.0.0/24' }. */
export interface MasqAddress {
  readonly address: string;
  readonly subnet: string;
}

export interface Masquerade {
  /** Masquerades traffic from `addrs` to anywhere outside their subnets (and not multicast). */
  setup(a: Attachment, addrs: readonly MasqAddress[]): Promise<void>;
  /**
   * Removes the attachment's rules, in both families; missing rules are fine. `expected`, the
   * addresses setup was given when known (DEL's prevResult), lets a backend skip reading first.
   */
  teardown(a: Attachment, expected?: readonly MasqAddress[]): Promise<void>;
  /** Throws a CniError naming the first expected rule that is missing. */
  check(a: Attachment, addrs: readonly MasqAddress[]): Promise<void>;
  /** What check would say, from a reload pass's snapshot (unsure where it cannot tell). */
  inspect(a: Attachment, addrs: readonly MasqAddress[], snap: RulesetSnapshot): Promise<Finding>;
  /** Removes rules of this network whose attachment key (lib/cni/invocation.ts) is not in `keep`. */
  gc(networkName: string, keep: ReadonlySet<string>): Promise<void>;
  /** Renders what setup would write into a reload pass's batch (lib/firewall/batch.ts). */
  stage(batch: RestoreBatch, a: Attachment, addrs: readonly MasqAddress[]): Promise<void>;
}

export interface PortMapping {
  readonly hostPort: number;
  readonly containerPort: number;
  readonly protocol: 'tcp' | 'udp' | 'sctp';
  /** '' when unspecified (any local address of the family). */
  readonly hostIP: string;
}

/** The container address one family forwards to, with its prefix length (hairpin SNAT covers the subnet). */
export interface ContainerAddress {
  readonly address: string;
  readonly prefix: number;
  readonly family: Family;
}

export interface PortForwardRequest {
  readonly attachment: Attachment;
  /** At most one address per family. */
  readonly containers: readonly ContainerAddress[];
  readonly mappings: readonly PortMapping[];
  readonly snat: boolean;
  readonly masqAll: boolean;
  readonly markMasqBit: number;
  readonly externalSetMarkChain: string | undefined;
  readonly conditionsV4: readonly string[];
  readonly conditionsV6: readonly string[];
}

/** What a teardown removed, per family; a family that is absent had nothing forwarded. */
export type ForwardedPorts = ReadonlyMap<Family, readonly PortMapping[]>;

export interface PortForwarding {
  /** Forwards the request's host ports; throws a CniError when another container holds one of them. */
  setup(req: PortForwardRequest): Promise<void>;
  /**
   * Removes the attachment's forwarding, in both families; missing rules are fine. `expected`, the
   * request setup was given when known (DEL's prevResult and portMappings), lets a backend skip
   * reading first and skip families the container has no address in.
   */
  teardown(a: Attachment, expected?: PortForwardRequest): Promise<ForwardedPorts>;
  check(req: PortForwardRequest): Promise<void>;
  /** What check would say, from a reload pass's snapshot (unsure where it cannot tell). */
  inspect(req: PortForwardRequest, snap: RulesetSnapshot): Promise<Finding>;
  gc(networkName: string, keep: ReadonlySet<string>): Promise<void>;
  /** Renders what setup would write into a reload pass's batch; throws where setup would (a host port taken). */
  stage(batch: RestoreBatch, req: PortForwardRequest): Promise<void>;
}

/**
 * One change to the firewall plugin's filter rules (forwarding of container traffic through the
 * host, and isolation between bridges). The plugin decides what changes, from its records of
 * which attachment holds which address and bridge; a driver renders the change as one
 * transaction per family.
 */
export interface ForwardingChange {
  /** Addresses whose traffic is accepted: everything from them, replies to them. */
  readonly accept: readonly string[];
  /** Addresses whose rules go (no attachment holds them any more). */
  readonly forget: readonly string[];
  /** Bridges isolated from the other isolated bridges (`ingressPolicy: same-bridge` or `isolated`). */
  readonly isolate: readonly string[];
  /** Bridges whose containers may not reach each other either (`ingressPolicy: isolated`, Docker's icc=false). */
  readonly noIcc?: readonly string[];
  /** Bridges of internal networks: nothing is forwarded into or out of them (Docker's `--internal`). */
  readonly internal?: readonly string[];
  /** Bridges whose isolation, icc and internal rules go (their last container went). */
  readonly unisolate: readonly string[];
  /** Families whose isolation rules to touch (those of the containers' addresses). */
  readonly families: readonly Family[];
  /** The chain operators put their own rules in (iptables: `iptablesAdminChainName`). */
  readonly adminChain: string;
  /** Who the change is for (nftables element comments). */
  readonly owner: Attachment;
}

/** What CHECK expects to find. */
export interface ForwardingExpectation {
  readonly accept: readonly string[];
  readonly isolate: readonly string[];
  readonly noIcc?: readonly string[];
  readonly internal?: readonly string[];
  readonly families: readonly Family[];
  readonly adminChain: string;
}

export interface ContainerForwarding {
  apply(change: ForwardingChange): Promise<void>;
  /** Throws a CniError naming the first expected rule that is missing. */
  check(expected: ForwardingExpectation): Promise<void>;
  /** What check would say, from a reload pass's snapshot (unsure where it cannot tell). */
  inspect(expected: ForwardingExpectation, snap: RulesetSnapshot): Promise<Finding>;
  /** The bridges that currently carry isolation rules (for GC). */
  isolatedBridges(): Promise<string[]>;
  /** Renders `apply(change)` into a reload pass's batch; absent where changes are not transactions (firewalld). */
  stage?(batch: RestoreBatch, change: ForwardingChange): Promise<void>;
}

export interface FirewallDriver {
  readonly backend: Backend;
  readonly masquerade: Masquerade;
  readonly portForwarding: PortForwarding;
  readonly containerForwarding: ContainerForwarding;
}

/** Whether a change or expectation names any bridge rule (isolation, icc or internal). */
export const guardsIn = (c: Pick<ForwardingExpectation, 'isolate' | 'noIcc' | 'internal'>): boolean =>
  c.isolate.length > 0 || (c.noIcc?.length ?? 0) > 0 || (c.internal?.length ?? 0) > 0;
