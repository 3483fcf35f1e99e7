# tscni — see README.md. `make test` is the whole check; `make demo` the tour.
SHELL := /bin/bash
PLUGINS := bridge host-local portmap
TOOLS := tscni
PREFIX ?= /opt/cni/bin
CNI_PATH ?= $(CURDIR)/bin
JEST := node --max-old-space-size=4096 node_modules/.bin/jest
APT_PKGS := iproute2 iptables nftables conntrack iputils-ping util-linux procps

.PHONY: all deps sysdeps npmdeps e2edeps build typecheck lint format unit integration conformance e2e test demo bench install clean reference

all: build

# Installs what the project needs on a fresh Debian machine, and nothing that is already there.
deps: sysdeps npmdeps

sysdeps:
	@missing=""; \
	for c in ip:iproute2 iptables:iptables nft:nftables conntrack:conntrack ping:iputils-ping nsenter:util-linux sysctl:procps; do \
	  command -v $${c%%:*} >/dev/null 2>&1 || missing="$$missing $${c##*:}"; \
	done; \
	if [ ! -x /usr/lib/cni/bridge ]; then missing="$$missing containernetworking-plugins"; fi; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# What `make e2e` drives: containerd + runc (ctr and CRI), podman, busybox-static (the container
# image), Go and the CNI library's source (cnitool), xz (Debian's source tarballs). Same rule as
# sysdeps: apt-get only when something is missing.
e2edeps: sysdeps
	@missing=""; \
	for c in containerd:containerd ctr:containerd runc:runc podman:podman go:golang-go xz:xz-utils perl:perl-base; do \
	  command -v $${c%%:*} >/dev/null 2>&1 || missing="$$missing $${c##*:}"; \
	done; \
	dpkg-query -W -f='$${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || missing="$$missing busybox-static"; \
	if [ ! -f /usr/share/gocode/src/github.com/containernetworking/cni/libcni/api.go ]; then missing="$$missing golang-github-appc-cni-dev"; fi; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# cnitool, built once from Debian's packages (offline, GOPATH mode) and kept in build/e2e/.
build/e2e/cnitool: e2e/build-cnitool.sh | e2edeps
	e2e/build-cnitool.sh $@

npmdeps: node_modules/.package-lock.json

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Each plugin: ncc bundle, then code-cache packs it with V8's code cache into bin/<plugin>.
build: npmdeps
	@mkdir -p bin build/ncc
	@node_modules/.bin/tsc --outDir build/tools --rootDir lib/build --module commonjs --moduleResolution node --target es2022 --strict --skipLibCheck --types node lib/build/code-cache-main.ts
	@for p in $(PLUGINS); do \
	  node_modules/.bin/ncc build plugins/$$p/main.ts -o build/ncc/$$p -m -q --no-source-map-register || exit 1; \
	  node build/tools/code-cache-main.js pack $$p build/ncc/$$p/index.js bin/$$p || exit 1; \
	done
	@for t in $(TOOLS); do \
	  if [ -f lib/runtime/cli.ts ]; then \
	    node_modules/.bin/ncc build lib/runtime/cli.ts -o build/ncc/$$t -m -q --no-source-map-register || exit 1; \
	    cp build/ncc/$$t/index.js bin/$$t && chmod 755 bin/$$t; \
	  fi; \
	done
	@ls -l bin | awk 'NR>1 {printf "  bin/%-12s %7d bytes\n", $$9, $$5}'

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

integration: npmdeps build
	$(JEST) --selectProjects integration --runInBand

conformance: build
	CNI_PATH=$(CNI_PATH) $(JEST) --selectProjects conformance --runInBand --reporters=default --reporters=./conformance/reporter.js

# Real runtimes (cnitool, ctr run --cni, podman, containerd CRI) drive bin/, each in its own sandbox.
e2e: npmdeps e2edeps build build/e2e/cnitool
	$(JEST) --selectProjects e2e --runInBand --reporters=default --reporters=./e2e/reporter.js

test: deps build typecheck lint
	$(JEST) --selectProjects unit
	$(JEST) --selectProjects integration --runInBand
	CNI_PATH=$(CURDIR)/bin $(JEST) --selectProjects conformance --runInBand --reporters=default --reporters=./conformance/reporter.js
	$(MAKE) --no-print-directory e2e

demo: deps build
	@if [ -x examples/demo.sh ]; then examples/demo.sh; else echo "demo: not yet"; fi

bench: deps build
	../shared/bench/run.py --cni-path bin --compare /usr/lib/cni

install: build
	install -d $(PREFIX)
	for p in $(PLUGINS); do install -m 755 bin/$$p $(PREFIX)/$$p; done

# Removes build output and any namespaces our tests left behind (only tscni-t-* names).
clean:
	rm -rf bin build
	-@for ns in $$(ip netns list 2>/dev/null | awk '{print $$1}' | grep '^tscni-t-'); do ip netns del $$ns; done
