//go:build !linux

package capture

import "github.com/wgstun/wgstun/src/stun"

func open(port uint16, ipv6 bool, mark uint32) (stun.Conn, error) {
	return nil, ErrNotSupported
}
