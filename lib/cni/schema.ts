/**
 * Config decoding with the reference's JSON semantics, decided once here.
 *
 * The Go plugins decode with encoding/json: object keys match struct fields exactly or, failing
 * that, case-insensitively (containerd sends `HostPort`, podman `hostPort`); unknown keys are
 * ignored; types are strict. `goObject` gives a zod object schema those semantics.
 *
 * Start-up cost decides the details: zod's `mini` build, no generated parsers (`jitless`: a
 * config is parsed once per process, compiling a parser costs more than it saves), schemas
 * built on first use (`lazySchema`), and English messages loaded only when a parse has failed.
 */
import * as z from 'zod/mini';
import { en } from 'zod/locales';
import { ConfigError } from './errors';

z.config({ jitless: true });

export { z };

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
export function goObject<T extends z.core.$ZodLooseShape>(shape: T) {
  const keys = Object.keys(shape);
  return z.pipe(
    z.transform((v: unknown) => foldKeys(v, keys)),
    z.object(shape),
  );
}

/** A non-negative integer, the Go decoder's `uint`. */
export const uint = () => z.int().check(z.nonnegative());

/** A schema built the first time it is needed (building one costs start-up time). */
export function lazySchema<S>(build: () => S): () => S {
  let built: S | undefined;
  return () => (built ??= build());
}

let messagesLoaded = false;

/** Parses `value` with `schema`; failures become one ConfigError (code 7) naming each path. */
export function parseWith<S extends z.ZodMiniType>(schema: S, value: unknown, what: string): z.output<S> {
  let r = schema.safeParse(value);
  if (r.success) return r.data;
  if (!messagesLoaded) {
    // zod/mini carries no message texts; load them now and parse again for readable details.
    z.config(en());
    messagesLoaded = true;
    r = schema.safeParse(value);
    if (r.success) return r.data;
  }
  const details = r.error.issues
    .map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
  throw new ConfigError(`invalid ${what}`, details);
}
