#!/bin/sh
# docs.sh PACKAGE VERSION ROOT: the files lintian asks of a package, written into ROOT:
#   usr/share/doc/PACKAGE/changelog.gz   a native package's changelog (one entry per release)
#   usr/share/man/man8/wgstun.8.gz       the manual page (src/cmd/wgstun/wgstun.8)
#   usr/share/lintian/overrides/PACKAGE  the overrides read from standard input, one
#                                        "# reason" line before each tag line
# Dates come from SOURCE_DATE_EPOCH (required) and gzip stores no name or time, so the
# output is the same on every build. Used by build-deb.sh here and in packaging/vyos.
set -eu
[ $# -eq 3 ] || {
	echo "usage: $0 PACKAGE VERSION ROOT <overrides" >&2
	exit 2
}
pkg=$1
version=$2
root=$3
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
: "${SOURCE_DATE_EPOCH:?docs.sh: SOURCE_DATE_EPOCH must be set (the time of the last commit)}"

install -d -m 0755 "$root/usr/share/doc/$pkg" "$root/usr/share/man/man8" "$root/usr/share/lintian/overrides"
{
	printf '%s (%s) unstable; urgency=medium\n\n' "$pkg" "$version"
	printf '  * Release %s; see /usr/share/doc/%s/README.md for what it does.\n\n' "$version" "$pkg"
	printf ' -- wgstun developers <wgstun@users.noreply.github.com>  %s\n' \
		"$(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -n -9 >"$root/usr/share/doc/$pkg/changelog.gz"
gzip -n -9 <"$top/src/cmd/wgstun/wgstun.8" >"$root/usr/share/man/man8/wgstun.8.gz"
cat >"$root/usr/share/lintian/overrides/$pkg"
chmod 0644 "$root/usr/share/doc/$pkg/changelog.gz" "$root/usr/share/man/man8/wgstun.8.gz" \
	"$root/usr/share/lintian/overrides/$pkg"
