// Package wg reads WireGuard devices and sets peer endpoints. It touches
// nothing else: allowed IPs, keepalive and preshared keys stay as they are.
//
// Per OS: on Linux and macOS the endpoint goes out as an update-only peer
// change. FreeBSD's if_wg has no update-only flag and wgctrl refuses
// UpdateOnly there, so the peer is read first and written back whole with
// the new endpoint (endpointConfig). On macOS a configured name such as wg0
// is mapped to the utun interface wg-quick recorded for it (utunName).
package wg

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
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

// backend is the part of *wgctrl.Client that setting an endpoint needs.
type backend interface {
	Device(name string) (*wgtypes.Device, error)
	ConfigureDevice(name string, cfg wgtypes.Config) error
}

// readDevice reads the device name from b, mapping "does not exist" to
// ErrNoDevice.
func readDevice(b backend, name string) (*wgtypes.Device, error) {
	d, err := b.Device(name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrNoDevice, name)
		}
		return nil, fmt.Errorf("wg: read %s: %w", name, err)
	}
	return d, nil
}

// setEndpoint points peer on iface at ep the way goos needs it. Where the
// whole peer must be sent (FreeBSD) it reads the peer first; a peer that is
// not on the device is left absent, as an update-only change leaves it
// elsewhere, and nil is returned.
func setEndpoint(goos string, b backend, iface string, peer wgtypes.Key, ep netip.AddrPort) error {
	cur := wgtypes.Peer{PublicKey: peer}
	if fullPeer(goos) {
		d, err := readDevice(b, iface)
		if err != nil {
			return fmt.Errorf("wg: set endpoint of %s on %s: %w", peer, iface, err)
		}
		var found bool
		if cur, found = findPeer(d, peer); !found {
			return nil
		}
	}
	if err := b.ConfigureDevice(iface, endpointConfig(goos, cur, ep)); err != nil {
		return fmt.Errorf("wg: set endpoint of %s on %s: %w", peer, iface, err)
	}
	return nil
}

// fullPeer tells whether goos needs the whole peer sent to change its
// endpoint. FreeBSD does: wgctrl's FreeBSD backend (internal/wgfreebsd,
// ConfigureDevice) returns wgtypes.ErrUpdateOnlyNotSupported for any
// UpdateOnly peer on an existing device, because if_wg's peer set
// (wg_peer_add in sys/dev/wg/if_wg.c) has no update-only flag.
func fullPeer(goos string) bool { return goos == "freebsd" }

// endpointConfig is the whole change wgstun makes to a peer: its endpoint
// set to ep, on an existing peer only.
//
// Everywhere but FreeBSD that is an UpdateOnly peer change carrying only
// the endpoint; only cur.PublicKey is used.
//
// On FreeBSD cur must be the peer as just read from the device, and the
// change restates it: ReplaceAllowedIPs with exactly cur's allowed IPs,
// cur's persistent keepalive (0 stays off), and cur's preshared key when
// one is set. A zero preshared key is sent as nil, "leave unchanged", and
// never as a pointer to zero, which would mean "remove": if_wg hands the
// preshared key only to privileged readers (wgc_get, wgc_privileged), so a
// zero key read back may be a hidden one, and nil keeps it in either case.
// if_wg applies the whole peer under its softc lock, so readers never see
// the allowed IPs half replaced.
func endpointConfig(goos string, cur wgtypes.Peer, ep netip.AddrPort) wgtypes.Config {
	if !fullPeer(goos) {
		return wgtypes.Config{Peers: []wgtypes.PeerConfig{{
			PublicKey:  cur.PublicKey,
			Endpoint:   udpAddr(ep),
			UpdateOnly: true,
		}}}
	}
	return wgtypes.Config{Peers: []wgtypes.PeerConfig{restate(cur, ep)}}
}

