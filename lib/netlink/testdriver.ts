/**
 * Test driver for the integration tests (Bun only; compiled with `bun build --compile`):
 * runs a JSON list of steps against the real kernel and prints one JSON result per step.
 *
 *   nldriver '[{"op":"createBridge","args":[{"name":"br0"}]}, {"op":"linkByName","args":["br0"]}]'
 *
 * Conveniences: `{"$index":"br0"}` anywhere in args is replaced by that link's index, and the
 * option keys `netns` / `peerNetns` (paths) are opened and passed as `netnsFd` / `peerNetnsFd`.
 * A failing step yields {ok:false, errno, message, extack} and the next steps still run.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { dumpLinks, getLinkByName, newIpvlan, newVeth } from './links';
import { dumpAddrs } from './addrs';
import { dumpRoutes } from './routes';
import { dumpClasses, dumpFilters, getQdisc } from './tc';
import { encodeMessage, parseMessages, type Request } from './message';
import { inNetns as withNetns, netnsInode } from '../sys/netns';
import { Rtnl } from './rtnl';
import {
  NETLINK_NETFILTER,
  NETLINK_ROUTE,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
} from './constants';
import { getTableRequest, nftTableExists, type NftFamily } from './nftables';
import { NetlinkError } from './socket';
import { openRawSocket } from './ffi-socket';
import { libc } from '../sys/libc';

// performance.now() counts from process start: this is the runtime's own startup.
const STARTED_AT = Math.round(performance.now() * 1000) / 1000;

type Step = { op: string; args?: unknown[]; netns?: string };
type Result = { ok: true; value: unknown } | { ok: false; errno?: string; message: string; extack?: string };

const sockets = new Map<string, Rtnl>();
const openFds: number[] = [];

/** One Rtnl per namespace path ('' = where the driver runs). */
function rtnl(netns = ''): Rtnl {
  let r = sockets.get(netns);
  if (!r) {
    r = Rtnl.open(netns ? { netnsPath: netns } : {});
    sockets.set(netns, r);
  }
  return r;
}

/** Replaces {$index: name} by the index and netns paths by open fds. */
function resolve(v: unknown, r: () => Rtnl): unknown {
  if (Array.isArray(v)) return v.map((x) => resolve(x, r));
  if (typeof v !== 'object' || v === null) return v;
  const o = v as Record<string, unknown>;
  if (typeof o['$index'] === 'string') {
    const link = r().linkByName(o['$index']);
    if (!link) throw new Error(`no link named ${o['$index']}`);
    return link.index;
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o)) {
    if ((k === 'netns' || k === 'peerNetns') && typeof x === 'string') {
      const fd = openSync(x, 'r');
      openFds.push(fd);
      out[`${k}Fd`] = fd;
    } else out[k] = resolve(x, r);
  }
  return out;
}

/** Raw request → hex of every datagram up to the ack / NLMSG_DONE (fixtures for unit tests). */
function capture(req: Request, protocol = NETLINK_ROUTE): string[] {
  const raw = openRawSocket(undefined, protocol);
  try {
    const dump = (req.flags & NLM_F_DUMP) === NLM_F_DUMP;
    raw.send(
      encodeMessage(
        { type: req.type, flags: req.flags | NLM_F_REQUEST | (dump ? 0 : NLM_F_ACK), seq: 1 },
        req.header,
        req.attrs,
      ),
    );
    const out: string[] = [];
    for (;;) {
      const d = raw.recv();
      out.push(Buffer.from(d).toString('hex'));
      if (parseMessages(d).some((m) => m.type === NLMSG_DONE || m.type === NLMSG_ERROR)) return out;
    }
  } finally {
    raw.close();
  }
}

const CAPTURES: Record<string, (...a: string[]) => Request> = {
  linkByName: (name: string) => getLinkByName(name),
  links: () => dumpLinks(),
  addrs: () => dumpAddrs(),
  routes4: () => dumpRoutes(4),
  routes6: () => dumpRoutes(6),
  veth: (name: string, peer: string) => newVeth({ name, peerName: peer }),
  ipvlan: (name: string, parent: string) => newIpvlan({ name, parentIndex: Number(parent) }),
  qdisc: (index: string, parent: string) => getQdisc(Number(index), Number(parent)),
  filters: (index: string, parent: string) => dumpFilters(Number(index), Number(parent)),
  classes: (index: string) => dumpClasses(Number(index)),
};

