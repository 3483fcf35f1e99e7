/**
 * Config decoding with the reference's JSON semantics, decided once here.
 *
 * The Go plugins decode with encoding/json: object keys match struct fields exactly or, failing
 * that, case-insensitively (containerd sends `HostPort`, podman `hostPort`); unknown keys are
 * ignored; types are strict. `goObject` gives a zod object schema those semantics.
 */
import { z } from 'zod';
import { ConfigError } from './errors';

/** Renames keys of a plain object to the canonical spelling in `keys` (exact match wins). */
export function foldKeys(value: unknown, keys: readonly string[]): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const lower = new Map(keys.map((k) => [k.toLowerCase(), k] as const));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const canon = keys.includes(k) ? k : lower.get(k.toLowerCase());
    if (canon === undefined) continue; // unknown keys are ignored, as in Go
    if (canon !== k && Object.prototype.hasOwnProperty.call(value, canon)) continue; // exact key wins
    out[canon] = v;
  }
  return out;
}

/** A zod object whose keys are matched case-insensitively and whose unknown keys are dropped. */
export function goObject<T extends z.ZodRawShape>(shape: T) {
  const keys = Object.keys(shape);
  return z.preprocess((v) => foldKeys(v, keys), z.object(shape));
}

/** Parses `value` with `schema`; failures become one ConfigError (code 7) naming each path. */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const details = r.error.issues
    .map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
  throw new ConfigError(`invalid ${what}`, details);
}
