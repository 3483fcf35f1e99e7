#!/usr/bin/env python3
"""Soak: many chained ADD/DEL cycles (bridge + host-local, then portmap) with a fixed number of
containers alive, in a sandbox of the shared benchmark harness (../shared/bench: its Sandbox,
its libcni-like runtime, its network configs and statistics; nothing of it is copied here).

    bench/soak.py [--cni-path bin] [--cycles 10000] [--alive 10] [--out FILE]

Cycle i deletes container i-alive (when there is one) and adds container i, with one host port
mapping, so `alive` containers exist between cycles. Every plugin runs with TSCNI_DEBUG=1, whose
last line reports the call's peak/anon/file memory and open descriptors. Reported: failures,
what is left at checkpoints and at the end (leases, index entries and bytes, teardown marks,
rules, links), descriptors and memory per call, and latency of the first vs the last 1,000
cycles per plugin and verb. It measures; it asserts nothing (exit 1 only if the sandbox fails).

Like the harness's coordinator, the outer process does no networking: it starts itself again
under `unshare --net --mount --propagation private`, and that inner process refuses to run in
the machine's namespaces (the harness's Sandbox checks), so every link, rule and sysctl lives
and dies in the sandbox. The work directory (leases, teardown marks) is removed at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Optional

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
HARNESS = os.path.normpath(os.path.join(REPO, "..", "shared", "bench"))
sys.path.insert(0, HARNESS)

from cnibench import netconf, runtime as cni_runtime  # noqa: E402
from cnibench.context import Context, Options  # noqa: E402
from cnibench.runtime import CNIRuntime  # noqa: E402
from cnibench.sandbox import Sandbox, namespace_ids  # noqa: E402
from cnibench.stats import summarize  # noqa: E402

NETWORK = "soak"
BRIDGE = "cbbr-soak"
DEBUG_RE = re.compile(r"done, exit code (\d+); peak (\d+) MiB, anon (\d+) MiB, file (\d+) MiB, fds (\d+)")


class _StderrKeeper:
    """Stands in for the subprocess module inside cnibench.runtime: the harness keeps a plugin's
    stderr only when it fails, the soak wants the debug line of every call."""

    def __init__(self) -> None:
        self.last_stderr = b""

    def __getattr__(self, name: str):
        return getattr(subprocess, name)

    def run(self, *args, **kwargs):
        proc = subprocess.run(*args, **kwargs)
        self.last_stderr = proc.stderr or b""
        return proc


def debug_figures(stderr: bytes) -> Optional[dict]:
    m = DEBUG_RE.search(stderr.decode(errors="replace"))
    if not m:
        return None
    return {"peak_mib": int(m[2]), "anon_mib": int(m[3]), "file_mib": int(m[4]), "fds": int(m[5])}


def index_size(data_dir: str) -> dict:
    by_id = os.path.join(data_dir, NETWORK, ".tscni", "by-id")
    try:
        names = os.listdir(by_id)
    except OSError:
        return {"index_entries": 0, "index_bytes": 0}
    return {"index_entries": len(names),
            "index_bytes": sum(os.path.getsize(os.path.join(by_id, n)) for n in names)}


def container_rules(sb: Sandbox, ids: list[str]) -> int:
    """Rules that name one of the soak's containers (by ID or per-container chain)."""
    text = (sb.iptables_save() or "") + (sb.nft_ruleset() or "")
    lines = text.splitlines()
    return sum(1 for line in lines if "CNI-DN-" in line or any(cid in line for cid in ids))


def state(sb: Sandbox, data_dir: str, run_dir: str, ids: list[str]) -> dict:
    marks = os.path.join(run_dir, "teardown")
    return {
        "leases": len(sb.lease_files(NETWORK)),
        **index_size(data_dir),
        "teardown_marks": len(os.listdir(marks)) if os.path.isdir(marks) else 0,
        **sb.rule_counts(),
        "container_rules": container_rules(sb, ids),
        **sb.link_counts(BRIDGE),
    }


def _stop(signum, frame):  # noqa: ARG001
    raise SystemExit(128 + signum)  # unwinds through the finally blocks: the sandbox is closed


def inner(spec: dict) -> int:
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    keeper = _StderrKeeper()
    cni_runtime.subprocess = keeper  # see _StderrKeeper
    sb = Sandbox(spec["workdir"], spec["launcher_ns"])
    try:
        return soak(spec, sb, keeper)
    finally:
        sb.close()