const ms = (t0: number): number => Math.round((performance.now() - t0) * 1000) / 1000;

/** Timings inside this (compiled) executable; `ip` exec'd for comparison. */
function bench(rounds: number): Record<string, number> {
  const t0 = performance.now();
  libc();
  const dlopen = ms(t0);
  const t1 = performance.now();
  const r = Rtnl.open();
  const socketOpen = ms(t1);
  const t2 = performance.now();
  for (let i = 0; i < rounds; i++) r.linkByName('lo');
  const lookup = ms(t2) / rounds;
  let create = 0;
  let del = 0;
  for (let i = 0; i < rounds; i++) {
    const a = performance.now();
    r.createVeth({ name: `bv${i}`, peerName: `bp${i}` });
    create += ms(a);
    const b = performance.now();
    const link = r.linkByName(`bv${i}`);
    if (link) r.deleteLink(link.index);
    del += ms(b);
  }
  let ipAdd = 0;
  let ipShow = 0;
  let ipDel = 0;
  for (let i = 0; i < rounds; i++) {
    const a = performance.now();
    execFileSync('ip', ['link', 'add', `iv${i}`, 'type', 'veth', 'peer', 'name', `ip${i}`]);
    ipAdd += ms(a);
    const b = performance.now();
    execFileSync('ip', ['link', 'show', 'lo']);
    ipShow += ms(b);
    const c = performance.now();
    execFileSync('ip', ['link', 'del', `iv${i}`]);
    ipDel += ms(c);
  }
  return {
    rounds,
    processStartToMainMs: STARTED_AT,
    dlopenMs: dlopen,
    socketOpenMs: socketOpen,
    linkLookupMs: lookup,
    vethCreateMs: create / rounds,
    lookupAndDeleteMs: del / rounds,
    ipLinkAddVethExecMs: ipAdd / rounds,
    ipLinkShowExecMs: ipShow / rounds,
    ipLinkDelExecMs: ipDel / rounds,
  };
}

/**
 * bandwidth's kernel work (the reference's layout: a root tbf on a veth, an ifb with its own,
 * the veth's ingress qdisc and a u32 redirect to the ifb) set up and torn down `rounds` times
 * over netlink from this process, then the same with `ip` and `tc` exec'd (5 programs to set
 * up, 3 to tear down). The veth `bva` must exist.
 */
function tcBench(rounds: number): Record<string, number> {
  const r = Rtnl.open();
  const veth = r.linkByName('bva');
  if (!veth) throw new Error('tcBench needs a link named bva');
  const tbf = { kind: 'tbf', rate: 1_000_000, buffer: 156_250, limit: 35_000 } as const;
  let nlSetup = 0;
  let nlTeardown = 0;
  for (let i = 0; i < rounds; i++) {
    const a = performance.now();
    r.createIfb({ name: 'bwb', mtu: veth.mtu, txqlen: 0, up: true });
    const ifb = r.linkByName('bwb');
    if (!ifb) throw new Error('ifb vanished');
    r.addQdisc({ index: veth.index, handle: 0x10000, parent: 0xffffffff, options: tbf });
    r.addQdisc({ index: veth.index, handle: 0xffff0000, parent: 0xfffffff1, options: { kind: 'ingress' } });
    r.addU32Filter({
      index: veth.index,
      parent: 0xffff0000,
      prio: 1,
      protocol: 3,
      classid: 0x10001,
      keys: [],
      actions: [{ kind: 'mirred', direction: 'egress-redirect', ifindex: ifb.index, verdict: 'stolen' }],
    });
    r.addQdisc({ index: ifb.index, handle: 0x10000, parent: 0xffffffff, options: tbf });
    nlSetup += ms(a);
    const b = performance.now();
    r.deleteQdisc(veth.index, 0xffffffff, 0x10000);
    r.deleteQdisc(veth.index, 0xfffffff1, 0xffff0000);
    r.deleteLink(ifb.index);
    nlTeardown += ms(b);
  }
  const run = (argv: string[]): void => void execFileSync(argv[0] ?? '', argv.slice(1));
  const tbfArgs = ['root', 'handle', '1:', 'tbf', 'rate', '8mbit', 'burst', '10000', 'latency', '25ms'];
  let tcSetup = 0;
  let tcTeardown = 0;
  for (let i = 0; i < rounds; i++) {
    const a = performance.now();
    run(['ip', 'link', 'add', 'bwb', 'mtu', String(veth.mtu), 'txqueuelen', '0', 'up', 'type', 'ifb']);
    run(['tc', 'qdisc', 'add', 'dev', 'bva', ...tbfArgs]);
    run(['tc', 'qdisc', 'add', 'dev', 'bva', 'ingress']);
    run([
      'tc',
      'filter',
      'add',
      'dev',
      'bva',
      'parent',
      'ffff:',
      'protocol',
      'all',
      'prio',
      '1',
      'u32',
      'match',
      'u32',
      '0',
      '0',
      'flowid',
      '1:1',
      'action',
      'mirred',
      'egress',
      'redirect',
      'dev',
      'bwb',
    ]);
    run(['tc', 'qdisc', 'add', 'dev', 'bwb', ...tbfArgs]);
    tcSetup += ms(a);
    const b = performance.now();
    run(['tc', 'qdisc', 'del', 'dev', 'bva', 'root']);
    run(['tc', 'qdisc', 'del', 'dev', 'bva', 'ingress']);
    run(['ip', 'link', 'del', 'bwb']);
    tcTeardown += ms(b);
  }
  r.close();
  return {
    rounds,
    netlinkSetupMs: nlSetup / rounds,
    netlinkTeardownMs: nlTeardown / rounds,
    tcExecSetupMs: tcSetup / rounds,
    tcExecTeardownMs: tcTeardown / rounds,
  };
}

