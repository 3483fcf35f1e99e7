/**
 * CNI_ARGS ("K=V;K2=V2") parsed the way the reference's types.LoadArgs does: every pair must
 * split into exactly two parts, keys match the plugin's known keys case-sensitively, and unknown
 * keys are an error unless IgnoreUnknown is true.
 */
import { CniError, ErrorCode } from './errors';

export function parseCniArgs(raw: string, known: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  if (raw === '') return out;
  const unknown: string[] = [];
  let ignoreUnknown = false;
  for (const pair of raw.split(';')) {
    const kv = pair.split('=');
    if (kv.length !== 2) throw new CniError(ErrorCode.Internal, `ARGS: invalid pair "${pair}"`);
    const [k, v] = kv as [string, string];
    if (k === 'IgnoreUnknown') {
      ignoreUnknown = parseArgBool(v, pair);
    } else if (known.includes(k)) {
      out[k] = v;
    } else {
      unknown.push(pair);
    }
  }
  if (unknown.length > 0 && !ignoreUnknown) {
    throw new CniError(ErrorCode.Internal, `ARGS: unknown args [${unknown.map((u) => JSON.stringify(u)).join(' ')}]`);
  }
  return out;
}

function parseArgBool(v: string, pair: string): boolean {
  const s = v.toLowerCase();
  if (s === '1' || s === 'true') return true;
  if (s === '0' || s === 'false') return false;
  throw new CniError(
    ErrorCode.Internal,
    `ARGS: error parsing value of pair "${pair}": boolean unmarshal error: invalid input ${v}`,
  );
}