def soak(spec: dict, sb: Sandbox, keeper: _StderrKeeper) -> int:
    cycles, alive = spec["cycles"], spec["alive"]
    run_dir = os.path.join(spec["workdir"], "run")
    env = sb.plugin_env()
    env.update({"TSCNI_DEBUG": "1", "TSCNI_RUN_DIR": run_dir})
    rt = CNIRuntime([spec["cni_path"]], env, timeout_s=60.0)
    ctx = Context("A", sb, rt, Options(cni_args="k8s"))
    subnet = netconf.subnet_for("198.18.0.0", alive + 4)
    net = netconf.chain_network(NETWORK, "1.0.0", BRIDGE, subnet, sb.data_dir)

    calls: list[dict] = []  # one per plugin invocation
    failures: list[str] = []
    checkpoints: dict[int, dict] = {}
    live: dict[int, object] = {}
    ids: list[str] = []

    def account(i: int, verb: str, out) -> None:
        for inv in out.invocations:
            calls.append({"cycle": i, "plugin": inv.plugin, "command": verb, "ms": inv.ms,
                          "ok": inv.ok, **(inv.__dict__.get("figures") or {})})
        if not out.ok:
            err = out.error or {}
            failures.append(f"cycle {i} {verb}: {err.get('plugin')} code={err.get('code')} {err.get('msg')}")

    original_invoke = CNIRuntime.invoke

    def invoke(self, *args, **kwargs):
        inv = original_invoke(self, *args, **kwargs)
        inv.__dict__["figures"] = debug_figures(keeper.last_stderr)
        return inv

    CNIRuntime.invoke = invoke  # type: ignore[method-assign]

    started = time.time()
    checkpoints[0] = state(sb, sb.data_dir, run_dir, ids)
    for i in range(cycles):
        if i >= alive:
            old = live.pop(i - alive)
            account(i, "DEL", ctx.delete(net, old))
            ctx.destroy(old)
        c = ctx.new_container(f"soak-{i}", netconf.port_mappings([20000 + i % alive], [80]))
        ids.append(c.id)
        out = ctx.add(net, c)
        account(i, "ADD", out)
        live[i] = c
        if (i + 1) % spec["every"] == 0 or i + 1 == cycles:
            checkpoints[i + 1] = state(sb, sb.data_dir, run_dir, ids[-alive:])
            print(f"soak: {i + 1}/{cycles} cycles, {len(failures)} failures, "
                  f"{time.time() - started:.0f} s", file=sys.stderr, flush=True)
    for i in sorted(live):
        account(cycles, "DEL", ctx.delete(net, live[i]))
        ctx.destroy(live[i])
    live.clear()
    final = state(sb, sb.data_dir, run_dir, ids)
    wall = time.time() - started

    report = {"cycles": cycles, "alive": alive, "wall_s": round(wall, 1), "failures": len(failures),
              "failure_samples": failures[:20], "checkpoints": checkpoints, "final": final,
              **figures(calls, cycles)}
    text = json.dumps(report, indent=2)
    print(text)
    if spec.get("out"):
        with open(spec["out"], "w") as fh:
            fh.write(text + "\n")
    return 0


def figures(calls: list[dict], cycles: int) -> dict:
    window = min(1000, max(1, cycles // 2))
    out: dict = {"latency_ms": {}, "memory_mib": {}, "fds": {}}
    for plugin in ("bridge", "portmap"):
        for verb in ("ADD", "DEL"):
            mine = [c for c in calls if c["plugin"] == plugin and c["command"] == verb]
            key = f"{plugin} {verb}"
            out["latency_ms"][key] = {
                "all": summarize(c["ms"] for c in mine),
                f"first {window} cycles": summarize(c["ms"] for c in mine if c["cycle"] < window),
                f"last {window} cycles": summarize(c["ms"] for c in mine if c["cycle"] >= cycles - window),
            }
    with_figures = [c for c in calls if "peak_mib" in c]
    if with_figures:
        longest = max(with_figures, key=lambda c: c["ms"])
        out["memory_mib"] = {
            "peak max": max(c["peak_mib"] for c in with_figures),
            "peak p50": summarize(c["peak_mib"] for c in with_figures)["p50"],
            "longest call": {k: longest[k] for k in ("plugin", "command", "cycle", "ms", "peak_mib",
                                                     "anon_mib", "file_mib", "fds")},
        }
        fds = [c["fds"] for c in with_figures]
        first = [c["fds"] for c in with_figures if c["cycle"] < window]
        last = [c["fds"] for c in with_figures if c["cycle"] >= cycles - window]
        out["fds"] = {"min": min(fds), "max": max(fds), f"max first {window} cycles": max(first or [0]),
                      f"max last {window} cycles": max(last or [0])}
    out["calls"] = len(calls)
    out["calls_without_debug_line"] = len(calls) - len(with_figures)
    return out


def outer(args: argparse.Namespace) -> int:
    workdir = tempfile.mkdtemp(prefix="tscni-soak-")
    try:
        # A private copy of the plugins: a rebuild during the soak must not change what it measures.
        bin_copy = os.path.join(workdir, "bin")
        shutil.copytree(os.path.abspath(args.cni_path), bin_copy, symlinks=True)
        spec = {"workdir": os.path.join(workdir, "w"), "launcher_ns": namespace_ids(),
                "cni_path": bin_copy, "cycles": args.cycles, "alive": args.alive,
                "every": args.every, "out": os.path.abspath(args.out) if args.out else None}
        os.makedirs(spec["workdir"])
        cmd = ["unshare", "--net", "--mount", "--propagation", "private", "--",
               sys.executable, os.path.abspath(__file__), "--inner", json.dumps(spec)]
        proc = subprocess.Popen(cmd)

        def forward(signum, frame):  # noqa: ARG001
            proc.send_signal(signum)  # by PID: only the process we started

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        return proc.wait()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cni-path", default=os.path.join(REPO, "bin"))
    p.add_argument("--cycles", type=int, default=10000)
    p.add_argument("--alive", type=int, default=10)
    p.add_argument("--every", type=int, default=1000, help="checkpoint every N cycles")
    p.add_argument("--out", help="also write the JSON report here")
    p.add_argument("--inner", help=argparse.SUPPRESS)
    args = p.parse_args()
    if os.geteuid() != 0:
        print("soak: needs root (network namespaces)", file=sys.stderr)
        return 1
    if args.inner:
        return inner(json.loads(args.inner))
    return outer(args)


if __name__ == "__main__":
    sys.exit(main())
