package ping

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"

	"github.com/wgstun/wgstun/src/internal/egress"
	"github.com/wgstun/wgstun/src/internal/wg"
)

// macOS lets unprivileged processes open ICMP datagram sockets.
const hasDgramICMP = true

func socket(fam, typ, proto int) (int, error) { return egress.Socket(fam, typ, proto) }

// bindIface ties fd to the utun interface that carries iface (a wg-quick
// name such as wg0 is mapped to its utunN, see wg.InterfaceName) with
// IP_BOUND_IF or IPV6_BOUND_IF, which take the interface index. It also
// asks the kernel to strip the IPv4 header from what it delivers
// (IP_STRIPHDR), as x/net/icmp does; that is best effort, since
// cutIPv4Header copes with the header either way.
func bindIface(fd int, iface string, v6 bool) error {
	real, err := wg.InterfaceName(iface)
	if err != nil {
		return err
	}
	ifi, err := net.InterfaceByName(real)
	if err != nil {
		return fmt.Errorf("interface %s: %w", real, err)
	}
	if v6 {
		err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_BOUND_IF, ifi.Index)
		return os.NewSyscallError("setsockopt IPV6_BOUND_IF", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BOUND_IF, ifi.Index); err != nil {
		return os.NewSyscallError("setsockopt IP_BOUND_IF", err)
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_STRIPHDR, 1)
	return nil
}
