/**
 * Duplicate keys inside the `sysctl` object. JSON.parse keeps the last of two equal keys, so
 * `{"sysctl": {"net.core.somaxconn": "1", "net.core.somaxconn": "2"}}` would silently mean "2";
 * the reference (v1.2.0+) refuses such a config, and so do we. This scans the raw text and only
 * collects the member names of top-level `sysctl` objects (matched case-insensitively, as Go
 * matches the field). The text is known to be valid JSON.
 */

interface Open {
  readonly kind: '{' | '[';
  /** Member names seen so far, for a `sysctl` object; undefined elsewhere. */
  readonly seen: Set<string> | undefined;
  /** In an object: the next string is a member name. */
  expectKey: boolean;
}

/**
 * The first key that appears twice in a top-level `sysctl` object, or undefined. One pass with
 * an explicit stack, no recursion: the dispatcher has already refused nesting deeper than Go
 * allows (lib/cni/json.ts), and no depth can exhaust the call stack here.
 */
export function duplicateSysctlKey(text: string): string | undefined {
  const stack: Open[] = [];
  let topKey = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    const top = stack[stack.length - 1];
    if (c === '"') {
      const start = i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      if (top?.kind !== '{' || !top.expectKey) continue; // a string value
      const key = JSON.parse(text.slice(start, i + 1)) as string;
      top.expectKey = false;
      if (stack.length === 1) topKey = key;
      if (top.seen?.has(key)) return key;
      top.seen?.add(key);
    } else if (c === '{') {
      // The value of a member of the top-level object whose name is `sysctl` (as Go matches fields).
      const sysctl = stack.length === 1 && top?.kind === '{' && topKey.toLowerCase() === 'sysctl';
      stack.push({ kind: '{', seen: sysctl ? new Set() : undefined, expectKey: true });
    } else if (c === '[') stack.push({ kind: '[', seen: undefined, expectKey: false });
    else if (c === '}' || c === ']') stack.pop();
    else if (c === ',' && top?.kind === '{') top.expectKey = true;
  }
  return undefined;
}
