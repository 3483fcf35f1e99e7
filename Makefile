# tscni — see README.md. `make test` is the whole check; `make demo` the tour.
SHELL := /bin/bash
PREFIX ?= /opt/cni/bin
CNI_PATH ?= $(CURDIR)/bin
JEST := node --max-old-space-size=4096 node_modules/.bin/jest
APT_PKGS := iproute2 iptables nftables conntrack iputils-ping util-linux procps

VERSION := $(shell node -p "require('./package.json').version" 2>/dev/null || echo 0.0.0)
DIST := dist/tscni-$(VERSION)-linux-amd64

IMAGE_REF ?= localhost/tscni:$(VERSION)

.PHONY: all deps dist image sysdeps npmdeps testdeps e2edeps build typecheck lint format unit golden integration conformance e2e test fuzz demo bench bench-bandwidth bench-dns bench-report benchdeps soak install clean reference

all: build

# Installs what the project needs on a fresh Debian machine, and nothing that is already there.
# Each entry is program:Debian package (a program is looked up on PATH, an absolute path must exist).
SYS_PROGRAMS := ip:iproute2 iptables:iptables nft:nftables conntrack:conntrack ping:iputils-ping \
  nsenter:util-linux sysctl:procps
# What the test suites start besides those, installed by `make testdeps` before the first suite
# runs. lib/testutil/programs.ts is the same list (tests ask for programs through it), and
# lib/testutil/programs.test.ts fails when the two part.
TEST_PROGRAMS := $(SYS_PROGRAMS) bridge:iproute2 tc:iproute2 iptables-restore:iptables iptables-save:iptables \
  ip6tables:iptables unshare:util-linux setpriv:util-linux flock:util-linux lslocks:util-linux fallocate:util-linux prlimit:util-linux \
  ps:procps openssl:openssl tcpdump:tcpdump mkfifo:coreutils dnsmasq:dnsmasq-base dbus-daemon:dbus-daemon /usr/lib/cni/bridge:containernetworking-plugins \
  /usr/lib/cni/dhcp:containernetworking-plugins \
  containerd:containerd ctr:containerd runc:runc podman:podman /bin/busybox:busybox-static \
  go:golang-go xz:xz-utils perl:perl-base \
  /usr/share/gocode/src/github.com/containernetworking/cni/libcni/api.go:golang-github-appc-cni-dev \
  /usr/lib/cni/dnsname:golang-github-containernetworking-plugin-dnsname \
  podman-compose:podman-compose

