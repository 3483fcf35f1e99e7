#!/usr/bin/env bash
# Builds cnitool into $1 (default build/e2e/cnitool) offline, from Debian packages only:
# cnitool.go comes from Debian's source package golang-github-appc-cni (the binary package
# golang-github-appc-cni-dev ships the CNI library but not cnitool), the library from
# golang-github-appc-cni-dev under /usr/share/gocode, the compiler from golang-go; GOPATH mode,
# no module download. apt runs with a private state directory (deb-src lines derived from the
# machine's own deb lines), so the machine's apt configuration is not changed.
set -euo pipefail
out=${1:-build/e2e/cnitool}
work=$(dirname "$out")/cnitool-src
mkdir -p "$work"
work=$(cd "$work" && pwd)
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")

if [ ! -f "$work/cnitool.go" ]; then
  apt="$work/apt"
  mkdir -p "$apt/lists/partial" "$apt/sources.list.d" "$apt/dl"
  : > "$apt/sources.list"
  if [ -f /etc/apt/sources.list ]; then
    sed -n 's/^deb \(.*\)/deb-src \1/p' /etc/apt/sources.list >> "$apt/sources.list"
  fi
  for f in /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] && sed -n 's/^deb \(.*\)/deb-src \1/p' "$f" >> "$apt/sources.list"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && sed 's/^Types:.*/Types: deb-src/' "$f" > "$apt/sources.list.d/$(basename "$f")"
  done
  opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/sources.list.d"
    -o "Dir::State::Lists=$apt/lists" -o "APT::Sandbox::User=root" -o "Debug::NoLocking=1")
  apt-get "${opts[@]}" -qq update
  (cd "$apt/dl" && apt-get "${opts[@]}" -qq source --download-only golang-github-appc-cni >/dev/null)
  tar -xf "$apt"/dl/golang-github-appc-cni_*.orig.tar.* -C "$work" --wildcards --strip-components=2 '*/cnitool/cnitool.go'
  rm -rf "$apt"
fi

gopath="$work/gopath"
mkdir -p "$gopath/src/cnitool"
cp "$work/cnitool.go" "$gopath/src/cnitool/"
cd "$gopath/src/cnitool"
GO111MODULE=off GOFLAGS= GOPATH="$gopath:/usr/share/gocode" GOCACHE="$work/gocache" CGO_ENABLED=0 \
  go build -o "$out" .
rm -rf "$work/gocache"
echo "built $out ($(go version | awk '{print $3}'), CNI library $(dpkg-query -W -f='${Version}' golang-github-appc-cni-dev))"
