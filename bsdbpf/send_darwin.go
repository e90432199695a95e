package bsdbpf

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

var errNoFIB = errors.New("FIBs are FreeBSD only; bind to an interface on macOS")

func setFIB(fd, fib int) error {
	return errNoFIB
}

// bindInterface pins fd to the interface with index ifindex (IP_BOUND_IF,
// IPV6_BOUND_IF): its datagrams leave there whatever the routing table
// says.
func bindInterface(fd int, ipv6 bool, ifindex int) error {
	if ipv6 {
		return os.NewSyscallError("setsockopt IPV6_BOUND_IF", unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_BOUND_IF, ifindex))
	}
	return os.NewSyscallError("setsockopt IP_BOUND_IF", unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BOUND_IF, ifindex))
}
