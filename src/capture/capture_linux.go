package capture

import (
	"github.com/wgstun/wgstun/linuxraw"
	"github.com/wgstun/wgstun/src/stun"
)

func open(port uint16, ipv6 bool, mark uint32) (stun.Conn, error) {
	c, err := linuxraw.Listen(port, ipv6, mark)
	if err != nil {
		return nil, err
	}
	return c, nil
}
