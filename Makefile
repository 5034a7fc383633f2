# podnet: every workflow in one place. `make help` lists the targets.

SHELL := /bin/bash
# sudo resets PATH; find the Go toolchain where the official installer puts it.
GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
PKG := github.com/podnet/podnet
LDFLAGS := -s -w -X $(PKG)/pkg/buildinfo.Version=$(VERSION)
PLUGINS := $(sort $(dir $(wildcard plugins/main/*/main.go plugins/ipam/*/main.go plugins/meta/*/main.go)))
BIN_DIR := bin
TOOLS_BIN := $(CURDIR)/.tools/bin
CNI_BIN_DIR ?= /opt/cni/bin
CNI_CONF_DIR ?= /etc/cni/net.d
CNITOOL_VERSION := v1.3.1
STATICCHECK_VERSION := 2025.1.1
# System packages the suite and its tests need: command -> Debian package.
DEPS := ip:iproute2 bridge:iproute2 iptables:iptables nft:nftables ping:iputils-ping \
	ethtool:ethtool conntrack:conntrack socat:socat iperf3:iperf3 nsenter:util-linux unshare:util-linux
TEST_FLAGS ?= -count=1
export PODNET_BIN_DIR := $(CURDIR)/$(BIN_DIR)
export PODNET_TOOLS_DIR := $(TOOLS_BIN)


.PHONY: help build deps test test-unit test-privileged test-integration install install-conf \
	lint release clean demo demo-clean bench check-root

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

build: ## build every plugin into bin/ (static, stripped, versioned)
	@mkdir -p $(BIN_DIR)
	@for p in $(PLUGINS); do \
		CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN_DIR)/$$(basename $$p) ./$$p || exit 1; \
	done
	@echo "built $(words $(PLUGINS)) plugins into $(BIN_DIR)/ (version $(VERSION))"

deps: ## install the system packages and test tools the suite needs (apt-get as root)
	@missing=""; for d in $(DEPS); do \
		command -v $${d%%:*} >/dev/null 2>&1 || missing="$$missing $${d##*:}"; \
	done; \
	missing=$$(echo $$missing | tr ' ' '\n' | sort -u | tr '\n' ' '); \
	if [ -n "$${missing// /}" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing:$$missing"; \
			DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
		else \
			echo "missing system packages; install them with:"; \
			echo "  sudo apt-get install -y$$missing"; exit 1; \
		fi; \
	fi
	@test -x $(TOOLS_BIN)/cnitool || { echo "installing cnitool $(CNITOOL_VERSION) into .tools/bin"; \
		GOBIN=$(TOOLS_BIN) $(GO) install github.com/containernetworking/cni/cnitool@$(CNITOOL_VERSION); }

test: check-root deps test-unit test-privileged test-integration ## all three tiers (needs root)

check-root:
	@if [ "$$(id -u)" != 0 ]; then echo "make test needs root for the privileged and integration tiers: sudo make test"; exit 1; fi

test-unit: ## unit tests: no root, fakes and goldens
	$(GO) test $(TEST_FLAGS) -skip '^TestPrivileged' ./pkg/... ./plugins/... ./bench/...

test-privileged: bench-reference ## TestPrivileged... tests, each in a fresh network namespace (root)
	PODNET_REQUIRE_PRIVILEGED=1 $(GO) test $(TEST_FLAGS) -run '^TestPrivileged' ./pkg/... ./plugins/... ./bench/...

test-integration: build ## built binaries through libcni and cnitool (root)
	PODNET_REQUIRE_PRIVILEGED=1 $(GO) test $(TEST_FLAGS) -timeout 20m ./integration/...

# Fuzzing: every Fuzz target for FUZZTIME each (go test -fuzz takes one
# target at a time). The seed corpora (testdata/fuzz) already run in test-unit.
FUZZTIME ?= 20s
.PHONY: test-fuzz
test-fuzz: ## run every fuzz target for FUZZTIME (default 20s) each; no root
	@set -e; for pkg in $$($(GO) list ./pkg/... ./plugins/...); do \
		for fz in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$fz ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$fz$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

install: build ## copy the plugins to $(DESTDIR)$(CNI_BIN_DIR)
	install -d $(DESTDIR)$(CNI_BIN_DIR)
	install -m 0755 $(BIN_DIR)/* $(DESTDIR)$(CNI_BIN_DIR)/

install-conf: ## copy conf/ examples to $(DESTDIR)$(CNI_CONF_DIR), never overwriting
	install -d $(DESTDIR)$(CNI_CONF_DIR)
	@for f in conf/*.conflist; do \
		dst=$(DESTDIR)$(CNI_CONF_DIR)/$$(basename $$f); \
		if [ -e $$dst ]; then echo "keep existing $$dst"; else install -m 0644 $$f $$dst && echo "installed $$dst"; fi; \
	done

lint: ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@test -x $(TOOLS_BIN)/staticcheck || GOBIN=$(TOOLS_BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(TOOLS_BIN)/staticcheck ./...

release: build ## dist/podnet-linux-amd64-$(VERSION).tgz and its .sha256
	@mkdir -p dist/stage
	cp $(BIN_DIR)/* LICENSE README.md dist/stage/
	tar -C dist/stage -czf dist/podnet-linux-amd64-$(VERSION).tgz --owner=0 --group=0 .
	cd dist && sha256sum podnet-linux-amd64-$(VERSION).tgz > podnet-linux-amd64-$(VERSION).tgz.sha256
	rm -rf dist/stage
	@echo "dist/podnet-linux-amd64-$(VERSION).tgz"

demo: deps build ## a three-node pod network through libcni, checked and torn down (DEMO_ARGS=--keep to explore)
	@$(GO) build -o $(BIN_DIR)/.podnet-demo ./integration/cmd/podnet-demo
	PODNET_BIN_DIR=$(CURDIR)/$(BIN_DIR) $(BIN_DIR)/.podnet-demo $(DEMO_ARGS)

demo-clean: ## remove a cluster left by `make demo DEMO_ARGS=--keep`
	@for n in $$(ip netns list | awk '/^podnet-demo-/{print $$1}'); do ip netns del $$n && echo "deleted netns $$n"; done
	rm -rf /tmp/podnet-demo

# Benchmark: ours vs the reference plugins, side by side (bench/, BENCHMARKS.md).
REFERENCE_DIR := $(CURDIR)/.cache/reference/bin
BENCH_BIN := $(CURDIR)/.cache/podnet-bench
BENCH_ARGS ?=
.PHONY: bench-reference

bench-reference: ## install the reference plugins v1.9.1 into .cache/reference/bin once, built like ours
	@mkdir -p $(dir $(BENCH_BIN))
	@$(GO) build -o $(BENCH_BIN) ./bench/cmd/podnet-bench
	$(BENCH_BIN) -install-reference -reference $(REFERENCE_DIR)

bench: deps build bench-reference ## ours vs reference, interleaved, as ratios (root; BENCH_ARGS="-pods 250 -json bench.json")
	$(BENCH_BIN) -ours $(CURDIR)/$(BIN_DIR) -reference $(REFERENCE_DIR) $(BENCH_ARGS)

clean: ## remove build outputs
	rm -rf $(BIN_DIR) dist