function call(r: () => Rtnl, op: string, args: unknown[]): unknown {
  const a = args as never[];
  switch (op) {
    case 'nsInode':
      return netnsInode();
    case 'writeInNetns': {
      const [ns, path, value] = args as [string, string, string];
      return withNetns(ns, () => {
        writeFileSync(path, value);
        return { inode: netnsInode(), readBack: readFileSync(path, 'utf8').trim() };
      });
    }
    case 'readInNetns': {
      const [ns, path] = args as [string, string];
      return withNetns(ns, () => readFileSync(path, 'utf8').trim());
    }
    case 'throwInNetns': {
      const [ns] = args as [string];
      return withNetns(ns, () => {
        throw new Error('thrown inside');
      });
    }
    case 'nftTableExists': {
      const [family, name] = args as [NftFamily, string];
      return nftTableExists(family, name) ?? 'unknown';
    }
    case 'captureNftTable': {
      const [family, name] = args as [NftFamily, string];
      return capture(getTableRequest(family, name), NETLINK_NETFILTER);
    }
    case 'capture': {
      const [what, ...rest] = args as string[];
      const build = what ? CAPTURES[what] : undefined;
      if (!build) throw new Error(`unknown capture ${what}`);
      return capture(build(...rest));
    }
    case 'bench':
      return bench(Number(args[0] ?? 20));
    case 'tcBench':
      return tcBench(Number(args[0] ?? 20));
    default: {
      const target = r();
      const method = (target as unknown as Record<string, unknown>)[op];
      if (typeof method !== 'function') throw new Error(`unknown op ${op}`);
      return (method as (...x: never[]) => unknown).apply(target, a);
    }
  }
}

function main(): void {
  const steps = JSON.parse(process.argv[2] ?? '[]') as Step[];
  const results: Result[] = [];
  for (const s of steps) {
    try {
      // Opened on first need, so `bench` can time the first FFI load itself.
      const r = (): Rtnl => rtnl(s.netns);
      const args = resolve(s.args ?? [], r) as unknown[];
      results.push({ ok: true, value: call(r, s.op, args) ?? null });
    } catch (e) {
      if (e instanceof NetlinkError) {
        results.push({ ok: false, errno: e.errno, message: e.message, ...(e.extack ? { extack: e.extack } : {}) });
      } else results.push({ ok: false, message: e instanceof Error ? e.message : String(e) });
    }
  }
  for (const r of sockets.values()) r.close();
  for (const fd of openFds) closeSync(fd);
  process.stdout.write(JSON.stringify(results) + '\n');
}

main();
