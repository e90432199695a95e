//go:build !linux

package portmap

import "net/netip"

func findGateway(netip.Addr) (netip.Addr, error) { return netip.Addr{}, ErrGatewayLookup }
