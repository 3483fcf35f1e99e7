#!/bin/sh
# Every measurement behind README's Performance section, in one go, into one directory
# (`make bench-report`; root; ~1.5-3 h on the 2-core VM, longer under load). Each command is
# also what a single figure can be re-measured with. Ratios are ours / the reference; quote them
# from one run, and name the machine and its load (each report records both).
#   OUT=dir (default bench-out), REF=/usr/lib/cni, NETAVARK=/usr/lib/podman/netavark
set -eu
cd "$(dirname "$0")/.."
OUT=${OUT:-bench-out}
REF=${REF:-/usr/lib/cni}
NETAVARK=${NETAVARK:-/usr/lib/podman/netavark}
RUN=../shared/bench/run.py
mkdir -p "$OUT"
step() { echo "== $*" >&2; }
{ uname -a; nproc; uptime; } >"$OUT/machine.txt"

step "scenarios a-f, default sizes (a, b: 200 iterations; c: 500 containers; d: 3 x 50; e; f with hyperfine)"
"$RUN" --cni-path bin --compare "$REF" --out "$OUT/compare.json"
step "d with 100 at once"
"$RUN" --cni-path bin --compare "$REF" --scenarios d --concurrency 100 --rounds 1 --out "$OUT/d100.json"
step "c with the sandbox's iptables on iptables-legacy"
"$RUN" --cni-path bin --compare "$REF" --scenarios c --iptables-backend legacy --out "$OUT/c-legacy.json"
step "three-way: tscni, the reference and netavark (1 and 100 other containers present)"
python3 bench/netavark.py --cni-path bin --compare "$REF" --netavark "$NETAVARK" --iterations 30 --present 1,100 \
  --json "$OUT/netavark.json" >"$OUT/netavark.txt"
step "memory: VERSION peak RSS; RSS, PSS and private memory per process under a 50-way burst"
python3 bench/memory.py --cni-path bin --compare "$REF" --concurrency 50 --json "$OUT/memory.json" >"$OUT/memory.txt"
step "CPU time per bridge verb (the load-resistant figure)"
python3 bench/verbcpu.py --cni-path bin --compare "$REF" --iterations 30 >"$OUT/verbcpu.txt"
step "what each verb loads"
python3 bench/chunks.py --markdown >"$OUT/chunks.md"
step "static, host-device, sbr; tap, vlan, vrf, dummy; bandwidth"
python3 bench/multus.py --cni-path bin --compare "$REF" --iterations 100 >"$OUT/multus.txt"
bash bench/links.sh 100 >"$OUT/links.txt"
step "bandwidth chained after bridge"
python3 bench/bandwidth.py --cni-path bin --compare "$REF" >"$OUT/bandwidth.txt"
{ uptime; } >>"$OUT/machine.txt"
echo "done: $OUT/*.txt (tables), $OUT/*.json (raw)" >&2
