/**
 * The hostile-input fuzzer (issue 20), test-only: fast-check generates calls (plugin, verb, CNI_*
 * env, config) that run the shipped executable inside one sandbox, and checks after each call:
 *  - the call ends by itself within the time limit and under the address-space limit (prlimit);
 *  - stdout is empty or exactly one JSON document; a failure is one CNI error whose code is in
 *    the spec's table (1-7, 11, 50, 51), skel's 8, 999 or a plugin's own (100+), with no stack trace;
 *  - nothing outside the state directories changed: the sandbox directory keeps its entries and
 *    the canary tree (which planted links in the state directories point at) keeps its content;
 *  - after a failed ADD and the DEL a runtime would send, no link, rule or lease is left;
 *  - no process is left running in the sandbox's namespaces.
 * Every call runs in the sandbox's host network namespace and in a private mount namespace whose
 * tmpfs lies over the default state roots (/var/lib/cni, /run/cni, /run/tscni, /var/lib/tscni), so a
 * config that names no directory of ours still writes nothing on the machine.
 * `lib/cni/fuzz.int.test.ts` runs it briefly in `make test`; `make fuzz` runs it for FUZZ_SECONDS.
 */
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { PrivateMounts } from './mountns';
import { BIN_DIR, run, runOk, Sandbox, type RunResult } from './sandbox';
import { addUnderlay } from './underlay';

export const PLUGINS = [
  'bridge',
  'ptp',
  'macvlan',
  'ipvlan',
  'host-device',
  'host-local',
  'static',
  'dhcp',
  'portmap',
  'firewall',
  'tuning',
  'sbr',
  'loopback',
  'vlan',
  'tap',
  'dummy',
  'vrf',
] as const;

/**
 * Per call: the time after which it is killed (generous: the machine is shared) and its address
 * space. Below 4 GiB Bun cannot reserve its JIT's memory and bun:ffi (flock, setns) fails.
 */
export const CALL_TIMEOUT_MS = 60_000;
export const CALL_ADDRESS_SPACE = 4 * 1024 * 1024 * 1024;
const DEFAULT_ROOTS = ['/var/lib/cni', '/run/cni', '/run/tscni', '/var/lib/tscni'];
/** The spec's table, skel's ErrInvalidNetNS (8, as the reference) and 999. */
const SPEC_CODES = new Set([1, 2, 3, 4, 5, 6, 7, 8, 11, 50, 51, 999]);

export interface FuzzCall {
  readonly plugin: string;
  readonly verb: string;
  readonly containerId: string;
  readonly ifName: string;
  /** Which CNI_NETNS: the container's, or a hostile path (see World.netnsFor). */
  readonly netns: string;
  readonly cniArgs: string;
  /** The config as written to stdin (JSON text, or not JSON at all). */
  readonly stdin: string;
  /** Links planted in the state directories before the call. */
  readonly plant: boolean;
}

export interface Finding {
  readonly call: FuzzCall;
  readonly what: string;
  readonly result?: RunResult;
}

// ---- generators ----

const hostileNames = [
  'e"x',
  '",6.6.6.6}#',
  'a;b',
  'x{y}',
  '$(id)',
  'a\\b',
  "it's",
  '../x',
  'a/b',
  '.',
  '..',
  'a b',
  'x\ty',
  'é',
  '-x',
  'e'.repeat(15),
  'e'.repeat(16),
];
// Valid names most of the time, so that calls get past the protocol edge into the plugins.
const name = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('eth0', 'net1', 'fz0', 'e"x', '",6.6.6.6}#', 'a;b', '$(id)', 'x{y}') },
  { weight: 2, arbitrary: fc.constantFrom(...hostileNames) },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
);
const containerId = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('ctr-fuzz', 'c'.repeat(64), 'c'.repeat(301)) },
  { weight: 1, arbitrary: fc.constantFrom('a/b', '../x', 'x"y', 'a:b', 'a\u0001b', '') },
  { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,300}$/) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
);
const netns = fc.constantFrom(
  'ctr',
  'ctr',
  'ctr',
  'fifo',
  'file',
  'dir',
  'dev-zero',
  'missing',
  'mnt-ns',
  '',
  'relative',
);
const verb = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom('ADD', 'ADD', 'ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION') },
  { weight: 1, arbitrary: fc.constantFrom('add', '', 'ADD ', 'FOO') },
);
const cniArgs = fc.oneof(
  fc.constant(''),
  fc.constantFrom(
    'IgnoreUnknown=1',
    'IP=10.99.0.50',
    'IgnoreUnknown=1;IP=10.99.0.300',
    'K8S_POD_NAME=a"b',
    '=;;=',
    'a',
  ),
  fc.string({ maxLength: 60 }),
);

