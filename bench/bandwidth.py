#!/usr/bin/env python3
"""Benchmark scenario "bw": bandwidth chained after bridge, ours against another plugin directory
(the reference), on the shared benchmark harness (../shared/bench): its coordinator interleaves
the two sides step by step in sandboxes of their own, its libcni-like runtime drives the plugins,
its report renders the table. Nothing of it is copied here; this file only adds the scenario.

    bench/bandwidth.py --cni-path bin --compare /usr/lib/cni [--iterations 200] [--out FILE]

Each step: a new container, ADD of the conflist (bridge + host-local, then bandwidth with the
`bandwidth` capability as containerd's CRI sends it for a pod annotated 8M each way), CHECK,
DEL; the latency of each verb for the whole chain and per plugin. Step 0 (it creates the bridge)
is reported apart. After the last step: what is left (leases, veths, ifb devices).

Like the harness's run.py, this process does no networking: the coordinator starts this same file
as its workers (`--worker`), each under `unshare --net --mount`, where the scenario runs.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)



def find_harness() -> str:
    """../shared/bench beside the checkout (or beside a parent, for a git worktree); CNIBENCH_DIR wins."""
    if os.environ.get("CNIBENCH_DIR"):
        return os.environ["CNIBENCH_DIR"]
    d = REPO
    while os.path.dirname(d) != d:
        candidate = os.path.join(os.path.dirname(d), "shared", "bench")
        if os.path.isdir(os.path.join(candidate, "cnibench")):
            return candidate
        d = os.path.dirname(d)
    sys.exit("bench/bandwidth.py: the shared harness (../shared/bench) is not there; set CNIBENCH_DIR")


HARNESS = find_harness()
sys.path.insert(0, HARNESS)

from cnibench import netconf  # noqa: E402
from cnibench.context import Context, Options  # noqa: E402
from cnibench.runtime import NetworkList  # noqa: E402
from cnibench.scenarios import (  # noqa: E402
    SCENARIOS,
    Scenario,
    collect,
    empty_summary,
    error_summary,
    leftovers,
    metric_names,
    outcome_metrics,
    record,
    table_counts,
)
from cnibench.stats import summarize  # noqa: E402

# What containerd 1.6 sends for kubernetes.io/ingress-bandwidth and egress-bandwidth "8M".
BANDWIDTH = {"IngressRate": 8_000_000, "IngressBurst": 2**32 - 1,
             "EgressRate": 8_000_000, "EgressBurst": 2**32 - 1}


def ifb_count() -> int:
    """ifb devices in the sandbox, the harness's own uplink (an ifb where there is no dummy) left out."""
    out = subprocess.run(["ip", "-o", "link", "show", "type", "ifb"], capture_output=True, text=True).stdout
    return sum(1 for line in out.splitlines() if f" {netconf.UPLINK_DEV}:" not in line)


