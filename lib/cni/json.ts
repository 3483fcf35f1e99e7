/**
 * JSON from outside the process (a config on stdin, a delegate's result, state files), read with
 * the reference's limits and number rules:
 *  - nesting deeper than Go's encoding/json allows (10,000 levels) is refused before parsing,
 *    with Go's message, by an iterative scan: nothing that walks a document afterwards can run
 *    out of stack on one (JSON.parse itself copes with any depth);
 *  - a number written with a fraction or an exponent (`1e3`, `80.0`) is a float to Go, which
 *    refuses it for an int field. Where the runtime tells a reviver the number's source text
 *    (Bun), such numbers come back as `JsonFloat` objects, which schema.ts's int decoders refuse
 *    and JSON.stringify writes as plain numbers. Under Node.js (unit tests) they stay numbers.
 */

/** encoding/json's maxNestingDepth. */
export const MAX_DEPTH = 10_000;

/** A number that was written with a fraction or an exponent (Go decodes it only into a float). */
export class JsonFloat extends Number {
  constructor(
    value: number,
    /** The number as written, e.g. `1e3`. */
    readonly source: string,
  ) {
    super(value);
  }
}

/** What the scan found: the bracket that went one level too deep, and whether any number is float-shaped. */
export interface JsonShape {
  readonly tooDeep: string | undefined;
  readonly floats: boolean;
}

/** One pass over the text, no recursion; does not validate (JSON.parse does). */
export function scanJson(text: string): JsonShape {
  let depth = 0;
  let floats = false;
  let prev = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '"') {
      // Skip the string, escapes included.
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      prev = '"';
      continue;
    }
    if (c === '{' || c === '[') {
      if (++depth > MAX_DEPTH) return { tooDeep: c, floats };
    } else if (c === '}' || c === ']') depth--;
    else if (c === '.' || ((c === 'e' || c === 'E') && /[0-9]/.test(prev))) floats = true;
    prev = c;
  }
  return { tooDeep: undefined, floats };
}

/** Whether JSON.parse tells revivers a primitive's source text (Bun does; Node.js 20 does not). */
let sourceAware: boolean | undefined;
function revivesWithSource(): boolean {
  if (sourceAware === undefined) {
    sourceAware = false;
    JSON.parse('1', (_k, v: unknown, ctx?: { source?: string }) => {
      sourceAware = ctx?.source === '1';
      return v;
    });
  }
  return sourceAware;
}

/** The error for a document nested too deeply, worded as Go's scanner words it. */
export class JsonDepthError extends SyntaxError {
  constructor(bracket: string) {
    super(`invalid character '${bracket}' exceeded max depth`);
    this.name = 'JsonDepthError';
  }
}

/**
 * JSON.parse with Go's depth limit and, with `floats`, float-shaped numbers as JsonFloat.
 * Throws a SyntaxError (JsonDepthError for the depth) on bad input.
 */
export function parseJson(text: string, opts: { floats?: boolean } = {}): unknown {
  const shape = scanJson(text);
  if (shape.tooDeep !== undefined) throw new JsonDepthError(shape.tooDeep);
  if (!opts.floats || !shape.floats || !revivesWithSource()) return JSON.parse(text);
  return JSON.parse(text, (_k, v: unknown, ctx?: { source?: string }) =>
    typeof v === 'number' && ctx?.source !== undefined && /[.eE]/.test(ctx.source) ? new JsonFloat(v, ctx.source) : v,
  );
}
