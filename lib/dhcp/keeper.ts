/**
 * The daemon's lease keeper: answers the plugin's requests (allocate, check, release, gc) and
 * keeps every lease alive — renewing at T1, rebinding at T2, asking for the old address again
 * after a restart past the lease's end — each lease's work one at a time. Every lease is on disk
 * (store.ts) before ADD returns it, and a restarted keeper picks them all up again. The machine
 * is passed in (transport, namespace checks, clock), so unit tests run it against a fake server.
 */
import { CniError, ErrorCode, toCniError } from '../cni/errors';
import { validateContainerId, validateIfName, validateNetworkName } from '../cni/names';
import type { Result } from '../cni/result/types';
import { DhcpClient, clientIdOption, type Ack, type Clock, type Timing, type Transport } from './client';
import { addressOf, leaseTimes, resultOf } from './lease';
import { clientIdOf } from './options';
import type { NetnsId } from './packet-socket';
import type { Attachment, DaemonRequest, DaemonResponse } from './protocol';
import type { LeaseRecord, LeaseStore } from './store';
import { decodeMessage, Opt, optIp, type DhcpMessage } from './wire';

export interface KeeperDeps {
  store: LeaseStore;
  openTransport(netns: string, ifName: string): Transport;
  netnsIdOf(path: string): NetnsId | undefined;
  setLinkDown(netns: string, ifName: string): void;
  clock: Clock;
  timing: Timing & { resendTimeoutMs: number };
  broadcast: boolean;
  /** Prepended to every namespace path a request names (-hostprefix). */
  hostPrefix: string;
  log(line: string): void;
}

interface Entry {
  rec: LeaseRecord;
  ack: DhcpMessage;
  timer?: ReturnType<typeof setTimeout>;
  /** Cancels the maintenance exchange in flight (a DEL does not wait for a renewal to time out). */
  work?: AbortController;
}

const macText = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
const macBytes = (s: string): Uint8Array | undefined =>
  /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(s) ? Uint8Array.from(s.split(':').map((h) => parseInt(h, 16))) : undefined;
const sameNetns = (a: NetnsId, b: NetnsId): boolean => a.dev === b.dev && a.ino === b.ino;

/** Longest a failed renewal waits before the next try (RFC 2131 §4.4.5 says one minute at least). */
const MAX_RETRY_PAUSE_MS = 60_000;

export class LeaseKeeper {
  private readonly entries = new Map<string, Entry>();
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly stopping = new AbortController();

  constructor(private readonly d: KeeperDeps) {}

  get size(): number {
    return this.entries.size;
  }

  /** Picks up the leases a previous daemon kept, and resumes their upkeep. */
  restore(): number {
    const recs = this.d.store.loadAll((file, why) => this.d.log(`skipping lease record ${file}: ${why}`));
    for (const rec of recs) {
      let ack: DhcpMessage;
      try {
        ack = decodeMessage(Buffer.from(rec.ack, 'base64'));
        addressOf(ack);
      } catch (e) {
        this.d.log(`skipping the lease record of ${rec.clientId}: ${(e as Error).message}`);
        continue;
      }
      const entry: Entry = { rec, ack };
      this.entries.set(rec.clientId, entry);
      this.d.log(`${rec.clientId}: lease of ${ack.yiaddr} restored (${rec.state})`);
      this.schedule(entry);
    }
    return recs.length;
  }

  /** Stops all upkeep and cancels exchanges in flight; releases nothing, the records stay. */
  async stop(): Promise<void> {
    this.stopping.abort();
    for (const e of this.entries.values()) {
      if (e.timer) clearTimeout(e.timer);
      e.work?.abort();
    }
    await Promise.allSettled([...this.queues.values()]);
  }

  async handle(req: DaemonRequest): Promise<DaemonResponse> {
    try {
      if (this.stopping.signal.aborted) throw new CniError(ErrorCode.TryAgainLater, 'the dhcp daemon is shutting down');
      switch (req.op) {
        case 'allocate':
          return { ok: true, result: await this.allocate(req) };
        case 'check':
          await this.check(req.attachment);
          return { ok: true };
        case 'release':
          await this.release(req.attachment);
          return { ok: true };
        case 'gc':
          await this.gc(req.networkName, req.valid);
          return { ok: true };
        case 'status':
          return { ok: true };
      }
      throw new CniError(ErrorCode.Internal, 'unknown request');
    } catch (e) {
      const err =
        e instanceof Error && e.message === 'cancelled' && this.stopping.signal.aborted
          ? new CniError(ErrorCode.TryAgainLater, 'the dhcp daemon is shutting down')
          : toCniError(e);
      return { ok: false, error: err.toJSON() };
    }
  }

