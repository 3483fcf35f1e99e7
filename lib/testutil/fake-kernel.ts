/**
 * A Kernel whose every effect is recorded (test-only module): netlink requests on two recording
 * sockets (the host's namespace and the container's), sysctl writes and /dev/net/tun calls as
 * lines, programs on a RecordingRunner, a container /proc/sys given as a map, and every call once
 * more in one timeline in the order made. `plan()` renders it as the text of a golden file, with random names, MACs, tokens and
 * descriptors made stable; `planDir()` is the files a verb needs around it (a namespace file,
 * CNI_PATH, a state directory).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingRunner } from '../exec/recording';
import { formatCommandLine, type Command } from '../exec/runner';
import type { Kernel } from '../net/kernel';
import type { SysctlFs } from '../net/sysctl';
import { describeTun, TunError, type TunFile } from '../net/tuntap';
import { Rtnl } from '../netlink';
import { RecordingSocket } from '../netlink/fake';

export interface FakeKernelOptions {
  readonly host?: RecordingSocket;
  readonly ctr?: RecordingSocket;
  readonly runner?: RecordingRunner;
  /** The container's writable sysctls by /proc/sys path, with their values (writes change them). */
  readonly procSys?: Record<string, string>;
  /** Container sysctls that exist but are read-only there (host-wide ones). */
  readonly readonlySysctls?: readonly string[];
  /** Makes the /dev/net/tun call whose line starts with the key fail with that errno name. */
  readonly tunFailures?: Readonly<Record<string, string>>;
}

export interface FakeKernel {
  readonly kernel: Kernel;
  readonly host: RecordingSocket;
  readonly ctr: RecordingSocket;
  readonly runner: RecordingRunner;
  /** `host <key>=<value>` and `container <key>=<value>`, in the order they were set. */
  readonly sysctls: string[];
  readonly procSys: Map<string, string>;
  /** /dev/net/tun calls, one line each (describeTun). */
  readonly tun: string[];
  /** Every call in the order made: `host …`, `container …`, `tun …`, `sysctl …`, `program …`. */
  readonly timeline: string[];
  /** The golden text: each non-empty section of tun calls, requests, sysctls and programs. */
  plan(opts?: PlanOptions): string;
}

export interface PlanOptions {
  /** Replaced by `<cni-path>` in program lines (the test's CNI_PATH directory). */
  readonly cniPath?: string;
  /** Programs sorted, for verbs that run them concurrently (their order is not part of the plan). */
  readonly sortPrograms?: boolean;
  /** Every MAC in the plan is one the test chose (none is random). */
  readonly keepMacs?: boolean;
}

/**
 * Random names, MACs, ownership tokens and descriptor numbers replaced, so a plan reads the same
 * on every run; MACs stay when the test says they come from the config, not from chance.
 */
export const stableLine = (l: string, keepMacs = false): string => {
  const s = l
    .replace(/veth[0-9a-f]{8}/g, 'veth<random>')
    .replace(/netns=fd:\d+/g, 'netns=fd:<n>')
    .replace(/\(id [0-9a-f]{12}\)/g, '(id <token>)');
  return keepMacs ? s : s.replace(/([0-9a-f]{2}:){5}[0-9a-f]{2}/g, '<mac>');
};

const PROC_SYS = '/proc/sys/';

/** A delegated plugin's line names its verb, which is in its environment, not its argv. */
const programLine = (c: Command): string => {
  const verb = c.tool === 'plugin' && c.env?.['CNI_COMMAND'] ? `CNI_COMMAND=${c.env['CNI_COMMAND']} ` : '';
  return verb + formatCommandLine(c.path ?? c.tool, c.argv);
};

