//go:build !(freebsd && !cgo)

package wg

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Client talks to kernel WireGuard and to wireguard-go's UAPI sockets.
type Client struct {
	c *wgctrl.Client
}

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

// Device reads the named device.
func (c *Client) Device(name string) (Device, error) {
	d, err := c.c.Device(name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Device{}, fmt.Errorf("%w: %s", ErrNoDevice, name)
		}
		return Device{}, fmt.Errorf("wg: read %s: %w", name, err)
	}
	out := fromWgtypes(d)
	if ifi, err := net.InterfaceByName(name); err == nil {
		out.Index = ifi.Index
	}
	return out, nil
}

// SetEndpoint points an existing peer at ep and changes nothing else.
func (c *Client) SetEndpoint(iface string, peer wgtypes.Key, ep netip.AddrPort) error {
	if err := c.c.ConfigureDevice(iface, endpointOnly(peer, ep)); err != nil {
		return fmt.Errorf("wg: set endpoint of %s on %s: %w", peer, iface, err)
	}
	return nil
}
