#!/bin/bash
# Per-verb timings of the link plugins (tap, vlan, vrf, dummy) against the reference where Debian
# has it (vlan, vrf), with hyperfine, in a private sandbox: a "host" namespace holding a veth
# uplink and a container namespace, both created here and deleted on exit. Kernels without
# 802.1Q, VRF or dummy links time ADD's failure path (the same work up to the kernel's refusal
# on both sides).
#
#   bench/links.sh [runs]        # needs root, bin/ built (make build), hyperfine
set -euo pipefail
RUNS=${1:-100}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REF=/usr/lib/cni
TAG=tscni-t-bench-$$
H=$TAG-host
C=$TAG-ctr
DIR=$(mktemp -d "/tmp/$TAG-XXXXXX")
cleanup() {
  ip netns del "$H" 2>/dev/null || true
  ip netns del "$C" 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT

ip netns add "$H"
ip netns add "$C"
ip -n "$H" link add phys0 type veth peer name phys1
ip -n "$H" link set phys0 up
mkdir -p "$DIR/ours" "$DIR/ref"
ln -s "$ROOT/bin/host-local" "$DIR/ours/host-local"
ln -s "$REF/host-local" "$DIR/ref/host-local"
# The interface vrf is chained on (as an interface plugin would have left it).
ip -n "$C" link add eth0 type veth peer name eth1
ip -n "$C" addr add 10.81.0.2/24 dev eth0
ip -n "$C" link set eth0 up

ipam() { echo "{\"type\":\"host-local\",\"subnet\":\"10.80.0.0/24\",\"dataDir\":\"$DIR/ipam-$1\"}"; }
conf() { # plugin side [extra json members]
  case $1 in
    vlan) echo "{\"cniVersion\":\"1.0.0\",\"name\":\"bn\",\"type\":\"vlan\",\"master\":\"phys0\",\"vlanId\":10,\"ipam\":$(ipam "$2")$3}" ;;
    vrf) echo "{\"cniVersion\":\"1.0.0\",\"name\":\"bn\",\"type\":\"vrf\",\"vrfname\":\"blue\",\"prevResult\":{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":\"/run/netns/$C\"}],\"ips\":[{\"interface\":0,\"address\":\"10.81.0.2/24\"}]}$3}" ;;
    tap) echo "{\"cniVersion\":\"1.0.0\",\"name\":\"bn\",\"type\":\"tap\",\"multiQueue\":true,\"owner\":1000,\"group\":1000,\"mac\":\"02:00:00:00:00:42\",\"mtu\":1400$3}" ;;
    dummy) echo "{\"cniVersion\":\"1.0.0\",\"name\":\"bn\",\"type\":\"dummy\",\"ipam\":$(ipam "$2")$3}" ;;
  esac
}
call() { # verb exe path config (hyperfine runs it through sh -c and subtracts the shell's own start)
  echo "env CNI_COMMAND=$1 CNI_CONTAINERID=bench CNI_NETNS=/run/netns/$C CNI_IFNAME=tap0 CNI_PATH=$3 $2 <$4 >/dev/null"
}
# -i: the failure paths (no 802.1Q, no VRF on a kernel that lacks them) exit 1 on purpose.
hf() { ip netns exec "$H" hyperfine -i --warmup 5 --runs "$RUNS" --style basic --export-json "$DIR/last.json" "$@" >/dev/null 2>&1; }
# Wall p50 and CPU (user + system, mean): on a loaded machine the CPU time says more.
p50() {
  python3 -c "import json,statistics
r=json.load(open('$DIR/last.json'))['results']
print(' / '.join('%.2f'%(statistics.median(x['times'])*1000) for x in r).ljust(24), ' / '.join('%.2f'%((x['user']+x['system'])*1000) for x in r))"
}

row() { printf '%-34s %s\n' "$1" "$2"; }
row "step" "$(printf '%-24s %s' 'wall p50 ms: tscni / ref' 'CPU ms: tscni / ref')"
for verb in VERSION ADD DEL; do
  for p in vlan vrf; do
    conf "$p" ours "" >"$DIR/ours.json"
    conf "$p" ref "" >"$DIR/ref.json"
    hf -n ours "$(call "$verb" "$ROOT/bin/$p" "$DIR/ours" "$DIR/ours.json")" \
      -n ref "$(call "$verb" "$REF/$p" "$DIR/ref" "$DIR/ref.json")"
    row "$p $verb" "$(p50)"
  done
done
# tap: ours only (Debian's v1.1.1 has no tap). ADD after a DEL, DEL after an ADD.
conf tap ours "" >"$DIR/tap.json"
ADD=$(call ADD "$ROOT/bin/tap" "$DIR/ours" "$DIR/tap.json")
DEL=$(call DEL "$ROOT/bin/tap" "$DIR/ours" "$DIR/tap.json")
ip netns exec "$H" hyperfine --warmup 3 --runs "$RUNS" --style basic --export-json "$DIR/last.json" \
  --prepare "$DEL" -n add "$ADD" >/dev/null
row "tap ADD (every option)" "$(p50)"
ip netns exec "$H" hyperfine --warmup 3 --runs "$RUNS" --style basic --export-json "$DIR/last.json" \
  --prepare "$DEL; $ADD" -n del "$DEL" >/dev/null
row "tap DEL" "$(p50)"
