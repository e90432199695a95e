#!/bin/sh
# copyright.sh LICENSE: print the machine-readable debian/copyright (DEP-5)
# for a wgstun package, its license text taken from the repository's
# LICENSE so the two never drift. Used by packaging/debian/build-deb.sh and
# packaging/vyos/build-deb.sh.
set -eu
license=${1:?usage: copyright.sh LICENSE}
[ -s "$license" ] || {
	echo "copyright.sh: $license: missing or empty" >&2
	exit 1
}
grep -q '^MIT License$' "$license" || {
	echo "copyright.sh: $license: not the MIT license this file declares" >&2
	exit 1
}
cat <<'HEAD'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: wgstun
Upstream-Contact: https://github.com/wgstun/wgstun/issues
Source: https://github.com/wgstun/wgstun
Comment: The binary is statically linked with Go modules under their own
 licenses: golang.zx2c4.com/wireguard/wgctrl, github.com/mdlayher/netlink,
 github.com/mdlayher/genetlink, github.com/mdlayher/socket,
 github.com/josharian/native and github.com/BurntSushi/toml (MIT);
 golang.org/x/crypto, golang.org/x/net, golang.org/x/sys, golang.org/x/sync
 and the Go standard library (BSD-3-Clause).

HEAD
printf 'Files: *\n'
sed -n 's/^Copyright (c) /Copyright: /p' "$license"
printf 'License: MIT\n'
# The license text after its title and copyright line, in DEP-5's
# continuation form: each line indented one space, blank lines as " .".
sed '1,/^Copyright/d' "$license" | sed '/./,$!d' | sed 's/^$/./; s/^/ /'
