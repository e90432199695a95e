//go:build freebsd || darwin

package capture

import (
	"github.com/wgstun/wgstun/bsdbpf"
	"github.com/wgstun/wgstun/src/stun"
)

const perInterface = true

// open ignores mark (a Linux fwmark). Interface changes and skipped link
// types are logged to o.Log.
func open(port uint16, ipv6 bool, mark uint32, o Options) (stun.Conn, error) {
	c, err := bsdbpf.Listen(port, ipv6, bsdbpf.Options{
		Capture: o.Capture, FIB: max(o.FIB, 0), BoundIf: o.BindInterface, Log: o.Log,
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func interfaces(ipv6 bool, capture []string) ([]Iface, error) {
	infos, err := bsdbpf.Describe(ipv6, bsdbpf.Options{Capture: capture})
	if err != nil {
		return nil, err
	}
	out := make([]Iface, len(infos))
	for i, in := range infos {
		out[i] = Iface{Name: in.Name, Err: in.Err}
		if in.Err == nil {
			out[i].LinkType = in.LinkType()
			out[i].Skipped = !in.Supported
		}
	}
	return out, nil
}
