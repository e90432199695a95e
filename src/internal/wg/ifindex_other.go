//go:build !linux

package wg

import "net"

// ifIndex returns the index of the named interface, or 0 when there is
// none.
func ifIndex(name string) int {
	if ifi, err := net.InterfaceByName(name); err == nil {
		return ifi.Index
	}
	return 0
}