/** Paths a config may name: ours, links into the canary, special files, nonsense. */
const pathChoice = (dir: string): fc.Arbitrary<string> =>
  fc.constantFrom(
    join(dir, 'state', 'data'),
    join(dir, 'state', 'link-to-canary'),
    join(dir, 'state', 'fifo'),
    '/dev/zero',
    '/dev/null',
    '/proc/self/mem',
    '',
    'relative/dir',
    join(dir, 'canary', 'file'),
  );

const subnet = fc.oneof(
  fc.constantFrom('10.99.0.0/24', 'fd99::/64', '10.99.0.0/30', '10.99.0.0/32', '0.0.0.0/0', '::/0', '10.99.0.1/24'),
  fc.constantFrom('10.99.0.0/33', '300.0.0.0/8', 'x', '', '10.99.0.0'),
  fc.string({ maxLength: 20 }),
);

const ipam = (dir: string): fc.Arbitrary<Record<string, unknown>> =>
  fc.record(
    {
      type: fc.oneof(fc.constantFrom('host-local', 'static', 'dhcp', 'bridge', 'ptp', 'nope', '../host-local', '')),
      subnet,
      dataDir: pathChoice(dir),
      resolvConf: pathChoice(dir),
      rangeStart: fc.constantFrom('10.99.0.10', '10.99.0.300', 'x'),
      routes: fc.constantFrom([{ dst: '0.0.0.0/0' }], [{ dst: 'x' }], 'x', null),
      addresses: fc.constantFrom([{ address: '10.99.0.5/24' }], [{ address: 'x' }], 3),
    },
    { requiredKeys: ['type'] },
  );

/** A plausible config for `plugin` that the sandbox can satisfy, for mutation. */
function baseConfig(plugin: string, dir: string, cniVersion = '1.1.0'): Record<string, unknown> {
  const hl = { type: 'host-local', subnet: '10.99.0.0/24', dataDir: join(dir, 'state', 'data') };
  const prevResult = {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'eth0', sandbox: '/x' }],
    ips: [{ address: '10.99.0.5/24', gateway: '10.99.0.1', interface: 0 }],
  };
  const c: Record<string, unknown> = { cniVersion, name: 'fz', type: plugin };
  switch (plugin) {
    case 'bridge':
      return { ...c, bridge: 'fzbr0', isGateway: true, ipMasq: true, ipam: hl };
    case 'ptp':
    case 'macvlan':
    case 'ipvlan':
    case 'vlan':
    case 'dummy':
    case 'tap':
      return { ...c, master: 'phys0', vlanId: 5, ipam: hl };
    case 'host-device':
      return { ...c, device: 'fzdev0', ipam: hl };
    case 'host-local':
    case 'static':
    case 'dhcp':
      return { ...c, ipam: plugin === 'host-local' ? hl : { type: plugin, addresses: [{ address: '10.99.0.5/24' }] } };
    case 'portmap':
      return {
        ...c,
        capabilities: { portMappings: true },
        runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] },
        prevResult,
      };
    case 'firewall':
      return { ...c, backend: 'iptables', prevResult };
    case 'tuning':
      return { ...c, sysctl: { 'net.ipv4.conf.eth0.rp_filter': '1' }, mac: '02:00:00:00:00:09', prevResult };
    case 'vrf':
      return { ...c, vrfname: 'fzvrf', prevResult };
    default:
      return { ...c, prevResult };
  }
}

const KEYS = [
  'cniVersion',
  'name',
  'type',
  'bridge',
  'master',
  'mode',
  'mtu',
  'vlan',
  'vlanId',
  'ipMasq',
  'ipMasqBackend',
  'isGateway',
  'hairpinMode',
  'macspoofchk',
  'backend',
  'iptablesAdminChainName',
  'sysctl',
  'mac',
  'device',
  'prevResult',
  'runtimeConfig',
  'capabilities',
  'args',
  'snat',
  'externalSetMarkChain',
  'ingressRate',
  'vrfname',
  'table',
  'ipam',
  'dns',
];

