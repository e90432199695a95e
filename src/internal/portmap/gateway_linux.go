package portmap

import (
	"encoding/binary"
	"net/netip"
	"os"
)

func findGateway(dst netip.Addr) (netip.Addr, error) {
	b, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return netip.Addr{}, err
	}
	return parseProcRoute(b, dst, binary.NativeEndian)
}
