// Package capture picks the operating system's packet path for STUN on
// WireGuard's port: raw sockets on Linux, /dev/bpf on FreeBSD and macOS.
package capture

import (
	"errors"

	"github.com/wgstun/wgstun/src/stun"
)

// ErrNotSupported is returned on systems without a packet path.
var ErrNotSupported = errors.New("capture: no packet path for this operating system")

// Open returns a packet path that sends from and receives STUN answers for
// WireGuard's UDP port without binding it. mark is WireGuard's fwmark
// (Linux), applied so that full-tunnel routing still sends STUN outside.
func Open(port uint16, ipv6 bool, mark uint32) (stun.Conn, error) {
	return open(port, ipv6, mark)
}
