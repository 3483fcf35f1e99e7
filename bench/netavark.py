#!/usr/bin/env python3
"""Three ways to give a container the same network, interleaved step by step: tscni's chain,
the reference's chain (bridge + host-local, then portmap) and podman's netavark.

    bench/netavark.py [--cni-path bin] [--compare /usr/lib/cni] [--netavark /usr/lib/podman/netavark]
                      [--iterations 30] [--present 1,100] [--json FILE]

The network is the same for all three: a bridge with the gateway address, masquerade of the
container's traffic, two TCP port mappings per container. The CNI sides run the conflist of the
shared harness's scenario b through its libcni-like runtime (cnibench.runtime); netavark gets what
podman hands it, `netavark --config DIR --rootless false setup|teardown /run/netns/X` with the
network options on stdin. podman allocates the address before calling netavark (its own IPAM,
outside netavark), so netavark's figures leave allocation out while the CNI chains include
host-local's. Its firewall driver is what Debian's 1.4 uses by default (iptables).

For each number of other containers present (--present), each side first gets that many
residents, then every step ADDs and DELs one more container on each side, the order of the sides
rotating from step to step. Reported: p50 wall time of setup (ADD) and teardown (DEL) per side,
and the CPU time they used (the plugin processes and everything they started, from
getrusage(RUSAGE_CHILDREN)), which the machine's load disturbs less than wall time.

Everything runs in private network, mount and PID namespaces (the script re-runs itself under
unshare): /run, /var/lib/cni and the xtables lock are private, each side has its own "host"
network namespace with a sink uplink, and nothing leaves the namespaces.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CLONE_NEWNET = 0x40000000


def find_harness() -> str:
    """../shared/bench beside the repository (or beside a parent: a git worktree lives deeper)."""
    d = REPO
    while True:
        candidate = os.path.join(os.path.dirname(d), "shared", "bench")
        if os.path.isdir(os.path.join(candidate, "cnibench")):
            return candidate
        if os.path.dirname(d) == d:
            return os.path.normpath(os.path.join(REPO, "..", "shared", "bench"))
        d = os.path.dirname(d)


sys.path.insert(0, find_harness())
from cnibench.runtime import CNIRuntime, NetworkList, RuntimeConf  # noqa: E402

_libc = ctypes.CDLL("libc.so.6", use_errno=True)


def sh(*argv: str, input: str | None = None) -> str:
    r = subprocess.run(argv, input=input, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({r.returncode}): {r.stdout}{r.stderr}")
    return r.stdout


def enter(netns: str) -> None:
    """This process (and what it starts from now on) into `netns`."""
    fd = os.open(netns, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {netns}")
    finally:
        os.close(fd)


class Side:
    """One implementation in its own host network namespace."""

    name = ""

    def __init__(self, tmp: str, index: int):
        self.index = index
        self.host = f"/run/netns/h{index}"
        self.tmp = os.path.join(tmp, f"side{index}")
        os.makedirs(self.tmp)
        sh("ip", "netns", "add", f"h{index}")
        sh("ip", "netns", "exec", f"h{index}", "sh", "-c",
           "ip link set lo up && ip link add cbup0 type ifb && ip addr add 198.19.255.1/24 dev cbup0 && "
           "ip link set cbup0 up && ip route add default dev cbup0 && sysctl -qw net.ipv4.ip_forward=1")

    def netns(self, i: int) -> str:
        name = f"c{self.index}-{i}"
        if not os.path.exists(f"/run/netns/{name}"):
            sh("ip", "netns", "add", name)
        return f"/run/netns/{name}"

    def add(self, i: int) -> None:
        raise NotImplementedError

    def delete(self, i: int) -> None:
        raise NotImplementedError


def ports(i: int) -> list[int]:
    return [20000 + 2 * i, 20001 + 2 * i]


class CniSide(Side):
    def __init__(self, tmp: str, index: int, label: str, plugin_dir: str, subnet: str):
        super().__init__(tmp, index)
        self.name = label
        env = {k: v for k, v in os.environ.items() if not k.startswith("CNI_")}
        self.runtime = CNIRuntime([os.path.abspath(plugin_dir)], env)
        self.net = NetworkList.from_conflist({
            "cniVersion": "1.0.0", "name": "benchnet",
            "plugins": [
                {"type": "bridge", "bridge": "cbbr-nv", "isGateway": True, "ipMasq": True,
                 "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]],
                          "routes": [{"dst": "0.0.0.0/0"}], "dataDir": os.path.join(self.tmp, "ipam")}},
                {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
            ]})
        self.cached: dict[int, dict | None] = {}

    def rt(self, i: int) -> RuntimeConf:
        return RuntimeConf(container_id=f"{i:064x}", netns=self.netns(i), ifname="eth0",
                           capability_args={"portMappings": [
                               {"hostPort": p, "containerPort": 80 + k, "protocol": "tcp"}
                               for k, p in enumerate(ports(i))]})

    def add(self, i: int) -> None:
        out = self.runtime.add(self.net, self.rt(i))
        if not out.ok:
            raise SystemExit(f"{self.name} ADD {i}: {out.error}")
        self.cached[i] = out.result

    def delete(self, i: int) -> None:
        out = self.runtime.delete(self.net, self.rt(i), self.cached.pop(i, None))
        if not out.ok:
            raise SystemExit(f"{self.name} DEL {i}: {out.error}")


class NetavarkSide(Side):
    name = "netavark"

    def __init__(self, tmp: str, index: int, binary: str):
        super().__init__(tmp, index)
        self.binary = binary
        self.config = os.path.join(self.tmp, "config")
        os.makedirs(self.config)
        # podman's view of the network (containers/common libnetwork types); netavark 1.4 reads this.
        self.info = {"benchnet": {
            "name": "benchnet", "id": "b" * 64, "driver": "bridge", "network_interface": "cbbr-nv",
            "subnets": [{"subnet": "198.18.0.0/16", "gateway": "198.18.0.1"}],
            "ipv6_enabled": False, "internal": False, "dns_enabled": False,
            "ipam_options": {"driver": "host-local"}}}

    def options(self, i: int) -> str:
        return json.dumps({
            "container_id": f"{i:064x}", "container_name": f"c{i}",
            "networks": {"benchnet": {"interface_name": "eth0",
                                      "static_ips": [f"198.18.{(i + 2) // 256}.{(i + 2) % 256}"]}},
            "network_info": self.info,
            "port_mappings": [{"host_ip": "", "container_port": 80 + k, "host_port": p, "range": 1,
                               "protocol": "tcp"} for k, p in enumerate(ports(i))]})

    def run(self, verb: str, i: int) -> None:
        r = subprocess.run([self.binary, "--config", self.config, "--rootless", "false", verb, self.netns(i)],
                           input=self.options(i), capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"netavark {verb} {i}: {r.stdout}{r.stderr}")

    def add(self, i: int) -> None:
        self.run("setup", i)

    def delete(self, i: int) -> None:
        self.run("teardown", i)


def timed(side: Side, fn, i: int) -> tuple[float, float]:
    """Wall ms and CPU ms of the children it ran (in the side's host namespace)."""
    enter(side.host)
    side.netns(i)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    fn(i)
    wall = (time.perf_counter() - t0) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) * 1000
    return wall, cpu


