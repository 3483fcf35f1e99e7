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

/**
 * One pass over the text, no recursion; does not validate (JSON.parse does). It runs on every
 * call's stdin, so it reads character codes and jumps over strings with indexOf rather than
 * stepping through them: about a third of the time of a character-by-character walk.
 */
export function scanJson(text: string): JsonShape {
  let depth = 0;
  let floats = false;
  let prevDigit = false;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip the string: its end is the next quote after an even run of backslashes.
      let q = text.indexOf('"', i + 1);
      while (q > 0) {
        let b = q - 1;
        while (text.charCodeAt(b) === 0x5c) b--;
        if ((q - 1 - b) % 2 === 0) break;
        q = text.indexOf('"', q + 1);
      }
      if (q < 0) break; // unterminated: JSON.parse says so
      i = q;
      prevDigit = false;
      continue;
    }
    if (c === 0x7b || c === 0x5b) {
      if (++depth > MAX_DEPTH) return { tooDeep: String.fromCharCode(c), floats };
    } else if (c === 0x7d || c === 0x5d) depth--;
    else if (c === 0x2e || ((c === 0x65 || c === 0x45) && prevDigit)) floats = true;
    prevDigit = c >= 0x30 && c <= 0x39;
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
