/**
 * The one list of programs (and files) the test suites start beyond what the build needs, each
 * with the Debian package that brings it (test-only module). The Makefile's TEST_PROGRAMS names
 * the same pairs and `make testdeps` installs what is missing before the first suite runs;
 * programs.test.ts fails when the two lists part. A test asks for a program through
 * `requireProgram`, which fails the test naming the program and its package when it is missing,
 * instead of letting it skip or die later with ENOENT.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Program name (looked up on PATH) or absolute path → the Debian package that installs it. */
export const TEST_PROGRAMS = {
  // build and every suite
  ip: 'iproute2',
  bridge: 'iproute2',
  tc: 'iproute2',
  iptables: 'iptables',
  'iptables-restore': 'iptables',
  'iptables-save': 'iptables',
  ip6tables: 'iptables',
  nft: 'nftables',
  conntrack: 'conntrack',
  ping: 'iputils-ping',
  nsenter: 'util-linux',
  unshare: 'util-linux',
  // helper processes that die with the test process (--pdeathsig)
  setpriv: 'util-linux',
  flock: 'util-linux',
  lslocks: 'util-linux',
  fallocate: 'util-linux',
  // the fuzzer's per-call address-space limit
  prlimit: 'util-linux',
  sysctl: 'procps',
  ps: 'procps',
  openssl: 'openssl',
  // captures on the multi-node simulation's underlay (VXLAN on the wire, no fragments)
  tcpdump: 'tcpdump',
  // the DHCP server the dhcp plugin's tests lease from; the dnsname plugin's resolver
  dnsmasq: 'dnsmasq-base',
  // a private message bus for the firewalld-style signals `tscni reload --watch` answers
  'dbus-daemon': 'dbus-daemon',
  // special files where state or a namespace should be (the hostile-input tests)
  mkfifo: 'coreutils',
  // the reference plugins, for differential tests
  '/usr/lib/cni/bridge': 'containernetworking-plugins',
  '/usr/lib/cni/dhcp': 'containernetworking-plugins',
  // real runtimes (the installer's image test and the e2e suite)
  containerd: 'containerd',
  ctr: 'containerd',
  runc: 'runc',
  podman: 'podman',
  '/bin/busybox': 'busybox-static',
  // cnitool, built offline from Debian's source package
  go: 'golang-go',
  xz: 'xz-utils',
  perl: 'perl-base',
  '/usr/share/gocode/src/github.com/containernetworking/cni/libcni/api.go': 'golang-github-appc-cni-dev',
  // the reference dnsname, for differential runs
  '/usr/lib/cni/dnsname': 'golang-github-containernetworking-plugin-dnsname',
  // docker-compose files on podman (the dnsname e2e test)
  'podman-compose': 'podman-compose',
} as const satisfies Record<string, string>;

export type TestProgram = keyof typeof TEST_PROGRAMS;

const SEARCH_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The program's absolute path, or undefined when it is not installed. */
export function findProgram(
  name: TestProgram,
  searchPath = `${process.env.PATH ?? ''}${delimiter}${SEARCH_PATH}`,
): string | undefined {
  const candidates = name.startsWith('/')
    ? [name]
    : searchPath
        .split(delimiter)
        .filter((d) => d !== '')
        .map((d) => join(d, name));
  for (const c of candidates) {
    try {
      accessSync(c, name.startsWith('/') ? constants.R_OK : constants.X_OK);
      return c;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/** The program's absolute path; throws (failing the test) naming it and its package when it is missing. */
export function requireProgram(name: TestProgram, searchPath?: string): string {
  const found = findProgram(name, searchPath);
  if (found === undefined) {
    throw new Error(
      `this test needs ${name} (Debian package ${TEST_PROGRAMS[name]}), which is not installed: run \`make testdeps\``,
    );
  }
  return found;
}

/** requireProgram for several at once. */
export function requirePrograms(...names: TestProgram[]): void {
  for (const n of names) requireProgram(n);
}