def inner(args: argparse.Namespace) -> int:
    sh("mount", "-t", "tmpfs", "-o", "mode=0755", "bench-run", "/run")
    os.makedirs("/run/netns")
    if os.path.isdir("/var/lib/cni"):
        sh("mount", "-t", "tmpfs", "bench-varlibcni", "/var/lib/cni")
    tmp = tempfile.mkdtemp(prefix="tscni-bench-netavark-")
    os.environ["XTABLES_LOCKFILE"] = os.path.join(tmp, "xtables.lock")
    open(os.environ["XTABLES_LOCKFILE"], "a").close()
    root = os.open("/proc/self/ns/net", os.O_RDONLY)
    sides: list[Side] = [CniSide(tmp, 0, "tscni", args.cni_path, "198.18.0.0/16")]
    if args.compare:
        sides.append(CniSide(tmp, 1, "reference", args.compare, "198.18.0.0/16"))
    sides.append(NetavarkSide(tmp, 2, args.netavark))
    rows: dict[str, dict[int, dict[str, list[float]]]] = {s.name: {} for s in sides}
    present = 0
    probe = 10_000  # the measured container's index, above every resident's
    for level in args.present:
        for i in range(present, level):
            for s in sides:
                timed(s, s.add, i)
        present = level
        print(f"{level} present on each side", file=sys.stderr)
        for step in range(args.iterations):
            order = sides[step % len(sides):] + sides[: step % len(sides)]
            for s in order:
                rec = rows[s.name].setdefault(level, {"add": [], "del": [], "add_cpu": [], "del_cpu": []})
                w, c = timed(s, s.add, probe)
                rec["add"].append(w)
                rec["add_cpu"].append(c)
                w, c = timed(s, s.delete, probe)
                rec["del"].append(w)
                rec["del_cpu"].append(c)
    os.close(root)
    report = {side: {str(level): {k: statistics.median(v) for k, v in rec.items()} for level, rec in levels.items()}
              for side, levels in rows.items()}
    print(json.dumps({"iterations": args.iterations, "load": os.getloadavg(), "p50_ms": report}))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def table(data: dict) -> str:
    p50 = data["p50_ms"]
    names = list(p50)
    nv = "netavark"
    lines = ["| others present | verb | " + " | ".join(names) + " | tscni / netavark | tscni / reference |",
             "| --- | --- | " + " | ".join("---" for _ in names) + " | --- | --- |"]
    for level in p50[names[0]]:
        for verb, label in (("add", "ADD / setup"), ("del", "DEL / teardown")):
            vals = {n: p50[n][level][verb] for n in names}
            cpus = {n: p50[n][level][verb + "_cpu"] for n in names}
            cells = " | ".join(f"{vals[n]:.1f} ({cpus[n]:.0f} CPU)" for n in names)
            ref = f"{vals['tscni'] / vals['reference']:.2f}" if "reference" in vals else "—"
            lines.append(f"| {level} | {label} | {cells} | {vals['tscni'] / vals[nv]:.2f} | {ref} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cni-path", default=os.path.join(REPO, "bin"))
    ap.add_argument("--compare", default="/usr/lib/cni", help="the reference plugins ('' to leave them out)")
    ap.add_argument("--netavark", default="/usr/lib/podman/netavark")
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--present", default="1,100", help="numbers of other containers present, ascending")
    ap.add_argument("--json", help="also write the report here")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.present = [int(x) for x in args.present.split(",")]
    if args.inner:
        return inner(args)
    for p in (args.netavark, os.path.join(args.cni_path, "bridge")) + ((os.path.join(args.compare, "bridge"),) if args.compare else ()):
        if not os.path.exists(p):
            raise SystemExit(f"{p} is missing (netavark package, make build, containernetworking-plugins)")
    argv = [sys.executable, os.path.abspath(__file__), "--inner", "--cni-path", os.path.abspath(args.cni_path),
            "--compare", os.path.abspath(args.compare) if args.compare else "", "--netavark", args.netavark,
            "--iterations", str(args.iterations), "--present", ",".join(map(str, args.present))]
    r = subprocess.run(["unshare", "--net", "--mount", "--pid", "--fork", "--propagation", "private",
                        "--mount-proc", *argv], stdout=subprocess.PIPE, text=True)
    if r.returncode != 0:
        return r.returncode
    data = json.loads(r.stdout.strip().splitlines()[-1])
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(data, fh, indent=1)
    print(f"p50 wall ms (CPU ms of the processes), {data['iterations']} steps per row, "
          f"load average {data['load'][0]:.1f}")
    print(table(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
