/**
 * Test driver for vlan.int.test.ts (Bun only; compiled with `bun build --compile`): one process
 * doing one thing to a sub-interface's lifetime, so that several of them, started at once, are
 * kept apart only by what production relies on — the flock and the state files.
 *
 *   vlandriver '{"op":"cycle","dir":"/tmp/x","parent":"phys0","vid":10,"user":"c1","holdMs":20}'
 *
 * ops: `cycle` (acquire, hold, release; reports whether the sub-interface ever went missing
 * while held), `acquire`, `release`, `hang-before-create` and `hang-after-create` (acquire,
 * then block inside the lock before/after the link exists, to be killed with SIGKILL).
 * `standIn: true` makes the sub-interface a macvlan of the parent, for kernels without 802.1Q:
 * the counting does not depend on the link type.
 */
import { Rtnl } from '../netlink';
import { acquireVlan, releaseVlans, vlanSpec, type VlanOptions, type VlanSpec } from './vlan';

interface Args {
  op: 'cycle' | 'acquire' | 'release' | 'hang-before-create' | 'hang-after-create';
  dir: string;
  parent: string;
  vid: number;
  user: string;
  holdMs?: number;
  standIn?: boolean;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const host = Rtnl.open();
const spec = vlanSpec(args.parent, args.vid);
const user = { network: 'drivernet', containerId: args.user, ifName: 'eth0' };
const hang = (): never => {
  for (;;) Bun.sleepSync(60_000);
};

function create(h: Rtnl, s: VlanSpec, parentIndex: number): void {
  if (args.op === 'hang-before-create') hang();
  if (args.standIn) h.createMacvlan({ name: s.name, parentIndex, mode: 'bridge' });
  else h.createVlan({ name: s.name, parentIndex, id: s.vid });
  if (args.op === 'hang-after-create') hang();
}
const opts: VlanOptions = { dir: args.dir, create };

async function main(): Promise<unknown> {
  switch (args.op) {
    case 'release':
      return { removed: await releaseVlans(host, user, opts) };
    case 'cycle': {
      const got = await acquireVlan(host, spec, user, opts);
      let missing = 0;
      const deadline = Date.now() + (args.holdMs ?? 0);
      do {
        if (host.linkByName(spec.name)?.index !== got.link.index) missing++;
        Bun.sleepSync(2);
      } while (Date.now() < deadline);
      const removed = await releaseVlans(host, user, opts);
      return { owned: got.owned, index: got.link.index, missing, removed };
    }
    default: {
      const got = await acquireVlan(host, spec, user, opts);
      return { owned: got.owned, added: got.added, index: got.link.index };
    }
  }
}

main().then(
  (value) => {
    process.stdout.write(JSON.stringify({ ok: true, value }) + '\n');
    process.exit(0);
  },
  (e: unknown) => {
    process.stdout.write(JSON.stringify({ ok: false, message: e instanceof Error ? e.message : String(e) }) + '\n');
    process.exit(1);
  },
);
