package capture

import (
	"github.com/wgstun/wgstun/linuxraw"
	"github.com/wgstun/wgstun/src/stun"
)

const perInterface = false

// open ignores capture: a raw socket sees every interface.
func open(port uint16, ipv6 bool, mark uint32, _ Options) (stun.Conn, error) {
	c, err := linuxraw.Listen(port, ipv6, mark)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func interfaces(bool, []string) ([]Iface, error) {
	return nil, ErrNotSupported
}
