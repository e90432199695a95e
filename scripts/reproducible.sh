#!/usr/bin/env bash
# reproducible.sh: two builds of HEAD in two different directories give the
# same bytes: the router binary (linux/mipsle, from an empty build cache each
# time) and every package `make packages` makes from the release binaries in
# DISTDIR, with SOURCE_DATE_EPOCH left to packages.sh (the last commit's time).
#
#   scripts/reproducible.sh [DISTDIR]     (default dist/, as make packages leaves it)
#
# Exits non-zero, naming what differs, when anything does.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
dist=$(realpath "${1:-$root/dist}")
PATH=$PATH:/usr/local/go/bin

version=$(find "$dist" -maxdepth 1 -name 'wgstun-*-linux-mipsle' -printf '%f\n' | sed -n 's/^wgstun-\(.*\)-linux-mipsle$/\1/p' | head -n 1)
[[ -n $version ]] || {
	echo "reproducible.sh: no release binaries in $dist (run make dist packages first)" >&2
	exit 2
}
work=$(mktemp -d /tmp/wgstun-repro.XXXXXX)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

# shellcheck source=scripts/builds.sh
. "$here/builds.sh"
for d in one "second tree"; do
	tree=$work/$d/wgstun
	mkdir -p "$tree"
	git -C "$root" archive HEAD | tar -x -C "$tree"
	# The .git the packages take the commit time from.
	cp -a "$root/.git" "$tree/.git"
	# shellcheck disable=SC2086 # router_gcflags is a list of words
	(cd "$tree" && GOCACHE="$work/$d/cache" GOOS=linux GOARCH=mipsle GOMIPS=softfloat CGO_ENABLED=0 \
		go build -trimpath -buildvcs=false $router_gcflags -ldflags "-s -w -buildid= -X main.version=$version" \
		-o "$work/$d/wgstun-mipsle" ./src/cmd/wgstun)
	VERSION=$version bash "$tree/scripts/packages.sh" "$dist" "$work/$d/packages" >/dev/null
done
fails=0
if cmp -s "$work/one/wgstun-mipsle" "$work/second tree/wgstun-mipsle"; then
	echo "ok   router binary (linux/mipsle, empty build caches, two directories): same bytes"
else
	echo "FAIL router binary differs between the two builds" >&2
	fails=$((fails + 1))
fi
n=$(grep -c . "$work/one/packages/SHA256SUMS")
if diff -u "$work/one/packages/SHA256SUMS" "$work/second tree/packages/SHA256SUMS"; then
	echo "ok   $n packages (.deb, .ipk, .apk) built in two directories: byte-identical"
else
	echo "FAIL packages differ between the two builds (diff above)" >&2
	fails=$((fails + 1))
fi
# Every member carries the commit's time, not the build's.
epoch=$(git -C "$root" log -1 --format=%ct)
deb=$(find "$work/one/packages/debian" -name '*_amd64.deb' | head -n 1)
if dpkg-deb --fsys-tarfile "$deb" | TZ=UTC tar -tv --full-time | awk '{print $4" "$5}' | sort -u |
	grep -vqx "$(date -u -d "@$epoch" '+%Y-%m-%d %H:%M:%S')"; then
	echo "FAIL $deb has members not dated at the last commit ($epoch)" >&2
	fails=$((fails + 1))
else
	echo "ok   .deb members dated at the last commit"
fi
exit $((fails > 0))