  /** Runs `fn` after whatever is queued for this lease. */
  private serial<T>(clientId: string, fn: () => Promise<T>): Promise<T> {
    const before = this.queues.get(clientId) ?? Promise.resolve();
    const run = before.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.queues.set(clientId, tail);
    void tail.then(() => {
      if (this.queues.get(clientId) === tail) this.queues.delete(clientId);
    });
    return run;
  }

  private clientIdOf(a: Attachment): string {
    validateContainerId(a.containerId);
    validateNetworkName(a.networkName);
    validateIfName(a.ifName);
    return clientIdOf(a.containerId, a.networkName, a.ifName);
  }

  private async allocate(req: Extract<DaemonRequest, { op: 'allocate' }>): Promise<Result> {
    const clientId = this.clientIdOf(req.attachment);
    if (!req.netns.startsWith('/') || req.netns.includes('\0'))
      throw new CniError(ErrorCode.InvalidNetns, `netns path ${JSON.stringify(req.netns)} is not absolute`);
    const netns = this.d.hostPrefix + req.netns;
    return this.serial(clientId, async () => {
      const netnsId = this.d.netnsIdOf(netns);
      if (!netnsId) throw new CniError(ErrorCode.InvalidNetns, `failed to open netns ${JSON.stringify(netns)}`);
      const held = this.entries.get(clientId);
      if (held && held.rec.state === 'bound' && sameNetns(held.rec.netnsId, netnsId) && !this.expired(held)) {
        // A repeated ADD (or the reference's CHECK-by-ADD): the lease it already has.
        return resultOf(held.ack, req.priority);
      }
      if (held) this.forget(held, 'replaced by a new ADD');

      this.d.log(`${clientId}: acquiring lease`);
      const t = this.d.openTransport(netns, req.attachment.ifName);
      const identity = this.identity(clientId, req.options);
      let got: Ack;
      try {
        const client = new DhcpClient(t, identity, this.d.timing, this.d.clock);
        got = await client.acquire(this.d.clock.now() + this.d.timing.resendTimeoutMs, this.stopping.signal);
        let result: Result;
        try {
          result = resultOf(got.ack, req.priority);
        } catch (e) {
          client.release(got.ack.yiaddr, optIp(got.ack, Opt.ServerId) ?? '0.0.0.0', got.serverMac);
          throw e;
        }
        const rec: LeaseRecord = {
          version: 1,
          clientId,
          attachment: req.attachment,
          netns,
          netnsId,
          options: req.options,
          priority: req.priority,
          ack: Buffer.from(got.raw).toString('base64'),
          ackAt: got.at,
          serverMac: macText(got.serverMac),
          state: 'bound',
        };
        try {
          this.d.store.save(rec);
        } catch (e) {
          // A lease the daemon could not write down would be lost on restart: give it back now.
          client.release(got.ack.yiaddr, optIp(got.ack, Opt.ServerId) ?? '0.0.0.0', got.serverMac);
          throw new CniError(ErrorCode.IOFailure, `cannot record the lease of ${clientId}`, (e as Error).message);
        }
        const entry: Entry = { rec, ack: got.ack };
        this.entries.set(clientId, entry);
        this.d.log(`${clientId}: lease acquired ${got.ack.yiaddr}, ${this.expiryText(entry)}`);
        this.schedule(entry);
        return result;
      } finally {
        t.close();
      }
    });
  }

  private async check(a: Attachment): Promise<void> {
    const clientId = this.clientIdOf(a);
    await this.serial(clientId, async () => {
      const e = this.entries.get(clientId);
      if (!e) throw new CniError(ErrorCode.Internal, `no DHCP lease for ${clientId}`);
      if (e.rec.state !== 'bound' || this.expired(e))
        throw new CniError(ErrorCode.Internal, `the DHCP lease of ${clientId} (${e.ack.yiaddr}) has ended`);
      const id = this.d.netnsIdOf(e.rec.netns);
      if (!id || !sameNetns(id, e.rec.netnsId))
        throw new CniError(ErrorCode.Internal, `the network namespace of ${clientId} is gone`);
    });
  }

