/** Reads and prints the plugin calls the trace wrappers recorded (see plugins.ts). */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface TraceEntry {
  /** Nanoseconds since the epoch when the wrapper started (as a decimal string). */
  readonly startNs: string;
  readonly plugin: string;
  readonly command: string;
  /** cniVersion of the config on stdin ('' when there is none). */
  readonly cniVersion: string;
  readonly containerId: string;
  /** CNI_NETNS, or undefined when the runtime did not set it at all. */
  readonly netns: string | undefined;
  readonly ifName: string;
  readonly args: string;
  readonly path: string;
  /** Keys of `runtimeConfig` in the config the runtime sent. */
  readonly runtimeConfigKeys: string[];
  /** The config the runtime sent (parsed), or undefined when stdin was not JSON. */
  readonly config: Record<string, unknown> | undefined;
  readonly stdin: string;
  readonly stdout: string;
  readonly stderr: string;
  /** Exit code, or undefined while the call runs (or when the wrapper was killed). */
  readonly rc: number | undefined;
  readonly env: Record<string, string>;
}

const read = (p: string): string => (existsSync(p) ? readFileSync(p, 'utf8') : '');
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
  }
  return env;
}

export function readTrace(traceDir: string): TraceEntry[] {
  if (!existsSync(traceDir)) return [];
  const names = readdirSync(traceDir).sort((a, b) => {
    const [ta = '', pa = ''] = a.split('-');
    const [tb = '', pb = ''] = b.split('-');
    return ta.length - tb.length || ta.localeCompare(tb) || Number(pa) - Number(pb);
  });
  return names.map((name) => {
    const d = join(traceDir, name);
    const parts = name.split('-');
    const env = parseEnv(read(join(d, 'env')));
    const stdin = read(join(d, 'stdin'));
    let config: Record<string, unknown> | undefined;
    try {
      const v: unknown = JSON.parse(stdin);
      if (isRecord(v)) config = v;
    } catch {
      config = undefined;
    }
    const rt = config?.['runtimeConfig'];
    const rcText = read(join(d, 'rc')).trim();
    return {
      startNs: parts[0] ?? '',
      plugin: parts.slice(2).join('-'),
      command: env['CNI_COMMAND'] ?? '',
      cniVersion: typeof config?.['cniVersion'] === 'string' ? config['cniVersion'] : '',
      containerId: env['CNI_CONTAINERID'] ?? '',
      netns: env['CNI_NETNS'],
      ifName: env['CNI_IFNAME'] ?? '',
      args: env['CNI_ARGS'] ?? '',
      path: env['CNI_PATH'] ?? '',
      runtimeConfigKeys: isRecord(rt) ? Object.keys(rt) : [],
      config,
      stdin,
      stdout: read(join(d, 'stdout')),
      stderr: read(join(d, 'stderr')),
      rc: rcText === '' ? undefined : Number(rcText),
      env,
    };
  });
}

/** One line per call: time since the first call, plugin, verb, cniVersion, exit code, netns, runtimeConfig keys. */
export function formatTrace(entries: readonly TraceEntry[]): string {
  if (entries.length === 0) return '(no plugin calls recorded)';
  const t0 = BigInt(entries[0]?.startNs || '0');
  return entries
    .map((e) => {
      const ms = Number((BigInt(e.startNs || '0') - t0) / 1_000_000n);
      const netns = e.netns === undefined ? '(unset)' : e.netns === '' ? '(empty)' : e.netns;
      const keys = e.runtimeConfigKeys.length ? ` runtimeConfig=[${e.runtimeConfigKeys.join(',')}]` : '';
      const rc = e.rc === undefined ? '?' : String(e.rc);
      let line = `+${String(ms).padStart(6)}ms ${e.plugin.padEnd(9)} ${e.command.padEnd(7)} v${e.cniVersion || '-'} rc=${rc} id=${e.containerId || '-'} if=${e.ifName || '-'} netns=${netns}${keys}`;
      if (e.rc !== 0) line += `\n      stdout: ${e.stdout.trim()}\n      stderr: ${e.stderr.trim()}`;
      return line;
    })
    .join('\n');
}

/** The calls of one plugin and verb. */
export const callsOf = (entries: readonly TraceEntry[], plugin: string, command?: string): TraceEntry[] =>
  entries.filter((e) => e.plugin === plugin && (command === undefined || e.command === command));

/** The first IPv4 address in the result of the last successful `plugin` ADD ('' when none). */
export function resultIp(entries: readonly TraceEntry[], plugin = 'bridge'): string {
  const add = callsOf(entries, plugin, 'ADD')
    .filter((e) => e.rc === 0)
    .pop();
  if (!add) return '';
  try {
    const r = JSON.parse(add.stdout) as { ips?: { address?: string }[] };
    for (const i of r.ips ?? []) {
      const a = i.address?.split('/')[0] ?? '';
      if (/^\d+\.\d+\.\d+\.\d+$/.test(a)) return a;
    }
  } catch {
    return '';
  }
  return '';
}
