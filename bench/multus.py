#!/usr/bin/env python3
"""Speed of the multus-style secondary network plugins, ours against the reference, per verb:
static (alone), host-device + static, and macvlan + static -> sbr. It runs on the shared
harness (../shared/bench): its sandboxed workers, its libcni-like runtime, its interleaving of
the two plugin directories step by step, its statistics and its table; only the scenarios are
defined here (registered into the harness's scenario table before it starts).

    bench/multus.py [--cni-path bin] [--compare /usr/lib/cni] [--iterations 100] [--out FILE]

Every step is one fresh container (and, for host-device, one fresh device: a veth of the
sandbox host). IPv4 only, so no IPv6 duplicate address detection is timed. The reference's
CHECK of the sbr chain fails in macvlan (sbr moved the routes it looks for out of the main
table), so its CHECK figure is the time to fail and it has no sbr CHECK row.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)



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


HARNESS = find_harness()
sys.path.insert(0, HARNESS)

from cnibench.context import Context, Options  # noqa: E402
from cnibench.runtime import NetworkList  # noqa: E402
from cnibench.scenarios import (  # noqa: E402
    SCENARIOS,
    Scenario,
    collect,
    empty_summary,
    error_summary,
    metric_names,
    outcome_metrics,
    record,
)
from cnibench.stats import summarize  # noqa: E402


def static_ipam(address: str, gateway: str) -> dict:
    return {"type": "static", "addresses": [{"address": address, "gateway": gateway}],
            "routes": [{"dst": "0.0.0.0/0"}], "dns": {"nameservers": ["198.18.0.53"]}}


class Verbs(Scenario):
    """ADD, CHECK and DEL of one network per step, per plugin; subclasses say which network."""

    per_plugin = True

    def num_steps(self, opts: Options) -> int:
        return opts.iterations + 1  # step 0 warms the page cache and is left out

    def network(self, ctx: Context, i: int) -> NetworkList:
        raise NotImplementedError

    def before(self, ctx: Context, i: int) -> None:
        """Per-step preparation outside the timed calls."""

    def after(self, ctx: Context, i: int) -> None:
        """Per-step cleanup outside the timed calls."""

    def step(self, ctx: Context, i: int) -> dict:
        self.before(ctx, i)
        net = self.network(ctx, i)
        c = ctx.new_container(f"{self.key}-{i}", ifname="net1")
        errors: list[str] = []
        metrics: dict[str, float] = {}
        try:
            add = ctx.add(net, c)
            record(errors, add, "ADD")
            metrics.update(outcome_metrics(add, "ADD", self.per_plugin))
            if add.ok:
                chk = ctx.check(net, c)
                record(errors, chk, "CHECK")
                metrics.update(outcome_metrics(chk, "CHECK", self.per_plugin))
            dele = ctx.delete(net, c)
            record(errors, dele, "DEL")
            metrics.update(outcome_metrics(dele, "DEL", self.per_plugin))
        finally:
            ctx.destroy(c)
            self.after(ctx, i)
        return {"warmup": i == 0, "metrics": metrics, "errors": errors}

    def summarize(self, setup, steps, teardown, opts):
        s = empty_summary()
        for name in metric_names(steps):
            s["latency"][name] = summarize(collect(steps, name))
        s["errors"] = error_summary(steps)
        s["details"]["config"] = setup.get("config")
        return s


class StaticAlone(Verbs):
    key = "static"
    title = "static IPAM exec'd alone: ADD, CHECK (prevResult), DEL"
    per_plugin = False

    def network(self, ctx, i):
        conf = {"cniVersion": ctx.opts.cni_version, "name": "cb-static", "type": "static",
                "ipam": static_ipam("198.18.40.5/24", "198.18.40.1")}
        return NetworkList.from_conf(conf)


class HostDevice(Verbs):
    key = "host-device"
    title = "host-device + static: a veth of the sandbox host moved in and back"
    per_plugin = False

    def before(self, ctx, i):
        ctx.sandbox.run(["ip", "link", "add", "cbhd0", "type", "veth", "peer", "name", "cbhd0p"])
        ctx.sandbox.run(["ip", "link", "set", "cbhd0", "up"])

    def after(self, ctx, i):
        ctx.sandbox.run(["ip", "link", "del", "cbhd0p"])  # takes cbhd0 along, wherever it is

    def network(self, ctx, i):
        conf = {"cniVersion": ctx.opts.cni_version, "name": "cb-hostdev", "type": "host-device",
                "device": "cbhd0", "ipam": static_ipam("198.18.41.5/24", "198.18.41.1"),
                # Our records stay in the sandbox's directory (the reference ignores the key).
                "dataDir": os.path.join(ctx.sandbox.data_dir, "host-device")}
        return NetworkList.from_conf(conf)


class Sbr(Verbs):
    key = "sbr"
    title = "macvlan + static -> sbr: ADD, CHECK, DEL per plugin"

    def setup(self, ctx):
        ctx.sandbox.run(["ip", "link", "add", "cbmv0", "type", "veth", "peer", "name", "cbmv0p"])
        ctx.sandbox.run(["ip", "link", "set", "cbmv0", "up"])
        return {"config": self.network(ctx, 0).as_json()}

    def network(self, ctx, i):
        return NetworkList.from_conflist({
            "cniVersion": ctx.opts.cni_version, "name": "cb-sbr",
            "plugins": [
                {"type": "macvlan", "master": "cbmv0", "ipam": static_ipam("198.18.42.5/24", "198.18.42.1")},
                {"type": "sbr"},
            ],
        })


for scenario in (StaticAlone(), HostDevice(), Sbr()):
    SCENARIOS[scenario.key] = scenario
KEYS = ["static", "host-device", "sbr"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cni-path", default=os.path.join(REPO, "bin"))
    p.add_argument("--compare", default="/usr/lib/cni")
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--scenarios", default=",".join(KEYS))
    p.add_argument("--out", help="also write the JSON report here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        from cnibench.worker import worker_main
        return worker_main(json.loads(args.worker))
    if os.geteuid() != 0:
        print("multus.py: needs root (network namespaces)", file=sys.stderr)
        return 1

    from cnibench.coordinator import Coordinator, Side
    from cnibench.report import render

    sides = [Side("A", args.cni_path, os.path.abspath(args.cni_path)),
             Side("B", args.compare, os.path.abspath(args.compare))]
    opts = Options(iterations=args.iterations)
    keys = [k for k in args.scenarios.split(",") if k]
    command = f"bench/multus.py --cni-path {args.cni_path} --compare {args.compare} --iterations {args.iterations}"
    report = Coordinator(os.path.abspath(__file__), sides, opts,
                         lambda m: print(m, file=sys.stderr, flush=True)).run(keys, command)
    table = render(report)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(report, fh, indent=1)
    print(table, end="")
    return 1 if any(s.get("failed") for s in report["scenarios"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