const value = (dir: string): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
    { weight: 2, arbitrary: fc.constantFrom(...hostileNames) },
    { weight: 2, arbitrary: ipam(dir) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        null,
        1e3,
        80.0,
        -1,
        2 ** 53,
        '1.0.0',
        '0.1.0',
        '9.9.9',
        { portMappings: [{ hostPort: 1e3, containerPort: 80 }] },
        { ips: [{ address: '10.99.0.5/24' }], interfaces: [{ name: '",6.6.6.6}#' }] },
      ),
    },
  );

/** The stdin of a call: a base config mutated, random JSON, deep nesting or bytes that are not JSON. */
const version = fc.constantFrom('1.1.0', '1.1.0', '1.0.0', '0.4.0', '0.3.1');
const stdin = (plugin: string, dir: string): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 2, arbitrary: version.map((v) => JSON.stringify(baseConfig(plugin, dir, v))) },
    {
      weight: 10,
      arbitrary: fc
        .tuple(
          version,
          fc.dictionary(fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 8 })), value(dir), { maxKeys: 4 }),
        )
        .map(([v, over]) => JSON.stringify({ ...baseConfig(plugin, dir, v), ...over })),
    },
    {
      weight: 1,
      arbitrary: fc
        .dictionary(fc.constantFrom(...KEYS), fc.constant(undefined), { minKeys: 1, maxKeys: 3 })
        .map((drop) => {
          const c = baseConfig(plugin, dir);
          for (const k of Object.keys(drop)) delete c[k];
          return JSON.stringify(c);
        }),
    },
    { weight: 1, arbitrary: fc.json({ maxDepth: 4 }) },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 1, max: 200_000 })
        .map((n) => `{"cniVersion":"1.0.0","name":"fz","type":"${plugin}","x":${'['.repeat(n)}${']'.repeat(n)}}`),
    },
    { weight: 1, arbitrary: fc.string({ maxLength: 100 }) },
  );

export const fuzzCall = (dir: string): fc.Arbitrary<FuzzCall> =>
  fc.constantFrom(...PLUGINS).chain((plugin) =>
    fc.record({
      plugin: fc.constant(plugin),
      verb,
      containerId,
      ifName: name,
      netns,
      cniArgs,
      stdin: stdin(plugin, dir),
      plant: fc.boolean(),
    }),
  );

// ---- the world the calls run in ----

/** Everything observable that a failed ADD plus DEL must leave as it found it. */
interface Snapshot {
  hostLinks: string;
  ctrLinks: string;
  hostRules: string;
  leases: string;
}

export class World {
  calls = 0;
  /** How the generated calls ended: exit 0 or the CNI error code, by verb. */
  readonly outcomes = new Map<string, number>();
  /** Distinct messages of code 999 (internal) seen, for the summary. */
  readonly internal = new Set<string>();
  private constructor(
    readonly sb: Sandbox,
    readonly pm: PrivateMounts,
    readonly ctrPath: string,
  ) {}

  static async create(): Promise<World> {
    const sb = await Sandbox.create('fuzz');
    let pm: PrivateMounts | undefined;
    try {
      const ctrPath = await sb.addContainer('c');
      await addUnderlay(sb, { master: 'phys0', outside: 'out', subnet: '192.168.99' });
      await runOk(['ip', '-n', sb.hostNs, 'link', 'add', 'fzdev0', 'type', 'veth', 'peer', 'name', 'fzdev0p']);
      pm = await PrivateMounts.create();
      for (const d of DEFAULT_ROOTS) {
        await runOk(pm.enter(['mkdir', '-p', d]));
        await pm.mountTmpfs(d, '16m');
      }
      const w = new World(sb, pm, ctrPath);
      mkdirSync(w.canary, { recursive: true });
      writeFileSync(join(w.canary, 'file'), 'canary\n');
      mkdirSync(join(w.canary, 'sub'));
      writeFileSync(join(w.canary, 'sub', 'file'), 'canary too\n');
      mkdirSync(w.cwd);
      writeFileSync(join(sb.dir, 'regular'), 'not a namespace\n');
      mkdirSync(join(sb.dir, 'a-dir'));
      await runOk(['mkfifo', join(sb.dir, 'fifo')]);
      await w.reset(false);
      return w;
    } catch (e) {
      await pm?.destroy();
      await sb.destroy();
      throw e;
    }
  }

