package linuxraw_test

import (
	"github.com/wgstun/wgstun/linuxraw"
	"github.com/wgstun/wgstun/src/stun"
)

var _ stun.Conn = (*linuxraw.Conn)(nil)
