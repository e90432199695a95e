package wg

import (
	"errors"
	"fmt"
	"net/netip"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Why a peer is re-created rather than updated: WireGuard sends a handshake
// initiation at most once per REKEY_TIMEOUT (5 s), and stamps that time even
// when the initiation cannot leave, because the peer has no endpoint yet or
// the other side's NAT drops it. wireguard-go checks the stamp in
// device/send.go (SendHandshakeInitiation, lastSentHandshake), the Linux
// kernel in drivers/net/wireguard/send.c (wg_packet_send_handshake_initiation,
// last_sent_handshake), FreeBSD's if_wg in wg_send_initiation. So a peer
// whose endpoint arrives just after such an attempt waits up to 5 s for
// its first packet. A peer removed and added back carries no stamp, and
// both implementations start a handshake at once when a new peer has a
// persistent keepalive (wireguard-go: the peer's start and its
// SendKeepalive in IpcSet's post-config; Linux: wg_packet_send_keepalive
// from set_peer's persistent-keepalive change; otherwise the next queued
// packet does, with no throttle).
//
// Re-creating destroys the peer's session, its counters and any packets
// queued for it, so the daemon does it only when the peer has no live
// session (see the daemon's endpoint.go), and Recreate checks again right
// before it acts.

// maxAtomicAllowedIPs is the most allowed IPs a peer may have for its
// re-creation to stay one netlink message: wgctrl's Linux backend splits a
// configuration with more than 256 allowed IPs into several messages
// (internal/wglinux buildBatches, ipBatchChunk), and between two of them
// the peer would be missing or have only part of its allowed IPs. Such a
// peer is updated in place.
const maxAtomicAllowedIPs = 256

// ErrLiveSession reports that the peer received packets or completed a
// handshake after the caller read it, so Recreate changed nothing.
var ErrLiveSession = errors.New("wg: the peer received packets since it was read; left as it is")

// Recreate points peer on iface at ep by removing the peer and adding it
// back with its configuration and ep, in one configuration call: one
// netlink message (WG_CMD_SET_DEVICE, applied under the device's update
// lock), one UAPI set transaction (wireguard-go's IpcSetOperation holds
// its IPC lock throughout), or one FreeBSD SIOCSWG ioctl (if_wg's
// wgc_set under the softc lock), so no other reader or writer sees the
// peer missing. seen is the peer as the caller read it when deciding; if
// the device now shows another handshake time or receive counter, nothing
// is changed and ErrLiveSession is returned, so the session and the
// endpoint WireGuard roamed to are kept. The counter matters because a
// responder has no handshake time until the initiator's first data packet
// confirms the session: a peer re-created between answering an initiation
// and that packet loses a session the other side believes in, and the
// other side sends nothing new until its keepalive and a 15 s silence
// later. On FreeBSD a preshared key that reads back as
// zero may be hidden from this reader (if_wg shows it only to privileged
// readers), and a re-created peer would lose it, so such a peer is also
// updated in place. It reports whether the peer was re-created. A peer not
// on the device is left absent and nil is returned. So is a peer with more
// allowed IPs than one netlink message carries (maxAtomicAllowedIPs).
func recreate(goos string, b backend, iface string, peer wgtypes.Key, ep netip.AddrPort, seen Peer) (bool, error) {
	d, err := readDevice(b, iface)
	if err != nil {
		return false, fmt.Errorf("wg: re-create %s on %s: %w", peer, iface, err)
	}
	cur, found := findPeer(d, peer)
	if !found {
		return false, nil
	}
	if !cur.LastHandshakeTime.Equal(seen.LastHandshake) || cur.ReceiveBytes != seen.RxBytes {
		// Packets came in since the caller looked: WireGuard has (or is
		// completing) a session and has roamed to where they came from,
		// which behind a symmetric NAT is not the published address.
		return false, ErrLiveSession
	}
	if (goos == "freebsd" && cur.PresharedKey == (wgtypes.Key{})) || len(cur.AllowedIPs) > maxAtomicAllowedIPs {
		if err := b.ConfigureDevice(iface, endpointConfig(goos, cur, ep)); err != nil {
			return false, fmt.Errorf("wg: set endpoint of %s on %s: %w", peer, iface, err)
		}
		return false, nil
	}
	if err := b.ConfigureDevice(iface, recreateConfig(cur, ep)); err != nil {
		return false, fmt.Errorf("wg: re-create %s on %s: %w", peer, iface, err)
	}
	return true, nil
}

// recreateConfig is the one change that removes cur and adds it back with
// endpoint ep: its allowed IPs in their order, its preshared key (a zero
// one is left out: a new peer has none) and its persistent keepalive (0
// stays off).
func recreateConfig(cur wgtypes.Peer, ep netip.AddrPort) wgtypes.Config {
	return wgtypes.Config{Peers: []wgtypes.PeerConfig{{PublicKey: cur.PublicKey, Remove: true}, restate(cur, ep)}}
}
