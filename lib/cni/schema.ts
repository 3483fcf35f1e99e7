/**
 * Config decoding with the reference's JSON semantics, decided once here.
 *
 * The Go plugins decode with encoding/json: object keys match struct fields exactly or, failing
 * that, case-insensitively (containerd sends `HostPort`, podman `hostPort`); unknown keys are
 * ignored; types are strict; `null` leaves a field at its zero value, so here it reads as absent.
 *
 * Decoders are plain functions composed like a schema (`object({ mtu: int, ... })`) whose result
 * type is inferred. They replace zod here for one reason, measured in the executable: zod's first
 * parse of the bridge and host-local configs costs ~4 ms of every call (its schema objects are
 * built and run cold in each new process), these cost a few hundredths of that.
 */
import { ConfigError } from './errors';
import { JsonFloat } from './json';

/** Where a value sits in the document, for messages: `ipam.ranges.0.0.subnet`. */
type Path = readonly (string | number)[];

/** A failed decode; `parseWith` turns it into a ConfigError (code 7). */
export class DecodeError extends Error {
  constructor(
    readonly path: Path,
    readonly expected: string,
    readonly got: unknown,
  ) {
    super(`${path.length ? path.join('.') : '(root)'}: expected ${expected}, got ${describe(got)}`);
    this.name = 'DecodeError';
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v instanceof JsonFloat) return `number ${v.source}`;
  if (Array.isArray(v)) return 'array';
  return typeof v === 'string' ? `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}` : typeof v;
}

export type Decoder<T> = (value: unknown, path: Path) => T;
/** The type a decoder produces. */
export type Decoded<D> = D extends Decoder<infer T> ? T : never;

export const string: Decoder<string> = (v, path) => {
  if (typeof v !== 'string') throw new DecodeError(path, 'string', v);
  return v;
};

export const boolean: Decoder<boolean> = (v, path) => {
  if (typeof v !== 'boolean') throw new DecodeError(path, 'boolean', v);
  return v;
};

/** A JSON number that is an integer (Go's int rejects 1.5, and 1e3 or 80.0: see json.ts). */
export const int: Decoder<number> = (v, path) => {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new DecodeError(path, 'integer', v);
  return v;
};

/** Go's uint. */
export const uint: Decoder<number> = (v, path) => {
  if (int(v, path) < 0) throw new DecodeError(path, 'non-negative integer', v);
  return v as number;
};

export function literal<const T extends string>(...values: readonly T[]): Decoder<T> {
  return (v, path) => {
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v))
      throw new DecodeError(path, values.map((x) => JSON.stringify(x)).join(' or '), v);
    return v as T;
  };
}

/** Absent or null reads as undefined (Go leaves the field at its zero value). */
export function optional<T>(d: Decoder<T>): Decoder<T | undefined> {
  return (v, path) => (v === undefined || v === null ? undefined : d(v, path));
}

export function array<T>(item: Decoder<T>): Decoder<T[]> {
  return (v, path) => {
    if (!Array.isArray(v)) throw new DecodeError(path, 'array', v);
    return v.map((x, i) => item(x, [...path, i]));
  };
}

/** Renames keys of a plain object to the canonical spelling in `keys` (exact match wins). */
export function foldKeys(value: unknown, keys: readonly string[]): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    let canon = keys.includes(k) ? k : undefined;
    if (canon === undefined) {
      const lower = k.toLowerCase();
      canon = keys.find((c) => c.toLowerCase() === lower);
    }
    if (canon === undefined) continue; // unknown keys are ignored, as in Go
    if (canon !== k && Object.prototype.hasOwnProperty.call(value, canon)) continue; // exact key wins
    out[canon] = v;
  }
  return out;
}

type Shape = Readonly<Record<string, Decoder<unknown>>>;
type ObjectOf<S extends Shape> = { [K in keyof S]: Decoded<S[K]> };

/** A JSON object decoded field by field with Go's key matching; unknown keys are dropped. */
export function object<S extends Shape>(shape: S): Decoder<ObjectOf<S>> {
  const keys = Object.keys(shape);
  return (v, path) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new DecodeError(path, 'object', v);
    const folded = foldKeys(v, keys) as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const k of keys) {
      const value = (shape[k] as Decoder<unknown>)(folded[k], [...path, k]);
      if (value !== undefined) out[k] = value;
    }
    return out as ObjectOf<S>;
  };
}

/** Decodes `value`; a failure becomes one ConfigError (code 7) naming the path in its details. */
export function parseWith<T>(decoder: Decoder<T>, value: unknown, what: string): T {
  try {
    return decoder(value, []);
  } catch (e) {
    if (e instanceof DecodeError) throw new ConfigError(`invalid ${what}`, e.message);
    throw e;
  }
}