// restate is cur written out whole with endpoint ep: its allowed IPs
// (copied, in order, replacing the device's), its persistent keepalive (0
// stays off) and its preshared key when one is set; a zero one is left out
// (nil: unchanged on an existing peer, none on a new one).
func restate(cur wgtypes.Peer, ep netip.AddrPort) wgtypes.PeerConfig {
	pc := wgtypes.PeerConfig{
		PublicKey:         cur.PublicKey,
		Endpoint:          udpAddr(ep),
		ReplaceAllowedIPs: true,
		AllowedIPs:        make([]net.IPNet, len(cur.AllowedIPs)),
	}
	for i, n := range cur.AllowedIPs {
		pc.AllowedIPs[i] = net.IPNet{IP: append(net.IP(nil), n.IP...), Mask: append(net.IPMask(nil), n.Mask...)}
	}
	ka := cur.PersistentKeepaliveInterval
	pc.PersistentKeepaliveInterval = &ka
	if cur.PresharedKey != (wgtypes.Key{}) {
		psk := cur.PresharedKey
		pc.PresharedKey = &psk
	}
	return pc
}

func udpAddr(ep netip.AddrPort) *net.UDPAddr {
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ep.Addr().Unmap(), ep.Port()))
}

// findPeer returns the peer k of d.
func findPeer(d *wgtypes.Device, k wgtypes.Key) (wgtypes.Peer, bool) {
	for _, p := range d.Peers {
		if p.PublicKey == k {
			return p, true
		}
	}
	return wgtypes.Peer{}, false
}

// runDir is where wireguard-go keeps its UAPI sockets (<iface>.sock) and,
// on macOS, wg-quick its name files (<name>.name).
const runDir = "/var/run/wireguard"

// InterfaceName returns the network interface that carries the WireGuard
// device configured as name. On macOS, where wireguard-go can only create
// utunN interfaces, that is the utun wg-quick recorded in
// /var/run/wireguard/<name>.name, or name itself when there is no such
// file; everywhere else it is name. An error wraps ErrNoDevice when the
// name file is there but its interface is gone.
func InterfaceName(name string) (string, error) {
	if runtime.GOOS != "darwin" {
		return name, nil
	}
	return utunName(os.DirFS(runDir), name)
}

// utunName maps name to its utun interface the way wg-quick's darwin
// get_real_interface does, over fsys rooted at /var/run/wireguard:
// <name>.name holds the interface name (wireguard-go writes it there, with
// a newline, when started as "utun" with WG_TUN_NAME_FILE set); it counts
// only while <utun>.sock is a socket whose modification time lies within
// 2 seconds of the name file's, since a name file outliving its
// wireguard-go may name a utun that another tunnel now has. Without a name
// file, name is returned as it is (an explicit utunN, or a name wgctrl will
// report as missing).
func utunName(fsys fs.FS, name string) (string, error) {
	if !validIface(name) {
		return "", fmt.Errorf("wg: bad interface name %q", name)
	}
	nameFile := name + ".name"
	b, err := fs.ReadFile(fsys, nameFile)
	if errors.Is(err, fs.ErrNotExist) {
		return name, nil
	}
	if err != nil {
		return "", fmt.Errorf("wg: read %s/%s: %w", runDir, nameFile, err)
	}
	real := strings.TrimRight(string(b), "\n")
	if !validIface(real) {
		return "", fmt.Errorf("wg: %s/%s holds %q, not an interface name", runDir, nameFile, real)
	}
	nameInfo, err := fs.Stat(fsys, nameFile)
	if err != nil {
		return "", fmt.Errorf("wg: stat %s/%s: %w", runDir, nameFile, err)
	}
	sockInfo, err := fs.Stat(fsys, real+".sock")
	if err != nil || sockInfo.Mode().Type() != fs.ModeSocket {
		return "", fmt.Errorf("%w: %s (%s names %s, which has no UAPI socket)", ErrNoDevice, name, nameFile, real)
	}
	if d := sockInfo.ModTime().Unix() - nameInfo.ModTime().Unix(); d >= 2 || d <= -2 {
		return "", fmt.Errorf("%w: %s (%s is stale: %s.sock is %ds apart from it)", ErrNoDevice, name, nameFile, real, d)
	}
	return real, nil
}

// validIface accepts what can be an interface name (IFNAMSIZ 16 with the
// NUL) and a single path element.
func validIface(s string) bool {
	return s != "" && len(s) < 16 && s != "." && s != ".." && !strings.ContainsAny(s, "/\x00 \t\n\r")
}