class BandwidthChain(Scenario):
    key = "bw"
    title = "conflist bridge + host-local, bandwidth (capability, 8 Mbit/s each way): ADD, CHECK, DEL"
    NET, BRIDGE, BASE = "cbnet-bw", "cbbr-bw", "198.18.3.0"

    def num_steps(self, opts: Options) -> int:
        return opts.iterations + 1  # step 0: the cold start (creates the bridge)

    def setup(self, ctx: Context) -> dict:
        bridge = netconf.bridge(self.BRIDGE, netconf.subnet_for(self.BASE, 250), ctx.sandbox.data_dir)
        net = NetworkList.from_conflist({
            "cniVersion": ctx.opts.cni_version,
            "name": self.NET,
            "plugins": [bridge, {"type": "bandwidth", "capabilities": {"bandwidth": True}}],
        })
        ctx.state["net"] = net
        return {"config": net.as_json(), "bandwidth": BANDWIDTH}

    def step(self, ctx: Context, i: int) -> dict:
        net = ctx.state["net"]
        c = ctx.new_container(f"bw-{i}")
        c.rt.capability_args["bandwidth"] = BANDWIDTH
        errors: list[str] = []
        metrics: dict[str, float] = {}
        try:
            add = ctx.add(net, c)
            record(errors, add, "ADD")
            metrics.update(outcome_metrics(add, "ADD", True))
            if add.ok:
                chk = ctx.check(net, c)
                record(errors, chk, "CHECK")
                metrics.update(outcome_metrics(chk, "CHECK", True))
            dele = ctx.delete(net, c)
            record(errors, dele, "DEL")
            metrics.update(outcome_metrics(dele, "DEL", True))
        finally:
            ctx.destroy(c)
        return {"warmup": i == 0, "metrics": metrics, "errors": errors}

    def teardown(self, ctx: Context) -> dict:
        state = leftovers(ctx, self.NET, self.BRIDGE)
        state["ifb_left"] = ifb_count()
        return state

    def summarize(self, setup, steps, teardown, opts):
        s = empty_summary()
        for name in metric_names(steps):
            s["latency"][name] = summarize(collect(steps, name))
        warm = [x for x in steps if x.get("warmup")]
        if warm and "ADD" in warm[0]["metrics"]:
            s["values"]["cold ADD ms (first)"] = round(warm[0]["metrics"]["ADD"], 3)
        s["values"].update(table_counts("after all: ", teardown))
        s["values"]["after all: ifb devices"] = teardown.get("ifb_left")
        s["values"]["after all: veths"] = teardown.get("veths")
        s["details"]["after_all"] = teardown
        s["errors"] = error_summary(steps)
        s["details"]["config"] = setup.get("config")
        s["details"]["bandwidth"] = setup.get("bandwidth")
        return s


SCENARIOS[BandwidthChain.key] = BandwidthChain()


def main() -> int:
    p = argparse.ArgumentParser(prog="bench/bandwidth.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--cni-path", default=os.path.join(REPO, "bin"), help="side A (default: bin/)")
    p.add_argument("--compare", metavar="DIR2", help="side B, interleaved with A (e.g. /usr/lib/cni)")
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--cni-version", default="1.0.0")
    p.add_argument("--cni-args", choices=["k8s", "none"], default="k8s")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds allowed per plugin execution")
    p.add_argument("--out", metavar="FILE", help="also write the JSON report to FILE and the table to FILE.txt")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        from cnibench.worker import worker_main
        return worker_main(json.loads(args.worker))

    from cnibench.coordinator import Coordinator, Side, WorkerFailed
    from cnibench.report import render

    if os.geteuid() != 0:
        print("bench/bandwidth.py: must run as root (it creates network namespaces)", file=sys.stderr)
        return 2
    sides = [Side(k, shown, os.path.abspath(shown))
             for k, shown in (("A", args.cni_path), ("B", args.compare)) if shown]
    opts = Options(iterations=args.iterations, cni_version=args.cni_version, cni_args=args.cni_args,
                   timeout_s=args.timeout, hyperfine=False)
    command = " ".join(["bench/bandwidth.py", "--cni-path", args.cni_path]
                       + (["--compare", args.compare] if args.compare else [])
                       + ["--iterations", str(args.iterations)])
    try:
        report = Coordinator(os.path.abspath(__file__), sides, opts,
                             lambda m: print(m, file=sys.stderr, flush=True)).run([BandwidthChain.key], command)
    except WorkerFailed as exc:
        print(f"bench/bandwidth.py: the sandbox could not start: {str(exc).strip().splitlines()[-1:]}",
              file=sys.stderr)
        return 1
    table = render(report)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(report, fh, indent=1)
        with open((args.out[:-5] if args.out.endswith(".json") else args.out) + ".txt", "w") as fh:
            fh.write(table)
    print(table, end="")
    return 1 if report["scenarios"][BandwidthChain.key].get("failed") else 0


if __name__ == "__main__":
    sys.exit(main())