  get state(): string {
    return join(this.sb.dir, 'state');
  }
  get canary(): string {
    return join(this.sb.dir, 'canary');
  }
  get cwd(): string {
    return join(this.sb.dir, 'cwd');
  }

  async destroy(): Promise<void> {
    await this.pm.destroy();
    await this.sb.destroy();
  }

  netnsFor(which: string): string {
    switch (which) {
      case 'ctr':
        return this.ctrPath;
      case 'fifo':
        return join(this.sb.dir, 'fifo');
      case 'file':
        return join(this.sb.dir, 'regular');
      case 'dir':
        return join(this.sb.dir, 'a-dir');
      case 'dev-zero':
        return '/dev/zero';
      case 'missing':
        return join(this.sb.dir, 'missing');
      case 'mnt-ns':
        return '/proc/self/ns/mnt';
      case 'relative':
        return 'netns';
      default:
        return which;
    }
  }

  /**
   * Processes living in the sandbox's namespaces, as "pid command line": nothing runs there
   * between calls, so any is a call's child that outlived it (a leak a long run would pile up).
   */
  async processesLeft(): Promise<string[]> {
    const out: string[] = [];
    for (const ns of [this.sb.hostNs, this.sb.nsName('c'), this.sb.nsName('out')]) {
      const r = await run(['ip', 'netns', 'pids', ns]);
      for (const pid of r.stdout.split(/\s+/).filter((p) => /^\d+$/.test(p))) {
        let cmd = '?';
        try {
          cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
        } catch {
          // gone meanwhile
        }
        out.push(`${pid} ${cmd}`);
      }
    }
    return out;
  }

