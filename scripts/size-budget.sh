# shellcheck shell=bash disable=SC2034
# size-budget.sh: the one place the router size budget lives. Sourced by
# dist.sh and bench.sh. Raising it is a decision: change it here, in its
# own commit, saying why.
#
# linux/mipsle (softfloat), stripped (-s -w), -trimpath, empty build ID.
#
# The floor, measured again with scripts/size-floor.sh (which now builds
# its probes with the router gcflags too) on 2026-12-04: the dependencies
# the design fixes take 3,670,173 bytes with nothing of wgstun's in them
# (runtime and os 1.5 MB, net with its dialer and resolver 0.65 MB, wgctrl
# with crypto/ecdh's FIPS P-256 0.7 MB, toml/bpf/unix/nacl/os/exec 0.5 MB).
# wgstun is 4,915,357 bytes with the NAT check, port mapping and path
# checks in. Issue 16's 4,150,000 is not reachable with those dependencies
# as they are: wgctrl's userspace client calls net.Dial and
# net.ResolveUDPAddr (keeping the net dialer and resolver that wgstun's own
# resolver replaces: -196,608 bytes once changed, measured through a local
# replace) and wgtypes imports x/crypto/curve25519, which wraps crypto/ecdh
# (-196,608 more without it, measured the same way), and with both the
# router build is 4,522,141 bytes. The budget stays 4.75 MiB until those
# land upstream.
size_budget=4980736 # 4.75 MiB
