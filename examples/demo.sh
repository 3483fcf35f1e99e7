#!/usr/bin/env bash
# The tscni tour (README command one, `make demo`). Everything happens in network namespaces this
# script creates — a private "host", three containers and an "outside" machine — and the trap
# removes them (and only them) on exit, also after a failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cni_path=${DEMO_CNI_PATH:-$repo/bin}
tscni=$repo/bin/tscni
tag="tscni-demo-$$"
host="$tag-host"
outside="$tag-outside"
containers=(web client other)
namespaces=()
server_pid=""
tmp=$(mktemp -d "/tmp/$tag.XXXXXX")

cleanup() {
  set +e
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say() { printf '   %s\n' "$*"; }
in_host() { ip netns exec "$host" "$@"; }
cni() { in_host env NETCONFPATH="$tmp/net.d" CNI_PATH="$cni_path" CNI_CACHE_DIR="$tmp/cache" "$@"; }

if [ ! -x "$tscni" ] || [ ! -x "$repo/bin/bridge" ]; then make -C "$repo" build >/dev/null; fi

step "1. A sandbox: a private host namespace, three containers and an outside machine"
for ns in "$host" "$outside"; do ip netns add "$ns"; namespaces+=("$ns"); done
for c in "${containers[@]}"; do ip netns add "$tag-$c"; namespaces+=("$tag-$c"); ip -n "$tag-$c" link set lo up; done
ip -n "$host" link set lo up
ip -n "$host" link add up0 type veth peer name up1 netns "$outside"
ip -n "$host" addr add 192.168.250.1/30 dev up0 && ip -n "$host" link set up0 up
ip -n "$outside" addr add 192.168.250.2/30 dev up1 && ip -n "$outside" link set up1 up && ip -n "$outside" link set lo up
say "namespaces: $host, $outside, ${containers[*]/#/$tag-}"
say "the sandbox host reaches the outside machine over 192.168.250.0/30"

step "2. The network: bridge + host-local + portmap (examples/demo.conflist)"
mkdir -p "$tmp/net.d" "$tmp/leases"
sed "s#@DATADIR@#$tmp/leases#" "$here/demo.conflist" > "$tmp/net.d/10-demo.conflist"
say "plugins from $cni_path, leases in $tmp/leases"

step "3. tscni add: each container gets a veth on the bridge and an address"
for c in "${containers[@]}"; do
  caps='{}'
  [ "$c" = web ] && caps='{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}'
  cni CAP_ARGS="$caps" "$tscni" add demo "/run/netns/$tag-$c" > "$tmp/$c.json"
  addr=$(ip -n "$tag-$c" -4 -o addr show dev eth0 | awk '{print $4}')
  say "$c: eth0 $addr$([ "$c" = web ] && echo "  (host port 8080 -> port 80)")"
done
web_ip=$(ip -n "$tag-web" -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)

step "4. Containers talk to each other across the bridge"
ip netns exec "$tag-client" ping -c 2 -W 2 "$web_ip" | sed 's/^/   /' | tail -3

step "5. A port-forwarded HTTP request: outside -> 192.168.250.1:8080 -> web:80"
ip netns exec "$tag-web" node -e "require('http').createServer((q,s)=>s.end('hello from the web container ('+q.socket.remoteAddress+' asked)\n')).listen(80)" &
server_pid=$!
sleep 0.7
ip netns exec "$outside" node -e "require('http').get('http://192.168.250.1:8080/',r=>{r.on('data',d=>process.stdout.write('   '+d))}).on('error',e=>{console.error('   request failed: '+e.message);process.exit(1)})"

step "6. The rules tscni created (nat table of the sandbox host)"
in_host iptables-save -t nat | grep -E 'CNI|cni' | sed 's/^/   /'

step "7. tscni check, then tscni del for every container"
for c in "${containers[@]}"; do cni "$tscni" check demo "/run/netns/$tag-$c" && say "$c: CHECK ok"; done
kill "$server_pid" 2>/dev/null || true; server_pid=""
for c in "${containers[@]}"; do cni "$tscni" del demo "/run/netns/$tag-$c"; say "$c: deleted"; done

step "8. Proof that nothing is left"
ports=$(in_host ip -o link show master tscni-demo0 | wc -l)
leases=$(find "$tmp/leases/demo" -maxdepth 1 -type f -name '10.*' | wc -l)
rules=$(in_host iptables-save -t nat | grep -c -E 'id: \\"cnitool-|CNI-DN-' || true)
cache=$(find "$tmp/cache/results" -type f 2>/dev/null | wc -l)
say "veths on the bridge: $ports   leases: $leases   container rules: $rules   cached results: $cache"
if [ "$ports$leases$rules$cache" != "0000" ]; then echo "   something was left behind" >&2; exit 1; fi
say "all clean; the sandbox namespaces are removed on exit"
