//go:build !(freebsd && !cgo)

package wg

import (
	"fmt"
	"net/netip"
	"runtime"

	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Client talks to kernel WireGuard and to wireguard-go's UAPI sockets.
type Client struct {
	c *wgctrl.Client
}

var _ backend = (*wgctrl.Client)(nil)

// Open connects to every WireGuard backend the OS has.
func Open() (*Client, error) {
	c, err := wgctrl.New()
	if err != nil {
		return nil, fmt.Errorf("wg: open: %w", err)
	}
	return &Client{c: c}, nil
}

// Close releases the backends.
func (c *Client) Close() error { return c.c.Close() }

// Device reads the named device. On macOS name may be a wg-quick name
// (wg0) standing for a utun interface; Device.Name and Device.Index are
// then those of the utun.
func (c *Client) Device(name string) (Device, error) {
	real, err := InterfaceName(name)
	if err != nil {
		return Device{}, err
	}
	d, err := readDevice(c.c, real)
	if err != nil {
		return Device{}, err
	}
	out := fromWgtypes(d)
	out.Index = ifIndex(real)
	return out, nil
}

// SetEndpoint points an existing peer at ep and changes nothing else. A
// peer that is not on the device is not added.
func (c *Client) SetEndpoint(iface string, peer wgtypes.Key, ep netip.AddrPort) error {
	real, err := InterfaceName(iface)
	if err != nil {
		return fmt.Errorf("wg: set endpoint of %s on %s: %w", peer, iface, err)
	}
	return setEndpoint(runtime.GOOS, c.c, real, peer, ep)
}

// Recreate removes peer and adds it back with its configuration and
// endpoint ep in one call, so that WireGuard starts a handshake at once
// instead of after its 5 s retry; see recreate. It changes nothing and
// returns ErrLiveSession when the peer received packets since seen.
func (c *Client) Recreate(iface string, peer wgtypes.Key, ep netip.AddrPort, seen Peer) (bool, error) {
	real, err := InterfaceName(iface)
	if err != nil {
		return false, fmt.Errorf("wg: re-create %s on %s: %w", peer, iface, err)
	}
	return recreate(runtime.GOOS, c.c, real, peer, ep, seen)
}
