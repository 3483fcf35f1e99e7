/**
 * CNI error codes and the one typed error that crosses the protocol boundary.
 *
 * Library modules throw domain errors (ExecError, ConfigError, …) or a CniError when they
 * already know the right code; `toCniError` in this file is the only place that maps them.
 */
import { ExecError } from '../exec/runner';
import { LockError, UnsafePathError } from '../sys/fs-errors';

export const ErrorCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IOFailure: 5,
  DecodingFailure: 6,
  InvalidNetworkConfig: 7,
  InvalidNetns: 8,
  TryAgainLater: 11,
  NotAvailable: 50,
  NotAvailableLimitedConnectivity: 51,
  Internal: 999,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** A code another plugin reported (a delegate): passed on unchanged, whatever it is. */
export type ForeignCode = number & { readonly __foreign: true };
export const foreignCode = (n: number): ForeignCode => n as ForeignCode;

export class CniError extends Error {
  constructor(
    readonly code: ErrorCode | ForeignCode,
    readonly msg: string,
    readonly details?: string,
  ) {
    super(details ? `${msg}: ${details}` : msg);
    this.name = 'CniError';
  }

  /** The wire shape (SPEC §"Error"); `cniVersion` is added by the printer. */
  toJSON(): { code: number; msg: string; details?: string } {
    return this.details
      ? { code: this.code, msg: this.msg, details: this.details }
      : { code: this.code, msg: this.msg };
  }
}

/** A plugin configuration that failed validation: code 7 with the offending path in details. */
export class ConfigError extends CniError {
  constructor(msg: string, details?: string) {
    super(ErrorCode.InvalidNetworkConfig, msg, details);
    this.name = 'ConfigError';
  }
}

/** Maps anything thrown to a CniError. A CniError passes through unchanged (delegate errors keep their code). */
export function toCniError(e: unknown): CniError {
  if (e instanceof CniError) return e;
  if (e instanceof ExecError) return new CniError(ErrorCode.Internal, e.message);
  // Whoever holds the lock will let go: the runtime may try again (the IPAM store's is the reference's code 11).
  if (e instanceof LockError) return new CniError(ErrorCode.TryAgainLater, `failed to lock ${e.lock}`, e.details);
  // A state path that is a planted link or special file: an I/O failure of the store, named.
  if (e instanceof UnsafePathError) return new CniError(ErrorCode.IOFailure, e.message);
  if (e instanceof Error) return new CniError(ErrorCode.Internal, e.message);
  return new CniError(ErrorCode.Internal, String(e));
}

/** One of several steps that failed while the others ran on. */
export interface Failure {
  /** What the step was doing, put before its message ("IPAM GC"); none when the message says it. */
  readonly step?: string;
  readonly error: unknown;
}

/**
 * Several failures as one CniError, undefined when there are none: the first one's code (a
 * delegate's own code passes through) and every message, in order. One failure keeps its message
 * and details apart (its step before the message; without a step it is returned as it was);
 * several are joined into one message, each with its own step and details, so none is lost or
 * paired with another's details.
 */
export function combinedError(failures: readonly Failure[]): CniError | undefined {
  const errors = failures.map((f) => ({ step: f.step, e: toCniError(f.error) }));
  const label = (step: string | undefined, text: string): string => (step ? `${step}: ${text}` : text);
  const first = errors[0];
  if (!first) return undefined;
  if (errors.length === 1)
    return first.step ? new CniError(first.e.code, label(first.step, first.e.msg), first.e.details) : first.e;
  return new CniError(first.e.code, errors.map(({ step, e }) => label(step, e.message)).join('; '));
}

/** Collects the failures of steps that run on regardless, then throws them as one (combinedError). */
export class Failures {
  readonly list: Failure[] = [];

  /** A rejection handler that keeps the failure under `step`: `await gc().catch(failures.of('IPAM GC'))`. */
  of(step?: string): (error: unknown) => void {
    return (error) => void this.list.push({ step, error });
  }

  /** Throws what was kept as one CniError; nothing when every step succeeded. */
  throwIfAny(): void {
    const error = combinedError(this.list);
    if (error) throw error;
  }
}
