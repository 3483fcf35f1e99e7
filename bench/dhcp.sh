#!/bin/bash
# dhcp per-verb latency, ours against the reference (not part of `make test`):
#
#     bench/dhcp.sh [N] [ours-dir] [reference-dir]      # defaults: 30, bin, /usr/lib/cni
#
# In a throwaway sandbox (namespaces tscni-t-bench-dhcp-*): dnsmasq serves a veth "underlay"
# from its own namespace (--no-ping, so the server answers at once); each implementation's own
# `dhcp daemon` runs in the sandbox's host namespace with its socket in a temp dir; N containers
# get a macvlan of the underlay (made by `ip`, down, as an interface plugin hands it to IPAM).
# The IPAM plugin is called directly: ADD, CHECK, DEL for each container, both implementations
# interleaved container by container. Prints the median and p90 wall time per verb in ms, and
# the ratio. It measures; it asserts nothing. Everything it made is removed on exit.
set -euo pipefail
N=${1:-30}
OURS=$(realpath "${2:-bin}")
REF=$(realpath "${3:-/usr/lib/cni}")
P=tscni-t-bench-dhcp-$$
DIR=$(mktemp -d /tmp/$P.XXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for ns in $(ip netns list | awk '{print $1}' | grep "^$P-" || true); do ip netns del "$ns"; done
  rm -rf "$DIR"
}
trap cleanup EXIT

ip netns add $P-host && ip -n $P-host link set lo up
ip netns add $P-srv && ip -n $P-srv link set lo up
ip -n $P-host link add under0 type veth peer name uplink netns $P-srv
ip -n $P-host link set under0 up
ip -n $P-srv addr add 10.66.0.1/16 dev uplink && ip -n $P-srv link set uplink up
ip netns exec $P-srv dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 --interface=uplink \
  --bind-interfaces --dhcp-range=10.66.1.1,10.66.200.254,255.255.0.0,1h --no-ping \
  --dhcp-option=option:router,10.66.0.1 --dhcp-leasefile="$DIR/leases" --pid-file="$DIR/dnsmasq.pid" &
PIDS+=($!)
for impl in ours ref; do
  exe=$OURS/dhcp; [ $impl = ref ] && exe=$REF/dhcp
  mkdir -p "$DIR/$impl"
  extra=(); [ $impl = ours ] && extra=(-statedir "$DIR/$impl/state")
  ip netns exec $P-host "$exe" daemon -socketpath "$DIR/$impl/dhcp.sock" "${extra[@]}" >"$DIR/$impl/daemon.log" 2>&1 &
  PIDS+=($!)
done
for impl in ours ref; do
  for _ in $(seq 100); do [ -S "$DIR/$impl/dhcp.sock" ] && break; sleep 0.1; done
done

ms() { echo $(( ($(date +%s%N) - $1) / 1000 )); } # microseconds since $1
call() { # impl verb container
  local exe=$OURS/dhcp; [ "$1" = ref ] && exe=$REF/dhcp
  local conf="{\"cniVersion\":\"1.0.0\",\"name\":\"bench\",\"type\":\"dhcp\",\"ipam\":{\"type\":\"dhcp\",\"daemonSocketPath\":\"$DIR/$1/dhcp.sock\"}}"
  local t0; t0=$(date +%s%N)
  CNI_COMMAND=$2 CNI_CONTAINERID="$1-$3" CNI_NETNS=/run/netns/$P-$3 CNI_IFNAME=eth0 CNI_PATH=/nonexistent \
    "$exe" <<<"$conf" >"$DIR/out" 2>&1 || { echo "$1 $2 $3 failed: $(cat "$DIR/out")" >&2; exit 1; }
  echo "$1 $2 $(ms "$t0")" >>"$DIR/times"
}
for i in $(seq "$N"); do
  for impl in ours ref; do
    c=$impl$i
    ip netns add $P-$c
    ip -n $P-host link add link under0 name mv$c type macvlan mode bridge
    ip -n $P-host link set mv$c netns $P-$c
    ip -n $P-$c link set mv$c name eth0
    call $impl ADD $c
    call $impl CHECK $c
    call $impl DEL $c
    ip netns del $P-$c
  done
done
python3 - "$DIR/times" <<'EOF'
import statistics, sys
t = {}
for line in open(sys.argv[1]):
    impl, verb, us = line.split()
    t.setdefault((impl, verb), []).append(int(us) / 1000)
def q(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))]
print(f"{'verb':6} {'tscni p50/p90 ms':>18} {'reference p50/p90 ms':>22} {'ratio p50':>10}")
for verb in ('ADD', 'CHECK', 'DEL'):
    o, r = t[('ours', verb)], t[('ref', verb)]
    print(f"{verb:6} {statistics.median(o):8.1f} / {q(o, .9):6.1f} {statistics.median(r):12.1f} / {q(r, .9):6.1f} {statistics.median(o) / statistics.median(r):10.2f}")
EOF
