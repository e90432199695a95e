//go:build !linux

package linuxraw

func listen(port uint16, ipv6 bool, mark uint32) (*Conn, error) {
	return nil, ErrNotSupported
}
