/**
 * Test driver for tap.int.test.ts (Bun only; compiled with `bun build --compile`): the guest side
 * of a VM runtime. Started as root inside the container's namespace, it opens /dev/net/tun, drops
 * to the given user and group (so only the tap's owner/group rights let it attach), attaches to
 * the tap, and asks the bridge behind it for an address with ARP until the reply comes back
 * through the tap or the deadline passes.
 *
 *   tapdriver '{"name":"tap0","multiQueue":true,"uid":40001,"gid":40002,"mac":"02:00:00:00:aa:01",
 *               "ip":"192.168.77.2","target":"192.168.77.1","timeoutMs":10000}'
 *
 * Prints one JSON line: {"ok":true,"targetMac":"…","sent":n} or {"ok":false,"stage":"attach","errno":"EPERM"}.
 */
import { closeSync, constants, openSync, readSync, writeSync } from 'node:fs';
import { IFF_MULTI_QUEUE, IFF_NO_PI, IFF_TAP, TUN_DEVICE, encodeIfreq } from '../../lib/net/tuntap';
import { errnoName } from '../../lib/sys/errno';
import { libc } from '../../lib/sys/libc';

interface Args {
  name: string;
  multiQueue: boolean;
  uid?: number;
  gid?: number;
  mac: string;
  ip: string;
  target: string;
  timeoutMs: number;
}

const TUNSETIFF = 0x400454ca;
const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const say = (o: object): never => {
  process.stdout.write(JSON.stringify(o) + '\n');
  process.exit(0);
};

const mac = (s: string): number[] => s.split(':').map((h) => parseInt(h, 16));
const ip4 = (s: string): number[] => s.split('.').map(Number);
const hexMac = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');

/** Ethernet broadcast + ARP who-has `target` tell `ip`. */
function arpRequest(): Uint8Array {
  const own = mac(args.mac);
  return Uint8Array.from([
    ...[0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    ...own,
    0x08,
    0x06,
    ...[0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01],
    ...own,
    ...ip4(args.ip),
    ...[0, 0, 0, 0, 0, 0],
    ...ip4(args.target),
  ]);
}

/** The sender MAC of an ARP reply from `target` addressed to us, else undefined. */
function arpReplyFrom(frame: Uint8Array): string | undefined {
  if (frame.length < 42 || frame[12] !== 0x08 || frame[13] !== 0x06 || frame[21] !== 2) return undefined;
  const spa = [...frame.subarray(28, 32)].join('.');
  return spa === args.target ? hexMac(frame.subarray(22, 28)) : undefined;
}

const { setgroups, setgid, setuid } = process;
if (!setgroups || !setgid || !setuid) throw new Error('this runtime cannot change its user');
const fd = openSync(TUN_DEVICE, constants.O_RDWR | constants.O_NONBLOCK);
if (args.gid !== undefined) {
  setgroups([]);
  setgid(args.gid);
}
if (args.uid !== undefined) setuid(args.uid);

const flags = IFF_TAP | IFF_NO_PI | (args.multiQueue ? IFF_MULTI_QUEUE : 0);
if (libc().ioctl(fd, TUNSETIFF, encodeIfreq(args.name, flags)) < 0)
  say({ ok: false, stage: 'attach', errno: errnoName(libc().errno()) });

const deadline = Date.now() + args.timeoutMs;
const buf = new Uint8Array(2048);
let sent = 0;
let lastSend = 0;
while (Date.now() < deadline) {
  if (Date.now() - lastSend >= 200) {
    writeSync(fd, arpRequest());
    sent++;
    lastSend = Date.now();
  }
  let n = 0;
  try {
    n = readSync(fd, buf);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
  }
  const from = n > 0 ? arpReplyFrom(buf.subarray(0, n)) : undefined;
  if (from) {
    closeSync(fd);
    say({ ok: true, targetMac: from, sent });
  }
  if (n === 0) Bun.sleepSync(5);
}
say({ ok: false, stage: 'reply', sent });
