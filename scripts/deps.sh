#!/usr/bin/env bash
# Installs what building, the NAT lab, the demo and the tests need on Debian
# (bookworm or later), as root. Go itself must be 1.26 or newer: Debian
# bookworm's golang package is too old, so it is checked, not installed.
set -euo pipefail

need_go="1.26"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: run as root (it uses apt-get)" >&2
	exit 1
fi

pkgs=(make git ca-certificates iproute2 iputils-ping nftables conntrack coturn
	wireguard-go wireguard-tools procps psmisc shellcheck knot knot-dnsutils bind9 dhtnode curl miniupnpd-nftables
	ruby libxml2-utils busybox dpkg systemd python3 debootstrap lintian man-db # packaging tests
	qemu-system-x86 qemu-system-mips qemu-user-static cpio xz-utils binutils) # the last line: kernel WireGuard VM and cross-arch tests
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "deps.sh: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts these as services where systemd runs; the tests start their
# own, inside network namespaces, and need none on the host.
for svc in coturn knot named dhtnode; do
	if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
		systemctl stop "$svc" || true
	fi
done

PATH=$PATH:/usr/local/go/bin
if ! command -v go >/dev/null; then
	echo "deps.sh: Go $need_go or newer is required; install it from the Go project's download page into /usr/local/go" >&2
	exit 1
fi
have=$(go env GOVERSION | sed 's/^go//')
if [ "$(printf '%s\n%s\n' "$need_go" "$have" | sort -V | head -n1)" != "$need_go" ]; then
	echo "deps.sh: Go $have is too old; $need_go or newer is required" >&2
	exit 1
fi
# goimports for `make vet`: a build tool, so it is installed with go install
# (outside the daemon's go.mod), pinned, into GOPATH/bin.
goimports_version=v0.52.0
if [ "$(go version -m "$(go env GOPATH)/bin/goimports" 2>/dev/null | awk '$1 == "mod" { print $3 }')" != "$goimports_version" ]; then
	echo "deps.sh: go install golang.org/x/tools/cmd/goimports@$goimports_version"
	(cd / && GOFLAGS='' go install "golang.org/x/tools/cmd/goimports@$goimports_version")
fi
echo "deps.sh: ready (go $have, goimports $goimports_version)"
