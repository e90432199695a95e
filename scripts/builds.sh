# shellcheck shell=bash disable=SC2034
# builds.sh: the one place that says which optional stores each build
# carries and how the router build is compiled. Sourced by dist.sh,
# bench.sh and the malta guest's build; the Makefile reads full_tags from
# here; packaging/openwrt/test.sh checks that the feed Makefile passes the
# same router_gcflags to the SDK.
#
# router: what the OpenWrt packages and the size budget (size-budget.sh)
#         are about. No tags: the network stores cost 64 KiB (rfc2136) to
#         3.3 MB (cloudflare, opendht: net/http and crypto/tls) on
#         linux/mipsle; routers use the Cloudflare shell plugin instead.
# full:   every store; the Debian, VyOS, macOS and FreeBSD builds.
router_tags=""
full_tags="rfc2136,cloudflare,opendht"

# router_gcflags: no inlining, except in the runtime and the crypto
# packages, where the hot loops are (X25519 field arithmetic, Salsa20,
# Poly1305, memory allocation). Measured on linux/mipsle: 4,980,893 ->
# 4,718,749 bytes (-262,144; all=-l alone: 4,653,213). CPU cost, amd64,
# scripts/scale.sh at 500 peers (CPU s in 30 s of steady state / median
# refresh): inlined 1.71 s / 324 ms, this 1.74 s / 274 ms, all=-l
# 2.26 s / 380 ms; BenchmarkParseResponse 69 -> 85 ns (a few answers per
# refresh). Each -gcflags is one pattern; the last that matches a package
# wins.
router_gcflags="-gcflags=all=-l -gcflags=runtime= -gcflags=crypto/...= -gcflags=golang.org/x/crypto/...="
