//go:build !linux && !freebsd && !darwin

package capture

import "github.com/wgstun/wgstun/src/stun"

const perInterface = false

func open(port uint16, ipv6 bool, mark uint32, _ Options) (stun.Conn, error) {
	return nil, ErrNotSupported
}

func interfaces(bool, []string) ([]Iface, error) {
	return nil, ErrNotSupported
}
