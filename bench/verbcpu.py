#!/usr/bin/env python3
"""CPU time per bridge verb, ours against the reference: the figure a loaded machine disturbs least.

    bench/verbcpu.py [--cni-path bin] [--compare /usr/lib/cni] [--iterations 15]

bridge + host-local with ipMasq and isGateway (scenario a's network), ADD, CHECK (prevResult from
the ADD) and DEL of a fresh container per step, the two sides interleaved, each in its own "host"
network namespace (tscni-t-verbcpu-<pid>-*, created here, deleted on exit). Per call: user +
system time of the plugin and every process it waited for (os.wait4's rusage; the nsenter that
enters the namespace is included on both sides), and wall time. Prints medians and ratios.
Ratios of CPU time stay close to what an idle machine shows when wall times are many times theirs.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cni-path", default=os.path.join(os.path.dirname(HERE), "bin"))
    ap.add_argument("--compare", default="/usr/lib/cni")
    ap.add_argument("--iterations", type=int, default=15)
    args = ap.parse_args()
    dirs = [os.path.abspath(args.cni_path), os.path.abspath(args.compare)]
    prefix = f"tscni-t-verbcpu-{os.getpid()}"
    names = [f"{prefix}-{x}" for x in ("h1", "h2", "c1", "c2")]
    tmp = tempfile.mkdtemp(prefix="tscni-verbcpu-")
    times: dict[tuple[int, str], list[tuple[float, float]]] = {}
    try:
        for n in names:
            subprocess.run(["ip", "netns", "add", n], check=True)
            subprocess.run(["ip", "-n", n, "link", "set", "lo", "up"], check=True)
        for i in range(args.iterations):
            for side, d in enumerate(dirs, 1):
                conf = {"cniVersion": "1.0.0", "name": f"vc{side}", "type": "bridge", "bridge": f"vc{side}",
                        "isGateway": True, "ipMasq": True,
                        "ipam": {"type": "host-local", "subnet": f"10.97.{side}.0/24",
                                 "dataDir": os.path.join(tmp, f"ipam{side}")}}
                prev = None
                for verb in ("ADD", "CHECK", "DEL"):
                    c = dict(conf, prevResult=prev) if prev is not None else conf
                    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "CNI_COMMAND": verb,
                           "CNI_CONTAINERID": f"vc{i}", "CNI_NETNS": f"/run/netns/{prefix}-c{side}",
                           "CNI_IFNAME": "eth0", "CNI_PATH": d, "TSCNI_RUN_DIR": os.path.join(tmp, "run")}
                    t0 = time.perf_counter()
                    p = subprocess.Popen(["nsenter", f"--net=/run/netns/{prefix}-h{side}", os.path.join(d, "bridge")],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
                    p.stdin.write(json.dumps(c).encode())
                    p.stdin.close()
                    out, err = p.stdout.read(), p.stderr.read()
                    _, status, ru = os.wait4(p.pid, 0)
                    p.returncode = 0
                    wall = (time.perf_counter() - t0) * 1000
                    if status != 0:
                        raise SystemExit(f"{d}/bridge {verb} failed: {out[:300]!r} {err[:300]!r}")
                    if verb == "ADD":
                        prev = json.loads(out)
                    times.setdefault((side, verb), []).append(((ru.ru_utime + ru.ru_stime) * 1000, wall))
    finally:
        for n in names:
            subprocess.run(["ip", "netns", "del", n], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"bridge + host-local (ipMasq), {args.iterations} calls per verb and side, interleaved; "
          f"load {os.getloadavg()[0]:.1f}; A = {dirs[0]}, B = {dirs[1]}")
    print("| verb | CPU ms A / B | ratio | wall ms A / B | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for verb in ("ADD", "CHECK", "DEL"):
        a, b = times[(1, verb)], times[(2, verb)]
        ca, cb = statistics.median(x[0] for x in a), statistics.median(x[0] for x in b)
        wa, wb = statistics.median(x[1] for x in a), statistics.median(x[1] for x in b)
        print(f"| {verb} | {ca:.1f} / {cb:.1f} | {ca / cb:.2f} | {wa:.0f} / {wb:.0f} | {wa / wb:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
