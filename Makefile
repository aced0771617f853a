# Every developer and CI entry point. `make help` lists them.
#
# Long tool builds (InfluxDB, FerretDB, staticcheck) are cached outside the clone,
# under $(XDG_CACHE_HOME)/smartx-overcloud, keyed by version: see .ci/tools.sh.

SHELL := /bin/bash
GO ?= go
export XDG_CACHE_HOME ?= $(HOME)/.cache
TOOLS_BIN := $(XDG_CACHE_HOME)/smartx-overcloud/tools/bin
export SMARTX_TOOLS_BIN := $(TOOLS_BIN)
# Integration tests start real servers; give a loaded 2-core machine room.
TEST_TIMEOUT ?= 30m
FUZZTIME ?= 15s

.PHONY: help demo test tools lint unit bench bench-energy fuzz build clean
# The conformance test runs as its own step of `make test` (make e2e, see components.mk).
UNIT_PKGS = $(shell $(GO) list ./... | grep -v '/stacks/e2e$$')

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

# DEMO_ARGS are the demo's flags, e.g. make demo DEMO_ARGS="-pis 2 -devices 100".
# The demo runs as its own binary, not under go run, so that Ctrl-C reaches it and its
# clean stop is what make reports.
demo: tools ## run the whole service locally (servers, hub, sender, firmware Pis, simulated devices) until Ctrl-C
	@$(GO) build -o dist/demo ./functions/devtools/demo
	./dist/demo $(DEMO_ARGS)

test: tools lint unit e2e ## everything CI runs: tools, lint, all tests, the Kubernetes conformance test

tools: ## build or find the servers and linters the tests need (cached by version)
	@bash .ci/tools.sh all

lint: tools ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l .); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(TOOLS_BIN)/staticcheck ./...

unit: tools ## all Go tests (unit, integration against real servers, end to end, fuzz seeds)
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(UNIT_PKGS)

bench: tools ## measure the data path and print the table for the README
	$(GO) run ./functions/devtools/bench

# BENCH_ENERGY_ARGS are benchenergy's flags, e.g. make bench-energy BENCH_ENERGY_ARGS="-days 60".
bench-energy: ## simulate a year of the server room per set-point policy and print the energy table for the README
	$(GO) run ./functions/devtools/benchenergy $(BENCH_ENERGY_ARGS)

fuzz: ## run every fuzz target for FUZZTIME each
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

build: ## build the function binaries into dist/
	CGO_ENABLED=0 $(GO) build -trimpath -o dist/ ./functions/hubbridge ./functions/sender ./functions/inference ./functions/trainer ./functions/controller ./functions/dashboard

clean: ## remove build output (the tool cache stays)
	rm -rf dist .demo

# The Raspberry Pi firmware's targets (firmware, flash, bench-firmware) live beside it.
-include device/device.mk
# The Pulumi components' and stacks' targets (e2e, images, up, destroy).
-include components/components.mk