export function fakeKernel(o: FakeKernelOptions = {}): FakeKernel {
  const host = o.host ?? new RecordingSocket();
  const ctr = o.ctr ?? new RecordingSocket();
  const runner = o.runner ?? new RecordingRunner();
  const sysctls: string[] = [];
  const tun: string[] = [];
  const timeline: string[] = [];
  for (const [sock, where] of [
    [host, 'host'],
    [ctr, 'container'],
  ] as const) {
    const send = sock.send.bind(sock);
    sock.send = (bytes) => {
      send(bytes);
      timeline.push(`${where} ${sock.requests[sock.requests.length - 1] ?? ''}`);
    };
  }
  const run = runner.run.bind(runner);
  runner.run = (cmd) => {
    timeline.push(`program ${programLine(cmd)}`);
    return run(cmd);
  };
  const sysctl = (line: string): void => {
    sysctls.push(line);
    timeline.push(`sysctl ${line}`);
  };
  const procSys = new Map(Object.entries(o.procSys ?? {}));
  const readonly = new Set(o.readonlySysctls ?? []);
  const key = (path: string): string => (path.startsWith(PROC_SYS) ? path.slice(PROC_SYS.length) : path);
  const containerFs: SysctlFs = {
    kind: (p) => (readonly.has(p) ? 'readonly' : procSys.has(p) ? 'writable' : 'missing'),
    read: (p) => {
      const v = procSys.get(p);
      if (v === undefined) throw new Error(`ENOENT: ${p}`);
      return v;
    },
    write: (p, v) => {
      if (!procSys.has(p)) throw new Error(`EACCES: ${p}`);
      procSys.set(p, v);
      sysctl(`container ${key(p)}=${v}`);
    },
  };
  const tunCall = (line: string, mayFail = true): void => {
    tun.push(line);
    timeline.push(`tun ${line}`);
    const failing = mayFail && Object.entries(o.tunFailures ?? {}).find(([prefix]) => line.startsWith(prefix));
    if (failing) throw new TunError(failing[1], line.split(' ')[0] ?? line, 'injected');
  };
  const openTun = (): TunFile => {
    tunCall(describeTun.open(' [container]'));
    return {
      setIff: (name, flags) => tunCall(describeTun.setIff(name, flags)),
      setOwner: (uid) => tunCall(describeTun.setOwner(uid)),
      setGroup: (gid) => tunCall(describeTun.setGroup(gid)),
      setPersist: (on) => tunCall(describeTun.setPersist(on)),
      close: () => tunCall(describeTun.close(), false),
    };
  };
  const kernel: Kernel = {
    runner,
    rtnl: (netns) => new Rtnl(netns ? ctr : host),
    ensureSysctl: (k, v) => sysctl(`host ${k}=${v}`),
    setSysctlsIn: (_ns, values) => values.forEach(([k, v]) => sysctl(`container ${k}=${v}`)),
    withSysctlsIn: (_ns, fn) => fn(containerFs),
    openTun,
  };
  const plan = (p: PlanOptions = {}): string => {
    const programs = runner.calls.map((c) => {
      const line = programLine(c);
      return p.cniPath ? line.split(p.cniPath).join('<cni-path>') : line;
    });
    if (p.sortPrograms) programs.sort();
    const sections: Array<[string, readonly string[]]> = [
      ['# /dev/net/tun', tun],
      ['# host netlink', host.requests],
      ['# container netlink', ctr.requests],
      ['# sysctls', sysctls],
      ['# programs', programs],
    ];
    return sections
      .filter(([, lines]) => lines.length > 0)
      .flatMap(([title, lines]) => [title, ...lines.map((l) => stableLine(l, p.keepMacs))])
      .join('\n');
  };
  return { kernel, host, ctr, runner, sysctls, procSys, tun, timeline, plan };
}

/** A temporary directory standing for what a plan test's verbs touch on disk. */
export interface PlanDir {
  readonly dir: string;
  /** An empty file standing for the container's namespace (the fakes never enter it). */
  readonly netns: string;
  /** CNI_PATH (holding the named plugins as empty files, which the runner "runs") and tscni's state dir. */
  readonly env: Record<string, string>;
  remove(): void;
}

export function planDir(plugins: readonly string[] = []): PlanDir {
  const dir = mkdtempSync(join(tmpdir(), 'tscni-plan-'));
  const netns = join(dir, 'netns');
  writeFileSync(netns, '');
  for (const p of plugins) writeFileSync(join(dir, p), '');
  return {
    dir,
    netns,
    env: { CNI_PATH: dir, TSCNI_STATE_DIR: join(dir, 'state') },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
