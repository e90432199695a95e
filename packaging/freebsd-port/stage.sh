#!/bin/bash
# stage.sh PORTDIR STAGEDIR WGSTUN_BINARY
#
# Stages into STAGEDIR what `make stage` (the step `make install` and
# `make package` run first) would put there for the port in PORTDIR, reading
# the port's Makefile: the GO_TARGET binary (go.mk's do-install), the
# USE_RC_SUBR scripts (bsd.port.mk installs files/NAME.in, %%PREFIX%% and
# friends substituted, as etc/rc.d/NAME) and the post-install recipe. The
# binary is supplied by the caller (built with go for freebsd). It then
# prints, one per line, the plist entries the framework adds by itself
# (etc/rc.d/NAME for each USE_RC_SUBR name), so a caller can compare the
# staged tree with pkg-plist.
#
# Only the make syntax and recipe commands this port uses are understood;
# anything else stops with an error naming it, so a Makefile change the
# emulation cannot follow fails loudly instead of passing silently.
# The ${...} in single quotes below are make variables matched literally.
# shellcheck disable=SC2016
set -euo pipefail

portdir=$1 stagedir=$2 binary=$3
# WRKSRC: the extracted source, here the checkout the port sits in.
wrksrc=${4:-$(cd "$portdir/../../../.." && pwd)}
prefix=/usr/local

die() { echo "stage.sh: $*" >&2; exit 1; }

mk=$portdir/Makefile
[ -f "$mk" ] || die "no Makefile in $portdir"
if grep -q '\\$' "$mk"; then
	die "$mk: line continuations are not understood by this emulation"
fi

# var NAME: the value of a single-line NAME= (or NAME+=, joined) assignment.
var() {
	sed -n -E "s/^$1[+?]?=[[:space:]]*(.*)$/\1/p" "$mk" | paste -sd' ' -
}

portname=$(var PORTNAME)
[ -n "$portname" ] || die "$mk: PORTNAME is empty"
etcdir=$prefix/etc/$portname

# expand TEXT: the port variables the recipes use; any other ${...} is an error.
expand() {
	local s=$1
	s=${s//'${STAGEDIR}'/$stagedir}
	s=${s//'${ETCDIR}'/$etcdir}
	s=${s//'${DATADIR}'/$prefix/share/$portname}
	s=${s//'${DOCSDIR}'/$prefix/share/doc/$portname}
	s=${s//'${EXAMPLESDIR}'/$prefix/share/examples/$portname}
	s=${s//'${PREFIX}'/$prefix}
	s=${s//'${FILESDIR}'/$portdir/files}
	s=${s//'${PORTNAME}'/$portname}
	s=${s//'${WRKSRC}'/$wrksrc}
	case $s in
	*'${'*) die "$mk: cannot expand '$1' (unknown variable)" ;;
	esac
	printf '%s\n' "$s"
}

mkdir -p "$stagedir$prefix"

# go.mk do-install: GO_TARGET entries pkg[:dst]; dst absolute -> as is,
# otherwise ${PREFIX}/bin/basename.
for t in $(var GO_TARGET); do
	pkg=${t%%:*}
	if [ "$pkg" = "$t" ]; then
		dst=$(basename "$pkg")
	else
		dst=${t#*:}
	fi
	dst=$(expand "$dst")
	case $dst in
	/*) ;;
	*) dst=$prefix/bin/$(basename "$dst") ;;
	esac
	mkdir -p "$stagedir$(dirname "$dst")"
	install -m 0555 "$binary" "$stagedir$dst"
done

# USE_RC_SUBR: files/NAME.in -> etc/rc.d/NAME, substituted, mode 0555.
for rc in $(var USE_RC_SUBR); do
	src=$portdir/files/$rc.in
	[ -f "$src" ] || die "USE_RC_SUBR=$rc but $src is missing"
	mkdir -p "$stagedir$prefix/etc/rc.d"
	sed -e "s|%%PREFIX%%|$prefix|g" -e "s|%%LOCALBASE%%|$prefix|g" \
		-e "s|%%ETCDIR%%|$etcdir|g" "$src" >"$stagedir$prefix/etc/rc.d/$rc"
	chmod 0555 "$stagedir$prefix/etc/rc.d/$rc"
done

# SUB_FILES are generated into WRKDIR (pkg-message is package metadata);
# they install nothing by themselves, but their sources must exist.
for f in $(var SUB_FILES); do
	[ -f "$portdir/files/$f.in" ] || die "SUB_FILES=$f but $portdir/files/$f.in is missing"
done

# The framework stages into a tree made from mtree (BSD.local.dist), where the
# manual directories already exist; the empty ones are dropped again below.
mkdir -p "$stagedir$prefix"/share/man/man{1,5,8}

# post-install recipe: tab-indented lines after "post-install:".
recipe=$(awk '/^post-install:/ {on=1; next} on && /^\t/ {sub(/^\t/, ""); print; next} on {exit}' "$mk")
while IFS= read -r line; do
	[ -n "$line" ] || continue
	line=${line#@}
	read -r cmd args <<<"$line"
	read -r -a words <<<"$(expand "$args")"
	case $cmd in
	'${MKDIR}') mkdir -p "${words[@]}" ;;
	'${INSTALL_DATA}' | '${INSTALL_MAN}') install -m 0444 "${words[@]}" ;;
	'${INSTALL_PROGRAM}' | '${INSTALL_SCRIPT}') install -m 0555 "${words[@]}" ;;
	*) die "$mk: post-install command '$cmd' is not understood by this emulation" ;;
	esac
done <<<"$recipe"

# bsd.port.mk compresses the manual pages it finds staged (gzip -9n).
find "$stagedir$prefix/share/man" -type f ! -name '*.gz' -exec gzip -9n {} +
find "$stagedir$prefix/share" -depth -type d -empty -delete

for rc in $(var USE_RC_SUBR); do
	echo "etc/rc.d/$rc"
done
