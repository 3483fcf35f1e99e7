#!/usr/bin/env python3
"""What each plugin verb loads: the executable's chunks (JavaScript bytes before bytecode) and the
runtime's built-in modules, from the bundler's metafile (`make build` writes build/tscni.meta.json).

    bench/chunks.py [--meta build/tscni.meta.json] [--markdown]

A call loads the entry chunk (cmd/tscni.ts and what it imports statically; VERSION stops there),
then the dispatcher (lib/cni/main.ts), then its verb's
module (plugins/<name>/<verb>.ts) and, for the interface plugins, the host Kernel
(lib/net/kernel.ts), each with its static imports. What those modules import dynamically is
loaded only when the call reaches it (the in-process IPAM, a firewall backend): listed apart as
"on demand". Built-in modules matter as much as our own bytes: in the executable node:fs costs
~170 page faults (~5.5 MiB of touched memory) and node:path ~60, against ~660 for Bun itself.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
VERBS = ("add", "del", "check", "gc", "status")
# Verbs bound to the host's Kernel in plugins/registry.ts (onHost) also load lib/net/kernel.ts.
KERNEL_ENTRY = "lib/net/kernel.ts"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--meta", default=os.path.join(REPO, "build", "tscni.meta.json"))
    ap.add_argument("--markdown", action="store_true", help="a Markdown table")
    args = ap.parse_args()
    with open(args.meta) as fh:
        meta = json.load(fh)
    outputs: dict = meta["outputs"]
    inputs: dict = meta["inputs"]
    by_entry = {v["entryPoint"]: k for k, v in outputs.items() if "entryPoint" in v}
    registry = open(os.path.join(REPO, "plugins", "registry.ts")).read()

    def resolve(chunk: str, path: str) -> str:
        return norm(os.path.normpath(os.path.join(os.path.dirname(chunk), path)))

    def closure(chunk: str, seen: set[str]) -> set[str]:
        if chunk in seen:
            return seen
        seen.add(chunk)
        for imp in outputs[chunk].get("imports", []):
            if imp["kind"] != "dynamic-import":
                closure(resolve(chunk, imp["path"]), seen)
        return seen

    def norm(p: str) -> str:
        return p if p.startswith("./") else "./" + p

    outputs = {norm(k): v for k, v in outputs.items()}
    by_entry = {k: norm(v) for k, v in by_entry.items()}

    def builtins(chunks: set[str]) -> set[str]:
        names: set[str] = set()
        for c in chunks:
            for src in outputs[c].get("inputs", {}):
                for imp in inputs.get(src, {}).get("imports", []):
                    name = imp.get("original", imp["path"])
                    if imp.get("external") and name.startswith(("node:", "bun:")) and imp["kind"] == "import-statement":
                        names.add(name)
        return names

    def on_demand(chunks: set[str]) -> set[str]:
        names: set[str] = set()
        for c in chunks:
            for imp in outputs[c].get("imports", []):
                if imp["kind"] == "dynamic-import":
                    target = resolve(c, imp["path"])
                    ep = outputs.get(target, {}).get("entryPoint")
                    if ep and ep not in ("lib/net/kernel.ts",) and not re.match(r"plugins/[^/]+/(add|del|check|gc|status)\.ts$", ep):
                        names.add(ep)
                    elif ep and ep.startswith("plugins/host-local/"):
                        names.add(ep)
        return names

    base = closure(by_entry["cmd/tscni.ts"], set())
    # Every verb but VERSION goes through the dispatcher (lib/cni/main.ts, imported by the entry).
    call = closure(by_entry["lib/cni/main.ts"], set(base)) if "lib/cni/main.ts" in by_entry else set(base)
    kernel = closure(by_entry[KERNEL_ENTRY], set()) if KERNEL_ENTRY in by_entry else set()
    rows = []
    rows.append(("(any) VERSION", base, set()))
    for entry in sorted(by_entry):
        m = re.match(r"plugins/([^/]+)/(add|del|check|gc|status)\.ts$", entry)
        if not m:
            continue
        plugin, verb = m.groups()
        # onHost({ add: () => import('./<plugin>/add'), ... }) in the registry: the plugin's entry
        # runs from "<name>: plugin(" to the next entry.
        start = re.search(r"\n  '?%s'?: plugin\(" % re.escape(plugin), registry)
        block = registry[start.end():] if start else ""
        nxt = re.search(r"\n  '?[a-z-]+'?: plugin\(", block)
        block = block[: nxt.start()] if nxt else block
        host_part = block.split("onHost(", 1)[1].split("})", 1)[0] if "onHost(" in block else ""
        on_host = f"import('./{plugin}/{verb}')" in host_part
        chunks = closure(by_entry[entry], set(call))
        if on_host:
            chunks |= kernel
        rows.append((f"{plugin} {verb.upper()}", chunks, on_demand(chunks - base)))

    def size(chunks: set[str]) -> int:
        return sum(outputs[c]["bytes"] for c in chunks)

    total = len(outputs), sum(v["bytes"] for v in outputs.values())
    if args.markdown:
        print("| call | chunks | JS bytes | built-ins | on demand |")
        print("| --- | --- | --- | --- | --- |")
    for name, chunks, later in rows:
        b = ", ".join(sorted(builtins(chunks)))
        d = ", ".join(sorted(x.replace("plugins/", "").replace(".ts", "") for x in later))
        if args.markdown:
            print(f"| {name} | {len(chunks)} | {size(chunks):,} | {b} | {d} |")
        else:
            print(f"{name:24s} {len(chunks):4d} chunks {size(chunks):8,d} B  [{b}]  {('then ' + d) if d else ''}")
    print(f"({total[0]} chunks, {total[1]:,} bytes in the executable)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