  private async release(a: Attachment): Promise<void> {
    const clientId = this.clientIdOf(a);
    this.entries.get(clientId)?.work?.abort();
    await this.serial(clientId, async () => {
      const e = this.entries.get(clientId);
      if (e) await this.releaseEntry(e);
    });
  }

  private async gc(networkName: string, valid: Array<{ containerId: string; ifName: string }>): Promise<void> {
    validateNetworkName(networkName);
    const keep = new Set(valid.map((v) => `${v.containerId}\0${v.ifName}`));
    const stale = [...this.entries.values()].filter(
      (e) =>
        e.rec.attachment.networkName === networkName &&
        !keep.has(`${e.rec.attachment.containerId}\0${e.rec.attachment.ifName}`),
    );
    for (const e of stale) await this.release(e.rec.attachment);
  }

  /** DHCPRELEASE when the interface is still there to send it, then the record goes. */
  private async releaseEntry(e: Entry): Promise<void> {
    if (e.timer) clearTimeout(e.timer);
    const { rec } = e;
    const id = this.d.netnsIdOf(rec.netns);
    if (rec.state === 'bound' && !this.expired(e) && id && sameNetns(id, rec.netnsId)) {
      try {
        const t = this.d.openTransport(rec.netns, rec.attachment.ifName);
        try {
          new DhcpClient(t, this.identity(rec.clientId, rec.options), this.d.timing, this.d.clock).release(
            e.ack.yiaddr,
            optIp(e.ack, Opt.ServerId) ?? '0.0.0.0',
            macBytes(rec.serverMac),
          );
          this.d.log(`${rec.clientId}: lease of ${e.ack.yiaddr} released`);
        } finally {
          t.close();
        }
      } catch (err) {
        this.d.log(`${rec.clientId}: cannot send DHCPRELEASE for ${e.ack.yiaddr}: ${(err as Error).message}`);
      }
    } else {
      this.d.log(
        `${rec.clientId}: lease of ${e.ack.yiaddr} forgotten (its interface is gone; the server lets it expire)`,
      );
    }
    this.d.store.remove(rec.clientId);
    this.entries.delete(rec.clientId);
  }

  /** Drops a lease whose container is gone: nothing can be sent for it any more. */
  private forget(e: Entry, why: string): void {
    if (e.timer) clearTimeout(e.timer);
    e.work?.abort();
    this.d.store.remove(e.rec.clientId);
    this.entries.delete(e.rec.clientId);
    this.d.log(`${e.rec.clientId}: lease of ${e.ack.yiaddr} forgotten: ${why}`);
  }

  private identity(clientId: string, options: LeaseRecord['options']) {
    return { clientId: clientIdOption(clientId), options, broadcast: this.d.broadcast };
  }

  private times(e: Entry): { t1: number; t2: number; end: number } {
    const t = leaseTimes(e.ack);
    const at = e.rec.ackAt;
    return { t1: at + t.renew * 1000, t2: at + t.rebind * 1000, end: at + t.lease * 1000 };
  }

  private expired(e: Entry): boolean {
    return this.d.clock.now() >= this.times(e).end;
  }

  private expiryText(e: Entry): string {
    return `expires at ${new Date(this.times(e).end).toISOString()}`;
  }

  private schedule(e: Entry, at?: number): void {
    if (e.timer) clearTimeout(e.timer);
    e.timer = undefined;
    if (e.rec.state !== 'bound' || this.stopping.signal.aborted) return;
    const when = at ?? this.times(e).t1;
    const delay = Math.max(0, when - this.d.clock.now());
    e.timer = setTimeout(() => {
      e.timer = undefined;
      void this.serial(e.rec.clientId, () => this.maintain(e)).catch((err: unknown) =>
        this.d.log(`${e.rec.clientId}: upkeep failed: ${(err as Error).message}`),
      );
    }, delay);
    // Timers never keep the daemon alive on their own: the server does.
    (e.timer as { unref?: () => void }).unref?.();
  }

