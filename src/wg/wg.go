// Package wg reads WireGuard devices and sets peer endpoints. It touches
// nothing else: allowed IPs, keepalive and preshared keys stay as they are.
package wg

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// ErrNoDevice reports that the interface does not exist (yet).
var ErrNoDevice = errors.New("wg: no such WireGuard device")

// errNotSupported is returned where this build cannot reach WireGuard.
var errNotSupported = errors.New("wg: not supported in this build")

// Device is what wgstun needs to know about one WireGuard interface.
type Device struct {
	Name       string
	Index      int // interface index: changes when the interface is recreated
	PrivateKey wgtypes.Key
	PublicKey  wgtypes.Key
	ListenPort uint16
	Mark       uint32
	Peers      []Peer
}

// Peer is one peer of a Device.
type Peer struct {
	PublicKey     wgtypes.Key
	Endpoint      netip.AddrPort // zero when none is set
	LastHandshake time.Time      // zero when none happened
	RxBytes       int64
	TxBytes       int64
	Keepalive     time.Duration
}

// Peer returns the peer with the given key.
func (d *Device) Peer(k wgtypes.Key) (Peer, bool) {
	for _, p := range d.Peers {
		if p.PublicKey == k {
			return p, true
		}
	}
	return Peer{}, false
}

func fromWgtypes(d *wgtypes.Device) Device {
	out := Device{
		Name:       d.Name,
		PrivateKey: d.PrivateKey,
		PublicKey:  d.PublicKey,
		ListenPort: uint16(d.ListenPort),
		Mark:       uint32(d.FirewallMark),
		Peers:      make([]Peer, 0, len(d.Peers)),
	}
	for _, p := range d.Peers {
		var ep netip.AddrPort
		if p.Endpoint != nil {
			ep = p.Endpoint.AddrPort()
			ep = netip.AddrPortFrom(ep.Addr().Unmap(), ep.Port())
		}
		out.Peers = append(out.Peers, Peer{
			PublicKey:     p.PublicKey,
			Endpoint:      ep,
			LastHandshake: p.LastHandshakeTime,
			RxBytes:       p.ReceiveBytes,
			TxBytes:       p.TransmitBytes,
			Keepalive:     p.PersistentKeepaliveInterval,
		})
	}
	return out
}

// endpointOnly is the whole change wgstun makes to a peer: the endpoint,
// on an existing peer only.
func endpointOnly(peer wgtypes.Key, ep netip.AddrPort) wgtypes.Config {
	return wgtypes.Config{Peers: []wgtypes.PeerConfig{{
		PublicKey:  peer,
		UpdateOnly: true,
		Endpoint:   net.UDPAddrFromAddrPort(ep),
	}}}
}