# apt-get only for the packages whose program is missing.
define install_missing
	@missing=""; \
	for e in $(1); do \
	  p=$${e%%:*}; pkg=$${e##*:}; \
	  case $$p in /*) [ -e $$p ] ;; *) command -v $$p >/dev/null 2>&1 ;; esac || missing="$$missing $$pkg"; \
	done; \
	missing=$$(echo $$missing | tr ' ' '\n' | sort -u | tr '\n' ' '); \
	if [ -n "$${missing// /}" ]; then \
	  echo "installing: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

deps: sysdeps npmdeps

sysdeps:
	$(call install_missing,$(SYS_PROGRAMS))

# Everything any suite of `make test` needs: containerd + runc (ctr and CRI), podman, busybox-static
# (the container image), Go and the CNI library's source (cnitool), xz (Debian's source tarballs),
# the reference plugins (differential tests), openssl (the installer's test PKI), dnsmasq (the DHCP
# server of the dhcp plugin's tests, the dnsname plugin's resolver), podman-compose (dnsname e2e).
testdeps: npmdeps
	$(call install_missing,$(TEST_PROGRAMS))

# The former name of testdeps.
e2edeps: testdeps

# cnitool, built once from Debian's packages (offline, GOPATH mode) and kept in build/e2e/.
build/e2e/cnitool: e2e/build-cnitool.sh | testdeps
	e2e/build-cnitool.sh $@

npmdeps: node_modules/.package-lock.json

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# One executable, bin/tscni, compiled by Bun from cmd/tscni.ts (Bun's runtime and our bytecode
# inside; needs only glibc on the node); every plugin is a link to it named after the plugin.
BUN_FLAGS := --compile --minify --bytecode --format=esm --splitting --no-compile-autoload-dotenv --no-compile-autoload-bunfig \
  --compile-jit-policy=100
build: npmdeps
	@mkdir -p bin
	@mkdir -p build
	@node_modules/.bin/bun build $(BUN_FLAGS) cmd/tscni.ts --outfile bin/tscni.new --metafile=build/tscni.meta.json >/dev/null
	@mv -f bin/tscni.new bin/tscni
	@for p in $$(bin/tscni plugins); do ln -sfn tscni bin/$$p; done
	@ls -l bin | awk 'NR>1 {printf "  bin/%-12s %s\n", $$9, ($$1 ~ /^l/ ? "-> " $$11 : $$5 " bytes")}'

typecheck: npmdeps
	node_modules/.bin/tsc --noEmit -p .

# prettier (formatting) and eslint (TypeScript rules); `make format` rewrites what prettier would change.
lint: npmdeps
	node_modules/.bin/prettier --check --log-level warn .
	node_modules/.bin/eslint .

format: npmdeps
	node_modules/.bin/prettier --write --log-level warn .

unit: npmdeps
	$(JEST) --selectProjects unit

# Rewrites every golden file (firewall text, verb plans) from what the code produces now.
golden: npmdeps
	UPDATE_GOLDEN=1 $(JEST) --selectProjects unit

integration: testdeps build
	$(JEST) --selectProjects integration --runInBand

conformance: testdeps build
	CNI_PATH=$(CNI_PATH) $(JEST) --selectProjects conformance --runInBand --reporters=default --reporters=./conformance/reporter.js

# Real runtimes (cnitool, ctr run --cni, podman, containerd CRI) drive bin/, each in its own sandbox.
e2e: testdeps build build/e2e/cnitool
	$(JEST) --selectProjects e2e --runInBand --reporters=default --reporters=./e2e/reporter.js

# Everything installed and built (cnitool included) before the first suite starts.
test: testdeps build build/e2e/cnitool typecheck lint
	$(JEST) --selectProjects unit
	$(JEST) --selectProjects integration --runInBand
	CNI_PATH=$(CURDIR)/bin $(JEST) --selectProjects conformance --runInBand --reporters=default --reporters=./conformance/reporter.js
	$(JEST) --selectProjects e2e --runInBand --reporters=default --reporters=./e2e/reporter.js

# The hostile-input fuzzer (lib/testutil/fuzz.ts) for FUZZ_SECONDS (an hour), nice'd, in its own
# sandbox; `make test` runs it briefly (25 calls). FUZZ_SEED=<n> replays a run (FUZZ_PATH=<i> its
# call i alone). FUZZ_LOG=<file> logs each call and how the run ended; jest's exit status is added
# here, as nothing inside the process hears a SIGKILL (128+9: the OOM killer, say).
FUZZ_SECONDS ?= 3600
fuzz: testdeps build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) nice -n 10 $(JEST) --selectProjects integration --runInBand --runTestsByPath lib/cni/fuzz.int.test.ts; \
	  status=$$?; \
	  if [ -n "$$FUZZ_LOG" ]; then echo "$$(date -u +%Y-%m-%dT%H:%M:%SZ) make fuzz: jest exited with status $$status" >>"$$FUZZ_LOG"; fi; \
	  exit $$status

demo: deps build
	@if [ -x examples/demo.sh ]; then examples/demo.sh; else echo "demo: not yet"; fi

bench: deps build
	../shared/bench/run.py --cni-path bin --compare /usr/lib/cni

# bandwidth chained after bridge, ours vs the reference, on the same harness (bench/bandwidth.py).
bench-bandwidth: deps build
	python3 bench/bandwidth.py --cni-path bin --compare /usr/lib/cni $(BENCH_ARGS)

# Every run behind README's Performance section (bench/report.sh), into bench-out/.
bench-report: deps build benchdeps
	sh bench/report.sh

# tscni's chain with dnsname against netavark + aardvark-dns 1.4 (setup/teardown, query latency), in a sandbox.
bench-dns: deps build benchdeps
	python3 bench/dns.py --iterations 20

# What the benchmarks start besides the plugins: podman's own network stack (netavark and aardvark-dns
# 1.4), the reference plugins, hyperfine (scenario f, bench/links.sh) and GNU time (bench/memory.py).
benchdeps:
	$(call install_missing,/usr/lib/podman/netavark:netavark /usr/lib/podman/aardvark-dns:aardvark-dns /usr/lib/cni/bridge:containernetworking-plugins hyperfine:hyperfine /usr/bin/time:time)

# Not part of `make test`: 10,000 chained ADD/DEL cycles in a sandbox of the shared harness (20-30 min
# here); SOAK_ARGS="--cycles 500" for a short one. Figures in README.md (Reliability).
SOAK_ARGS ?=
soak: deps build
	python3 bench/soak.py --cni-path bin --out soak.json $(SOAK_ARGS)

# Through the installer: atomic (temp file, fsync, rename), so a running node can be upgraded in place.
install: build
	bin/tscni install --no-conflist --bin-dir $(abspath $(PREFIX))

# The release archive: the executable, its plugin links, LICENSE and SHA256SUMS, in one directory.
dist: build
	@rm -rf $(DIST) $(DIST).tar.gz && mkdir -p $(DIST)
	@cp -P bin/* $(DIST)/ && cp LICENSE $(DIST)/
	@cd $(DIST) && sha256sum tscni LICENSE > SHA256SUMS
	@tar -C dist -czf $(DIST).tar.gz $(notdir $(DIST)) && rm -rf $(DIST)
	@echo "  $(DIST).tar.gz"

# The installer image, offline: dist/tscni-image.tar (OCI layout + Docker manifest) holding bin/tscni,
# its plugin links, nft, iptables in both modes (the watcher's repairs; lib/deploy/iptables-mode.ts)
# and exactly the shared libraries ldd names (lib/deploy/image.ts).
# The programs are looked up in /usr/sbin and /sbin too: a non-root user's PATH on Debian lacks them.
image: build
	@mkdir -p dist
	@p="$$PATH:/usr/sbin:/sbin"; \
	nft=$$(PATH="$$p" command -v nft) || { echo "make image: needs nft (apt-get install nftables)"; exit 1; }; \
	xnft=$$(PATH="$$p" command -v xtables-nft-multi) && xlegacy=$$(PATH="$$p" command -v xtables-legacy-multi) || \
	  { echo "make image: needs xtables-nft-multi and xtables-legacy-multi (apt-get install iptables)"; exit 1; }; \
	node_modules/.bin/bun cmd/mkimage.ts --exe bin/tscni --ref $(IMAGE_REF) --nft "$$nft" \
	  --xtables-nft "$$xnft" --xtables-legacy "$$xlegacy" --out dist/tscni-image.tar

# Removes build output and any namespaces our tests left behind (only tscni-t-* names).
clean:
	rm -rf bin build dist
	-@for ns in $$(ip netns list 2>/dev/null | awk '{print $$1}' | grep '^tscni-t-'); do ip netns del $$ns; done
