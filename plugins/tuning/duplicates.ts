/**
 * Duplicate keys inside the `sysctl` object. JSON.parse keeps the last of two equal keys, so
 * `{"sysctl": {"net.core.somaxconn": "1", "net.core.somaxconn": "2"}}` would silently mean "2";
 * the reference (v1.2.0+) refuses such a config, and so do we. This scans the raw text: a small
 * recursive descent over JSON that only collects the member names of top-level `sysctl` objects
 * (matched case-insensitively, as Go matches the field). The text is known to be valid JSON.
 */

/** The first key that appears twice in a top-level `sysctl` object, or undefined. */
export function duplicateSysctlKey(text: string): string | undefined {
  let i = 0;
  let found: string | undefined;
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i] ?? '')) i++;
  };
  const str = (): string => {
    const start = i;
    i++; // opening quote
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (collect: boolean): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const seen = new Set<string>();
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        const key = str();
        if (collect && seen.has(key) && found === undefined) found = key;
        seen.add(key);
        ws();
        i++; // colon
        value(false);
        ws();
        if (i >= text.length || text[i++] === '}') return;
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value(false);
        ws();
        if (i >= text.length || text[i++] === ']') return;
      }
    }
    if (c === '"') {
      str();
      return;
    }
    while (i < text.length && !',}] \t\n\r'.includes(text[i] ?? '')) i++; // number, true, false, null
  };

  ws();
  if (text[i] !== '{') return undefined;
  i++;
  ws();
  if (text[i] === '}') return undefined;
  for (;;) {
    ws();
    const key = str();
    ws();
    i++; // colon
    value(key.toLowerCase() === 'sysctl');
    ws();
    if (text[i++] !== ',') return found;
  }
}
