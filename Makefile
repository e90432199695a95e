# wgstun build, test and release entry points. `make help` lists them.

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GO      ?= go
BIN     ?= bin/wgstun
LDFLAGS := -s -w -buildid= -X main.version=$(VERSION)
GOFLAGS_REPRO := -trimpath -buildvcs=false
MODULE  := github.com/wgstun/wgstun
GOIMPORTS ?= $(shell $(GO) env GOPATH)/bin/goimports

export CGO_ENABLED ?= 0

# The optional network stores, each behind its own build tag; the "full"
# build has them all (scripts/builds.sh says which build carries what).
FULL_TAGS := $(shell . ./scripts/builds.sh && echo $$full_tags)

.PHONY: help build test unit e2e demo bench vet cross crosstest vmtest fuzz dist packages package-test clean

help:
	@echo "make build   build $(BIN) for this machine"
	@echo "make test    every test: unit, fuzz seeds, lab and end-to-end (root for the lab)"
	@echo "make demo    NAT lab demo: two NATed WireGuard peers connect through wgstun (root)"
	@echo "make bench   connect time, binary sizes and RSS, as tables (root)"
	@echo "make vet     go vet for linux, darwin, freebsd and windows, gofmt, goimports, shellcheck"
	@echo "make cross   compile the daemon for every target (FreeBSD with cgo when FREEBSD_CC is set)"
	@echo "make crosstest  unit tests on mipsle, mips, arm (v7, v5), arm64, 386 under qemu, and a mipsel kernel-WireGuard guest (root)"
	@echo "make vmtest  the end-to-end suite on kernel WireGuard in an x86_64 qemu guest (root)"
	@echo "make fuzz    run each fuzzer for FUZZTIME (default 20s)"
	@echo "make dist    release binaries for every target, SHA256SUMS, size budget check"
	@echo "make packages VERSION=1.2.3  .deb (Debian, VyOS), .ipk and .apk (OpenWrt) from dist/"
	@echo "make package-test  the packaging tests (part of make test; VyOS reads ../shared/vyos)"

build:
	$(GO) build $(GOFLAGS_REPRO) -ldflags '$(LDFLAGS)' -o $(BIN) ./src/cmd/wgstun

# The test command the README and CI use. `packages` builds the release
# matrix first (which fails when linux/mipsle is over the size budget), then
# every package from those binaries. It ends with a table of what ran where
# (scripts/testreport.sh) and a closing "N passed, N failed" line.
test: export WGSTUN_TESTREPORT=1
test: vet
	@bash scripts/testreport.sh reset
	$(MAKE) --no-print-directory packages VERSION=0.0.0
	@bash scripts/testreport.sh gotest "host amd64, wireguard-go" "every package" -- -count=1 -timeout 40m ./...
	@bash scripts/testreport.sh gotest "host amd64" "main package, full build" -- -count=1 -tags $(FULL_TAGS) ./src/cmd/wgstun/
	$(MAKE) --no-print-directory package-test
	$(MAKE) --no-print-directory crosstest
	$(MAKE) --no-print-directory vmtest
	@bash scripts/testreport.sh print

unit:
	$(GO) test -count=1 -short ./...

e2e:
	$(GO) test -count=1 -timeout 40m -v ./src/internal/e2e/

demo: build
	bash scripts/demo.sh $(BIN)

bench: build
	bash scripts/bench.sh $(BIN)

vet:
	@for os in linux darwin freebsd windows; do \
		echo "go vet GOOS=$$os"; \
		GOOS=$$os $(GO) vet ./... || exit 1; \
		GOOS=$$os $(GO) vet -tags $(FULL_TAGS) ./src/cmd/wgstun/ || exit 1; \
	done
	@test -z "$$(gofmt -l src linuxraw bsdbpf 2>/dev/null)" || { gofmt -l src linuxraw bsdbpf; echo "gofmt needed"; exit 1; }
	@test -x "$(GOIMPORTS)" || { echo "goimports missing (scripts/deps.sh installs it)"; exit 1; }
	@echo "goimports -local $(MODULE)"; test -z "$$($(GOIMPORTS) -local $(MODULE) -l src linuxraw bsdbpf)" || { $(GOIMPORTS) -local $(MODULE) -l src linuxraw bsdbpf; echo "goimports needed: $(GOIMPORTS) -local $(MODULE) -w FILE"; exit 1; }
	@if command -v shellcheck >/dev/null; then echo "shellcheck scripts"; shellcheck -x scripts/*.sh scripts/lab/*.sh scripts/vm/*.sh $$(ls plugins/*.sh 2>/dev/null); \
	else echo "shellcheck missing (scripts/deps.sh installs it)"; exit 1; fi

# Every target of the build matrix must compile. FreeBSD's release build
# links wgctrl with cgo, which needs a FreeBSD C toolchain: set FREEBSD_CC
# (for example clang --target=x86_64-unknown-freebsd14 --sysroot=/path) to
# build it; without one the cgo-off FreeBSD build stands in and the target
# says so.
CROSS := linux/mipsle linux/arm linux/arm64 linux/amd64 darwin/amd64 darwin/arm64 freebsd/amd64 freebsd/arm64
cross:
	@for t in $(CROSS); do \
		echo "go build $$t (cgo off)"; \
		GOOS=$${t%/*} GOARCH=$${t#*/} GOMIPS=softfloat GOARM=7 CGO_ENABLED=0 $(GO) build $(GOFLAGS_REPRO) -o /dev/null ./src/cmd/wgstun || exit 1; \
	done
	@if [ -n "$(FREEBSD_CC)" ]; then \
		echo "go build freebsd/amd64 (cgo on, CC=$(FREEBSD_CC))"; \
		GOOS=freebsd GOARCH=amd64 CGO_ENABLED=1 CC="$(FREEBSD_CC)" $(GO) build $(GOFLAGS_REPRO) -o /dev/null ./src/cmd/wgstun || exit 1; \
	else \
		echo "freebsd cgo build not run: FREEBSD_CC is not set (no FreeBSD cross toolchain here)"; \
	fi

FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

# The release matrix: stripped, reproducible binaries and SHA256SUMS in
# dist/, and the router size budget (scripts/size-budget.sh) checked.
dist:
	VERSION=$(VERSION) bash scripts/dist.sh dist

# Every package from dist/ into dist/packages (VERSION must be a release
# number such as 1.2.3).
packages: dist
	VERSION=$(VERSION) bash scripts/packages.sh dist dist/packages

# The packaging tests, one script per platform (part of `make test`).
package-test:
	@for t in packaging/*/test.sh scripts/reproducible.sh; do \
		echo "== $$t"; start=$$(date +%s); rc=0; bash $$t || rc=$$?; \
		if [ -n "$$WGSTUN_TESTREPORT" ]; then bash scripts/testreport.sh add "host amd64" "$$t" $$((rc == 0)) $$((rc != 0)) $$(($$(date +%s) - start)); fi; \
		[ $$rc -eq 0 ] || exit $$rc; \
	done

# The unit tests of every package that needs no real kernel, on the routers'
# CPUs under qemu user mode, then the mipsel guest: Debian's malta kernel
# running the packages that need one and a kernel-WireGuard NAT pair with
# the mipsle daemon.
crosstest:
	bash scripts/crosstest.sh
	bash scripts/vm/malta.sh

# The NAT lab's end-to-end suite on kernel WireGuard, in an x86_64 guest
# booting Debian's kernel (the host's root mounted read-only over 9p).
vmtest:
	bash scripts/vm/vmtest.sh

clean:
	rm -rf bin dist
