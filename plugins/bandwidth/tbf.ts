/**
 * A limit (bits/s, bits) as token-bucket parameters, with the reference's arithmetic so the
 * kernel ends up holding the same numbers: rate in bytes/s, the burst as the time to send it at
 * that rate in scheduler ticks (buffer), and a queue of 25 ms at that rate plus the burst
 * (limit). Where the reference's uint32 conversions wrap around (a bucket of more than 2^32-1
 * ticks, ~275 s at the rate, as containerd's 2^32-1-bit burst is below 15.6 Mbit/s) these clamp
 * to the largest bucket the kernel holds instead.
 */
import { readFileSync } from 'node:fs';
import { tickInUsec } from '../../lib/netlink';
import type { Limit } from './config';

const U32_MAX = 0xffffffff;
const USEC_PER_SEC = 1_000_000;
/** The reference's queue: 25 ms of traffic at the rate. */
export const LATENCY_USEC = 25_000;

export interface TbfParams {
  /** bytes per second */
  readonly rate: number;
  /** ticks */
  readonly buffer: number;
  /** bytes */
  readonly limit: number;
}

const clampU32 = (x: number): number => (x >= U32_MAX ? U32_MAX : Math.trunc(x));

let tick: number | undefined;
/** Microseconds per scheduler tick on this kernel (15.625 since Linux 2.6.31). */
export function schedulerTick(): number {
  if (tick === undefined) {
    try {
      tick = tickInUsec(readFileSync('/proc/net/psched', 'utf8'));
    } catch {
      tick = 15.625;
    }
  }
  return tick;
}

export function tbfParams(l: Limit, tickUsec: number): TbfParams {
  const rate = Math.floor(l.rate / 8);
  const burst = Math.floor(l.burst / 8);
  const usec = clampU32((burst * USEC_PER_SEC) / rate);
  return {
    rate,
    buffer: clampU32(usec * tickUsec),
    limit: Math.min(clampU32((rate * LATENCY_USEC) / USEC_PER_SEC) + burst, U32_MAX),
  };
}
