#!/usr/bin/env python3
"""Memory per plugin process, ours against the reference: RSS, PSS and private memory, alone and
under a burst of concurrent calls.

    bench/memory.py [--cni-path bin] [--compare /usr/lib/cni] [--concurrency 50] [--json FILE]

Two parts:
  * VERSION of every plugin both sides have, alone: peak RSS as the kernel counts it
    (/usr/bin/time's %M; a process started from Python would carry Python's peak over exec).
  * The shared harness's scenario d (N bridge ADDs released at once, then N DELs, then the same
    with portmap chained; ../shared/bench/run.py --scenarios d) while this script samples
    /proc/<pid>/smaps_rollup of every process running one of the two sides' executables every few
    milliseconds. Per process: its largest RSS, PSS and private (clean + dirty) memory; per side:
    the largest number running at once and the largest sum of their PSS, which is what the burst
    cost the node's memory (shared pages of the executable counted once, split among them).

RSS counts every page of the 110 MB executable a process touched, though the page cache holds one
copy for all of them; PSS splits those shared pages among the processes that map them, and
private memory is what one more process costs.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FIELDS = ("Rss", "Pss", "Private_Clean", "Private_Dirty")


def find_harness() -> str:
    d = REPO
    while True:
        candidate = os.path.join(os.path.dirname(d), "shared", "bench")
        if os.path.isdir(os.path.join(candidate, "cnibench")):
            return candidate
        if os.path.dirname(d) == d:
            return os.path.normpath(os.path.join(REPO, "..", "shared", "bench"))
        d = os.path.dirname(d)


def executables(directory: str) -> set[str]:
    """The real files behind a plugin directory's entries (ours: one executable)."""
    out = set()
    for name in os.listdir(directory):
        path = os.path.realpath(os.path.join(directory, name))
        if os.path.isfile(path) and os.access(path, os.X_OK):
            out.add(path)
    return out


def rollup(pid: str) -> dict[str, int] | None:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            text = fh.read()
    except OSError:
        return None
    vals = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in FIELDS:
            vals[key] = int(rest.split()[0])
    return vals if len(vals) == len(FIELDS) else None


class Sampler(threading.Thread):
    """Samples every process whose executable belongs to one of the sides."""

    def __init__(self, sides: dict[str, set[str]], interval: float):
        super().__init__(daemon=True)
        self.sides = sides
        self.interval = interval
        self.stop = threading.Event()
        self.per_pid: dict[str, dict[str, dict[str, int]]] = {s: {} for s in sides}
        self.peak_pss = {s: 0 for s in sides}
        self.peak_count = {s: 0 for s in sides}
        self.samples = 0

    def run(self) -> None:
        own = str(os.getpid())
        while not self.stop.is_set():
            sums = {s: 0 for s in self.sides}
            counts = {s: 0 for s in self.sides}
            for pid in os.listdir("/proc"):
                if not pid.isdigit() or pid == own:
                    continue
                try:
                    exe = os.readlink(f"/proc/{pid}/exe")
                except OSError:
                    continue
                side = next((s for s, exes in self.sides.items() if exe in exes), None)
                if side is None:
                    continue
                vals = rollup(pid)
                if vals is None:
                    continue
                rec = self.per_pid[side].setdefault(pid, {k: 0 for k in FIELDS})
                for k in FIELDS:
                    rec[k] = max(rec[k], vals[k])
                sums[side] += vals["Pss"]
                counts[side] += 1
            for s in self.sides:
                self.peak_pss[s] = max(self.peak_pss[s], sums[s])
                self.peak_count[s] = max(self.peak_count[s], counts[s])
            self.samples += 1
            time.sleep(self.interval)


def version_rss(directory: str, plugins: list[str]) -> dict[str, int]:
    out = {}
    for p in plugins:
        r = subprocess.run(["/usr/bin/time", "-f", "%M", os.path.join(directory, p)], input=b"",
                           env={"CNI_COMMAND": "VERSION", "PATH": os.environ.get("PATH", "")},
                           capture_output=True)
        out[p] = int(r.stderr.decode().strip().splitlines()[-1])
    return out


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cni-path", default=os.path.join(REPO, "bin"))
    ap.add_argument("--compare", default="/usr/lib/cni")
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--interval-ms", type=float, default=3.0)
    ap.add_argument("--json")
    args = ap.parse_args()
    ours, ref = os.path.abspath(args.cni_path), os.path.abspath(args.compare)
    plugins = sorted(set(os.listdir(ours)) & set(os.listdir(ref)) - {"tscni"})
    report: dict = {"version_peak_rss_kib": {"tscni": version_rss(ours, plugins), "reference": version_rss(ref, plugins)}}

    sampler = Sampler({"tscni": executables(ours), "reference": executables(ref)}, args.interval_ms / 1000)
    sampler.start()
    run = subprocess.run([sys.executable, os.path.join(find_harness(), "run.py"), "--cni-path", ours, "--compare", ref,
                          "--scenarios", "d", "--concurrency", str(args.concurrency), "--rounds", str(args.rounds),
                          "--no-hyperfine", "--json"], capture_output=True, text=True)
    sampler.stop.set()
    sampler.join()
    if run.returncode != 0:
        print(run.stderr[-2000:], file=sys.stderr)
    burst = {}
    for side, pids in sampler.per_pid.items():
        recs = list(pids.values())
        priv = [r["Private_Clean"] + r["Private_Dirty"] for r in recs]
        burst[side] = {
            "processes": len(recs),
            "rss_kib_p50": statistics.median(r["Rss"] for r in recs) if recs else 0,
            "rss_kib_max": max((r["Rss"] for r in recs), default=0),
            "pss_kib_p50": statistics.median(r["Pss"] for r in recs) if recs else 0,
            "private_kib_p50": statistics.median(priv) if priv else 0,
            "private_kib_max": max(priv, default=0),
            "most_at_once": sampler.peak_count[side],
            "peak_pss_sum_kib": sampler.peak_pss[side],
        }
    report["burst"] = burst
    report["samples"] = sampler.samples
    report["load"] = os.getloadavg()
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1)

    v = report["version_peak_rss_kib"]
    print(f"VERSION alone, peak RSS MiB (/usr/bin/time): tscni {mib(statistics.median(v['tscni'].values()))}, "
          f"reference {mib(statistics.median(v['reference'].values()))} (p50 over {len(plugins)} plugins)")
    print(f"scenario d, {args.concurrency} at once, {sampler.samples} samples, load {report['load'][0]:.1f}:")
    print("| per plugin process (MiB) | tscni | reference |")
    print("| --- | --- | --- |")
    rows = [("processes seen", "processes", None), ("RSS p50 / max", "rss_kib_p50", "rss_kib_max"),
            ("PSS p50", "pss_kib_p50", None), ("private p50 / max", "private_kib_p50", "private_kib_max"),
            ("most running at once", "most_at_once", None), ("their PSS together, at most", "peak_pss_sum_kib", None)]
    for label, a, b in rows:
        cells = []
        for side in ("tscni", "reference"):
            s = burst.get(side, {})
            if a in ("processes", "most_at_once"):
                cells.append(str(s.get(a, 0)))
            else:
                cells.append(mib(s.get(a, 0)) + (f" / {mib(s.get(b, 0))}" if b else ""))
        print(f"| {label} | {cells[0]} | {cells[1]} |")
    return 0 if run.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
