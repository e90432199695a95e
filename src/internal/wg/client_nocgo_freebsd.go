//go:build freebsd && !cgo

package wg

import (
	"fmt"
	"net/netip"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Client is unavailable: wgctrl reaches FreeBSD's if_wg only through cgo.
type Client struct{}

// Open fails: build with CGO_ENABLED=1 on FreeBSD (the port does).
func Open() (*Client, error) {
	return nil, fmt.Errorf("%w: FreeBSD needs a cgo build (CGO_ENABLED=1) to reach if_wg", errNotSupported)
}

// Close does nothing.
func (c *Client) Close() error { return nil }

// Device fails; see Open.
func (c *Client) Device(name string) (Device, error) { return Device{}, errNotSupported }

// SetEndpoint fails; see Open.
func (c *Client) SetEndpoint(iface string, peer wgtypes.Key, ep netip.AddrPort) error {
	return errNotSupported
}

// Recreate fails; see Open.
func (c *Client) Recreate(iface string, peer wgtypes.Key, ep netip.AddrPort, seen Peer) (bool, error) {
	return false, errNotSupported
}
