# wgstun build, test and release entry points. `make help` lists them.

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GO      ?= go
BIN     ?= bin/wgstun
LDFLAGS := -s -w -buildid= -X main.version=$(VERSION)
GOFLAGS_REPRO := -trimpath -buildvcs=false

export CGO_ENABLED ?= 0

.PHONY: help build test unit e2e demo bench vet fuzz dist clean

help:
	@echo "make build   build $(BIN) for this machine"
	@echo "make test    every test: unit, fuzz seeds, lab and end-to-end (root for the lab)"
	@echo "make demo    NAT lab demo: two NATed WireGuard peers connect through wgstun (root)"
	@echo "make bench   connect time, binary sizes and RSS, as tables (root)"
	@echo "make vet     go vet for linux, darwin, freebsd and windows"
	@echo "make fuzz    run each fuzzer for FUZZTIME (default 20s)"
	@echo "make dist    release binaries (stub until the packaging issue lands)"

build:
	$(GO) build $(GOFLAGS_REPRO) -ldflags '$(LDFLAGS)' -o $(BIN) ./src

# The test command the README and CI use.
test: vet
	$(GO) test -count=1 -timeout 40m ./...

unit:
	$(GO) test -count=1 -short ./...

e2e:
	$(GO) test -count=1 -timeout 40m -v ./src/e2e/

demo: build
	bash scripts/demo.sh $(BIN)

bench: build
	bash scripts/bench.sh $(BIN)

vet:
	@for os in linux darwin freebsd windows; do \
		echo "go vet GOOS=$$os"; \
		GOOS=$$os $(GO) vet ./... || exit 1; \
	done
	@test -z "$$(gofmt -l src linuxraw bsdbpf scripts 2>/dev/null)" || { gofmt -l src linuxraw bsdbpf scripts; echo "gofmt needed"; exit 1; }
	@if command -v shellcheck >/dev/null; then echo "shellcheck scripts"; shellcheck -x scripts/*.sh scripts/lab/*.sh; \
	else echo "shellcheck missing (scripts/deps.sh installs it)"; exit 1; fi

FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

dist:
	@echo "make dist: the release matrix and packages come with the packaging issue"; exit 1

clean:
	rm -rf bin dist
