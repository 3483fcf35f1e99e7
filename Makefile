# tscni — see README.md. `make test` is the whole check; `make demo` the tour.
SHELL := /bin/bash
PREFIX ?= /opt/cni/bin
CNI_PATH ?= $(CURDIR)/bin
JEST := node --max-old-space-size=4096 node_modules/.bin/jest
APT_PKGS := iproute2 iptables nftables conntrack iputils-ping util-linux procps

VERSION := $(shell node -p "require('./package.json').version" 2>/dev/null || echo 0.0.0)
DIST := dist/tscni-$(VERSION)-linux-amd64

.PHONY: all deps dist sysdeps npmdeps build typecheck lint format unit golden integration conformance test demo bench soak install clean reference

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

npmdeps: node_modules/.package-lock.json

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# One executable, bin/tscni, compiled by Bun from cmd/tscni.ts (Bun's runtime and our bytecode
# inside; needs only glibc on the node); every plugin is a link to it named after the plugin.
BUN_FLAGS := --compile --minify --bytecode --format=esm --splitting --no-compile-autoload-dotenv --no-compile-autoload-bunfig
build: npmdeps
	@mkdir -p bin
	@node_modules/.bin/bun build $(BUN_FLAGS) cmd/tscni.ts --outfile bin/tscni.new >/dev/null
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

integration: npmdeps build
	$(JEST) --selectProjects integration --runInBand

conformance: build
	CNI_PATH=$(CNI_PATH) $(JEST) --selectProjects conformance --runInBand --reporters=default --reporters=./conformance/reporter.js

test: deps build typecheck lint
	$(JEST) --selectProjects unit
	$(JEST) --selectProjects integration --runInBand
	CNI_PATH=$(CURDIR)/bin $(JEST) --selectProjects conformance --runInBand --reporters=default --reporters=./conformance/reporter.js

demo: deps build
	@if [ -x examples/demo.sh ]; then examples/demo.sh; else echo "demo: not yet"; fi

bench: deps build
	../shared/bench/run.py --cni-path bin --compare /usr/lib/cni

# Not part of `make test`: 10,000 chained ADD/DEL cycles in a sandbox of the shared harness (20-30 min
# here); SOAK_ARGS="--cycles 500" for a short one. Figures in README.md (Reliability).
SOAK_ARGS ?=
soak: deps build
	python3 bench/soak.py --cni-path bin --out soak.json $(SOAK_ARGS)

install: build
	install -d $(PREFIX)
	install -m 755 bin/tscni $(PREFIX)/tscni
	for p in $$(bin/tscni plugins); do ln -sfn tscni $(PREFIX)/$$p; done

# The release archive: the executable, its plugin links, LICENSE and SHA256SUMS, in one directory.
dist: build
	@rm -rf $(DIST) $(DIST).tar.gz && mkdir -p $(DIST)
	@cp -P bin/* $(DIST)/ && cp LICENSE $(DIST)/
	@cd $(DIST) && sha256sum tscni LICENSE > SHA256SUMS
	@tar -C dist -czf $(DIST).tar.gz $(notdir $(DIST)) && rm -rf $(DIST)
	@echo "  $(DIST).tar.gz"

# Removes build output and any namespaces our tests left behind (only tscni-t-* names).
clean:
	rm -rf bin build dist
	-@for ns in $$(ip netns list 2>/dev/null | awk '{print $$1}' | grep '^tscni-t-'); do ip netns del $$ns; done
