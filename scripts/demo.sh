#!/usr/bin/env bash
# demo.sh: bring up the network-namespace NAT lab, start wgstun on two
# WireGuard peers that sit behind their own NAT routers, and show them find
# each other, with timings. Run as root. Everything is torn down on exit.
#
#   scripts/demo.sh [WGSTUN_BINARY] [NAT_A] [NAT_B]
#
# NAT types: full-cone, restricted-cone, port-restricted-cone (default: the
# usual home router), symmetric.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "${1:-$here/../bin/wgstun}")
nat_a=${2:-port-restricted-cone}
nat_b=${3:-port-restricted-cone}

[ "$(id -u)" -eq 0 ] || { echo "demo.sh: run as root (the lab creates network namespaces)" >&2; exit 1; }
[ -x "$bin" ] || { echo "demo.sh: no wgstun binary at $bin (run make build)" >&2; exit 1; }

# shellcheck source=scripts/pair.sh
. "$here/pair.sh"
trap pair_down EXIT INT TERM
say() { printf '\033[1m%s\033[0m\n' "$*"; }

say "1. NAT lab: peer a behind $nat_a, peer b behind $nat_b, coturn on the 'internet'"
pair_up "demo$(($$ % 10000))" "$nat_a" "$nat_b"

say "2. Neither WireGuard peer knows an endpoint yet:"
ip netns exec "$NS_A" wg show "$WG_A_IF" endpoints | sed 's/^/   a: /'
ip netns exec "$NS_B" wg show "$WG_B_IF" endpoints | sed 's/^/   b: /'

pair_ping 1s
say "3. Starting wgstun on both peers (ping watch every 1 s) and pinging b's tunnel address from a"
pair_start
ok=1
pair_measure 30 || ok=0

say "4. Result"
ip netns exec "$NS_A" wg show "$WG_A_IF" endpoints | sed 's/^/   a now sends to b at: /'
ip netns exec "$NS_B" wg show "$WG_B_IF" endpoints | sed 's/^/   b now sends to a at: /'
printf '   %-44s %s\n' "endpoint set on a (ms after start)" "${t_set_a:-never}" \
	"endpoint set on b (ms after start)" "${t_set_b:-never}" \
	"first ping answered through the tunnel (ms)" "${t_ping:-none within 30 s}"
echo "   (WireGuard starts a handshake at most once per 5 s, and an attempt made before"
echo "    the endpoint was known counts; wgstun re-creates a peer that has no session with"
echo "    its endpoint, which clears that throttle, so the first packet goes through at once."
echo "    Status shows it as 're-created'; fast_handshake = false turns it off.)"

say "5. wgstun status on a"
sleep 1
"$bin" status -s "$LAB_DIR/a.sock" | sed 's/^/   /'

if [ "$ok" = 1 ]; then
	sleep 2
	say "6. Fault: a's NAT router gets a new WAN address (the old mapping is gone)"
	t_fault=$(ms)
	bash "$lab" wan-readdress "$pair_prefix" a 203.0.113.11
	ok=1
	pair_restored 30 || ok=0
	printf '   %-44s %s\n' "ping through the tunnel again after (ms)" "${t_restored:-not within 30 s}"
	sleep 1
	ip netns exec "$NS_B" wg show "$WG_B_IF" endpoints | sed 's/^/   b now sends to a at: /'
	grep -h 'state=down\|discovered mapping.*was=2\|endpoint set.*was=2' "$LAB_DIR/wgstun-a.log" "$LAB_DIR/wgstun-b.log" |
		sed 's/^time=[^ ]* //; s/^/   log: /' || true
fi

if [ "$ok" = 0 ]; then
	echo "demo: the peers did not connect; wgstun logs:" >&2
	cat "$LAB_DIR/wgstun-a.log" "$LAB_DIR/wgstun-b.log" >&2
	exit 1
fi
say "Done: a and b talk directly through two NATs and recovered from a WAN change; the lab is torn down now."
