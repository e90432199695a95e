# shellcheck shell=bash disable=SC2034
# builds.sh: the one place that says which optional stores each build
# carries. Sourced by dist.sh; the Makefile reads full_tags from here.
#
# router: what the OpenWrt packages and the size budget (size-budget.sh)
#         are about. No tags: the network stores cost 64 KiB (rfc2136) to
#         3.3 MB (cloudflare, opendht: net/http and crypto/tls) on
#         linux/mipsle; routers use the Cloudflare shell plugin instead.
# full:   every store; the Debian, VyOS, macOS and FreeBSD builds.
router_tags=""
full_tags="rfc2136,cloudflare,opendht"