  /** One step of a lease's upkeep: renew, rebind or reboot, then the next step is scheduled. */
  private async maintain(e: Entry): Promise<void> {
    if (this.entries.get(e.rec.clientId) !== e || this.stopping.signal.aborted) return;
    const { rec } = e;
    const id = this.d.netnsIdOf(rec.netns);
    if (!id || !sameNetns(id, rec.netnsId)) return this.forget(e, 'its network namespace is gone');
    const { t2, end } = this.times(e);
    const now = this.d.clock.now();
    const phase = now < t2 ? 'renew' : now < end ? 'rebind' : 'reboot';
    const boundary = phase === 'renew' ? t2 : phase === 'rebind' ? end : now + this.d.timing.timeoutMs;
    const window = Math.min(boundary, now + this.d.timing.timeoutMs);

    let t: Transport;
    try {
      t = this.d.openTransport(rec.netns, rec.attachment.ifName);
    } catch (err) {
      if (this.d.netnsIdOf(rec.netns) === undefined) return this.forget(e, 'its network namespace is gone');
      return this.forget(e, `its interface is gone (${(err as Error).message})`);
    }
    const work = new AbortController();
    e.work = work;
    const signal = AbortSignal.any([work.signal, this.stopping.signal]);
    let outcome: Ack | 'nak' | undefined;
    try {
      const client = new DhcpClient(t, this.identity(rec.clientId, rec.options), this.d.timing, this.d.clock);
      const ip = e.ack.yiaddr;
      if (phase === 'renew') {
        const mac = macBytes(rec.serverMac);
        const server = optIp(e.ack, Opt.ServerId);
        outcome = mac && server ? await client.renew(ip, server, mac, window, signal) : undefined;
      } else if (phase === 'rebind') {
        outcome = await client.rebind(ip, window, signal);
      } else {
        outcome = await client.reboot(ip, window, signal);
      }
    } finally {
      t.close();
      e.work = undefined;
    }
    if (signal.aborted || this.entries.get(rec.clientId) !== e) return;

    if (outcome && outcome !== 'nak' && outcome.ack.yiaddr === e.ack.yiaddr) {
      e.ack = outcome.ack;
      e.rec = {
        ...rec,
        ack: Buffer.from(outcome.raw).toString('base64'),
        ackAt: outcome.at,
        serverMac: macText(outcome.serverMac),
      };
      this.d.store.save(e.rec);
      this.d.log(
        `${rec.clientId}: lease of ${e.ack.yiaddr} ${phase === 'renew' ? 'renewed' : phase === 'rebind' ? 'rebound' : 'confirmed'}, ${this.expiryText(e)}`,
      );
      return this.schedule(e);
    }
    if (outcome) {
      // A NAK, or an ACK for another address: this address is no longer ours.
      const why =
        outcome === 'nak' ? 'the server refused it (DHCPNAK)' : `the server moved it to ${outcome.ack.yiaddr}`;
      return this.end(e, why);
    }
    const later = this.d.clock.now();
    if (phase === 'reboot' || later >= end) return this.end(e, 'no server confirmed it before it expired');
    // No answer: try again after half the time left in this phase, at most a minute, at least a second.
    const left = boundary - later;
    const next = later + Math.max(1000, Math.min(left / 2, MAX_RETRY_PAUSE_MS));
    this.d.log(
      `${rec.clientId}: no answer to ${phase === 'renew' ? 'renewal' : 'rebinding'} of ${e.ack.yiaddr}; trying again`,
    );
    this.schedule(e, Math.min(next, boundary));
  }

  /** The lease is over: the interface goes down (as in the reference), the record stays until DEL. */
  private end(e: Entry, why: string): void {
    this.d.log(`${e.rec.clientId}: lease of ${e.ack.yiaddr} ended: ${why}; setting ${e.rec.attachment.ifName} down`);
    try {
      this.d.setLinkDown(e.rec.netns, e.rec.attachment.ifName);
    } catch (err) {
      this.d.log(`${e.rec.clientId}: cannot set ${e.rec.attachment.ifName} down: ${(err as Error).message}`);
    }
    e.rec = { ...e.rec, state: 'ended' };
    this.d.store.save(e.rec);
  }
}
