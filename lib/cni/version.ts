/** CNI spec versions, their order, and which verbs each allows. */
export const ALL_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof ALL_VERSIONS)[number];
export const CURRENT_VERSION: CniVersion = '1.1.0';

/** What VERSION prints (the reference's PluginInfo, one line). */
export const versionAnswer = (): string =>
  JSON.stringify({ cniVersion: CURRENT_VERSION, supportedVersions: ALL_VERSIONS }) + '\n';

export function isSupportedVersion(v: string): v is CniVersion {
  return (ALL_VERSIONS as readonly string[]).includes(v);
}

/** Parses "x[.y[.z]]" like the reference (each part an integer, at most three). */
export function parseVersion(v: string): [number, number, number] {
  const parts = v.split('.');
  if (parts.length > 3) throw new Error(`invalid version "${v}": too many parts`);
  const names = ['major', 'minor', 'micro'];
  const nums = parts.map((p, i) => {
    if (!/^[+-]?\d+$/.test(p)) throw new Error(`failed to convert ${names[i]} version part "${p}"`);
    return Number(p);
  });
  return [nums[0] ?? 0, nums[1] ?? 0, nums[2] ?? 0];
}

export function compareVersions(a: string, b: string): number {
  const x = parseVersion(a);
  const y = parseVersion(b);
  for (let i = 0; i < 3; i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export const versionAtLeast = (v: string, min: string): boolean => compareVersions(v, min) >= 0;

/** Result families: versions within one family share a result shape. */
export type ResultFamily = '0.2' | '0.4' | '1.x';
export function resultFamily(v: string): ResultFamily {
  switch (v) {
    case '':
    case '0.1.0':
    case '0.2.0':
      return '0.2';
    case '0.3.0':
    case '0.3.1':
    case '0.4.0':
      return '0.4';
    case '1.0.0':
    case '1.1.0':
      return '1.x';
    default:
      throw new Error(`unsupported CNI result version "${v}"`);
  }
}