  /** Back to the start: only the sandbox's own links, no rules, empty state (links planted when asked). */
  async reset(plant: boolean): Promise<void> {
    // Left by an earlier call (a finding then): they were started by our calls, ended by their PIDs.
    for (const p of await this.processesLeft()) {
      try {
        process.kill(Number(p.split(' ')[0]), 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    const keep = new Set(['lo', 'phys0', 'fzdev0', 'fzdev0p']);
    for (const [ns, kept] of [
      [this.sb.hostNs, keep],
      [this.sb.nsName('c'), new Set(['lo'])],
    ] as const) {
      for (const l of await linkNames(ns)) if (!kept.has(l)) await run(['ip', '-n', ns, 'link', 'del', l]);
      await run(['ip', 'netns', 'exec', ns, 'nft', 'flush', 'ruleset']);
    }
    // A host-device ADD moves fzdev0 into the container under the call's ifName, where it was just
    // deleted with its peer: made again, or every later host-device call would find no device.
    const hostLinks = await linkNames(this.sb.hostNs);
    if (!hostLinks.includes('fzdev0') || !hostLinks.includes('fzdev0p')) {
      for (const l of ['fzdev0', 'fzdev0p'])
        if (hostLinks.includes(l)) await run(['ip', '-n', this.sb.hostNs, 'link', 'del', l]);
      await runOk(['ip', '-n', this.sb.hostNs, 'link', 'add', 'fzdev0', 'type', 'veth', 'peer', 'name', 'fzdev0p']);
    }
    await runOk(this.pm.enter(['sh', '-c', DEFAULT_ROOTS.map((d) => `rm -rf ${d}/* ${d}/.[!.]*`).join('; ')]));
    rmSync(this.state, { recursive: true, force: true });
    rmSync(this.cwd, { recursive: true, force: true });
    mkdirSync(this.cwd);
    mkdirSync(join(this.state, 'data'), { recursive: true });
    await runOk(['mkfifo', join(this.state, 'fifo')]);
    symlinkSync(this.canary, join(this.state, 'link-to-canary'));
    if (!plant) return;
    // Where our own state files go, links to the canary (issue 20 rows 2, 3, 7, 9).
    const net = join(this.state, 'data', 'fz');
    mkdirSync(join(net, '.tscni'), { recursive: true });
    symlinkSync(this.canary, join(net, '.tscni', 'by-id'));
    symlinkSync(join(this.canary, 'file'), join(net, '10.99.0.2'));
    symlinkSync(join(this.canary, 'file'), join(net, 'last_reserved_ip.0'));
    mkdirSync(join(this.state, 'run'), { recursive: true });
    symlinkSync(this.canary, join(this.state, 'run', 'teardown'));
    symlinkSync(join(this.canary, 'file'), join(this.state, 'run', 'port-forwarding.lock'));
    mkdirSync(join(this.state, 'tscni'), { recursive: true });
    symlinkSync(this.canary, join(this.state, 'tscni', 'vlan'));
    symlinkSync(this.canary, join(this.state, 'tscni', 'firewall'));
    symlinkSync(this.canary, join(this.state, 'tscni', 'tuning'));
  }

  async snapshot(): Promise<Snapshot> {
    const hostRules = await run(['ip', 'netns', 'exec', this.sb.hostNs, 'nft', 'list', 'ruleset']);
    return {
      hostLinks: (await linkNames(this.sb.hostNs)).sort().join(' '),
      ctrLinks: (await linkNames(this.sb.nsName('c'))).sort().join(' '),
      hostRules: hostRules.stdout.replace(/# handle \d+/g, ''),
      leases: leasesUnder(join(this.state, 'data')).join(' '),
    };
  }

  /** One call of the shipped executable, limited in time and address space. */
  invoke(c: FuzzCall, verbOverride?: string): Promise<RunResult> {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      CNI_COMMAND: verbOverride ?? c.verb,
      CNI_CONTAINERID: c.containerId,
      CNI_NETNS: this.netnsFor(c.netns),
      CNI_IFNAME: c.ifName,
      CNI_ARGS: c.cniArgs,
      CNI_PATH: BIN_DIR,
      TSCNI_RUN_DIR: join(this.state, 'run'),
      TSCNI_STATE_DIR: join(this.state, 'tscni'),
    };
    this.calls++;
    return run(
      this.pm.enter([
        'prlimit',
        `--as=${CALL_ADDRESS_SPACE}`,
        'ip',
        'netns',
        'exec',
        this.sb.hostNs,
        join(BIN_DIR, c.plugin),
      ]),
      { input: c.stdin, env, timeoutMs: CALL_TIMEOUT_MS, cwd: this.cwd },
    );
  }

  /** The bridge a bridge call's config names (default cni0), when a bridge of that name is in the sandbox host. */
  private async bridgeOf(c: FuzzCall): Promise<string | undefined> {
    if (c.plugin !== 'bridge') return undefined;
    let name: unknown = 'cni0';
    try {
      const conf: unknown = JSON.parse(c.stdin);
      if (typeof conf === 'object' && conf !== null && 'bridge' in conf) name = conf.bridge || 'cni0';
    } catch {
      return undefined;
    }
    if (typeof name !== 'string') return undefined;
    const r = await run(['ip', '-n', this.sb.hostNs, '-d', '-j', 'link', 'show', 'dev', name]);
    if (r.code !== 0) return undefined;
    const links = JSON.parse(r.stdout) as Array<{ ifname?: string; linkinfo?: { info_kind?: string } }>;
    return links[0]?.ifname === name && links[0]?.linkinfo?.info_kind === 'bridge' ? name : undefined;
  }

  /** Runs one generated call and returns what it broke (empty: nothing). */
  async check(c: FuzzCall): Promise<Finding[]> {
    await this.reset(c.plant);
    const canaryBefore = treeDigest(this.canary);
    const topBefore = readdirSync(this.sb.dir).sort().join(' ');
    const before = await this.snapshot();
    const findings: Finding[] = [];
    const r = await this.invoke(c);
    const code = r.code === 0 ? 'ok' : String((r.json as { code?: unknown } | undefined)?.code ?? `exit ${r.code}`);
    const key = `${c.verb} ${code}`;
    this.outcomes.set(key, (this.outcomes.get(key) ?? 0) + 1);
    // The internal errors' messages, to read after a run: 999 is allowed, but each should be earned.
    const msg = (r.json as { msg?: unknown } | undefined)?.msg;
    if (code === '999' && typeof msg === 'string' && this.internal.size < 40)
      this.internal.add(`${c.plugin} ${c.verb}: ${msg.slice(0, 160)}`);
    findings.push(...outputFindings(c, r));
    if (c.verb === 'ADD' && r.code !== 0 && r.code !== -1) {
      const del = await this.invoke(c, 'DEL');
      findings.push(...outputFindings(c, del).map((f) => ({ ...f, what: `the DEL after: ${f.what}` })));
      const after = await this.snapshot();
      // The configured bridge may stay: bridge never removes it, after a failed ADD (README,
      // Rollback: lease, veth, rules) as after a DEL, as the reference; nothing else may.
      const bridge = await this.bridgeOf(c);
      if (bridge !== undefined) after.hostLinks = dropName(after.hostLinks, bridge);
      for (const k of Object.keys(before) as Array<keyof Snapshot>)
        if (before[k] !== after[k])
          findings.push({ call: c, what: `failed ADD + DEL left ${k}: ${before[k]} -> ${after[k]}`, result: r });
    }
    const left = await this.processesLeft();
    if (left.length > 0) findings.push({ call: c, what: `left running in the sandbox: ${left.join('; ')}`, result: r });
    if (treeDigest(this.canary) !== canaryBefore)
      findings.push({ call: c, what: 'the canary (outside the state directories) changed', result: r });
    const topAfter = readdirSync(this.sb.dir).sort().join(' ');
    if (topAfter !== topBefore)
      findings.push({ call: c, what: `created outside the state directories: ${topBefore} -> ${topAfter}`, result: r });
    return findings;
  }
}

/** What one result breaks of the output properties. */
export function outputFindings(call: FuzzCall, r: RunResult): Finding[] {
  const bad = (what: string): Finding[] => [{ call, what, result: r }];
  if (r.code === -1) return bad('killed: over the time limit or by a signal');
  if (/\n\s+at .+[:(]\d+/.test(r.stdout) || /\n\s+at .+\.ts:\d+/.test(r.stderr)) return bad('a stack trace');
  const out = r.stdout.trim();
  if (out === '') return r.code === 0 ? [] : bad(`exit ${r.code} with nothing on stdout`);
  let doc: unknown;
  try {
    doc = JSON.parse(out);
  } catch {
    return bad('stdout is not exactly one JSON document');
  }
  if (r.code === 0) return [];
  const code = (doc as { code?: unknown }).code;
  if (typeof code !== 'number' || !(SPEC_CODES.has(code) || code >= 100))
    return bad(`error code ${String(code)} is in no table`);
  const msg = (doc as { msg?: unknown }).msg;
  if (typeof msg !== 'string' || msg === '') return bad('an error without a message');
  if (/Maximum call stack|is not a function|Cannot read propert|undefined is not/.test(out))
    return bad('a JavaScript exception reached the caller');
  return [];
}

/** A snapshot's link list without `name`. */
const dropName = (links: string, name: string): string =>
  links
    .split(' ')
    .filter((l) => l !== name)
    .join(' ');

async function linkNames(ns: string): Promise<string[]> {
  const r = await run(['ip', '-n', ns, '-o', 'link', 'show']);
  return r.stdout
    .split('\n')
    .map((l) => l.split(': ')[1]?.split('@')[0] ?? '')
    .filter((n) => n !== '');
}

/** Lease files (an address as the name) in every network directory under `data`. */
function leasesUnder(data: string): string[] {
  const out: string[] = [];
  let nets: string[] = [];
  try {
    nets = readdirSync(data);
  } catch {
    return out;
  }
  for (const n of nets) {
    let files: string[] = [];
    try {
      if (!lstatSync(join(data, n)).isDirectory()) continue;
      files = readdirSync(join(data, n));
    } catch {
      continue;
    }
    for (const f of files) if (isIP(f) !== 0) out.push(`${n}/${f}`);
  }
  return out.sort();
}

/** Names, kinds and contents of a tree, hashed (links by their target, never followed). */
function treeDigest(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string): void => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      const st = lstatSync(p);
      h.update(`${p}\0${st.mode}\0`);
      if (st.isSymbolicLink()) h.update(readlinkSync(p));
      else if (st.isDirectory()) walk(p);
      else if (st.isFile()) h.update(readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

/** A call as a shell line, to replay a finding by hand. */
export function describeCall(w: World, c: FuzzCall): string {
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    `CNI_COMMAND=${q(c.verb)} CNI_CONTAINERID=${q(c.containerId)} CNI_NETNS=${q(w.netnsFor(c.netns))}`,
    `CNI_IFNAME=${q(c.ifName)} CNI_ARGS=${q(c.cniArgs)} bin/${c.plugin} <<< ${q(c.stdin.slice(0, 2000))}`,
    c.plant ? '(links planted in the state directories)' : '',
  ].join(' ');
}
