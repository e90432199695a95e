package egress

import (
	"net"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

func apply(fd int, network string, p Policy) error {
	if p.BindIf == "" {
		return nil
	}
	ifi, err := net.InterfaceByName(p.BindIf)
	if err != nil {
		return err
	}
	if strings.HasSuffix(network, "6") {
		return os.NewSyscallError("setsockopt IPV6_BOUND_IF", unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_BOUND_IF, ifi.Index))
	}
	return os.NewSyscallError("setsockopt IP_BOUND_IF", unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BOUND_IF, ifi.Index))
}
