package ping

import (
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/wgstun/wgstun/src/internal/wg"
)

// macOS lets unprivileged processes open ICMP datagram sockets.
const hasDgramICMP = true

// socket opens a non-blocking, close-on-exec socket. Darwin's socket(2)
// takes no SOCK_NONBLOCK or SOCK_CLOEXEC, so the flags are set after,
// under ForkLock so no child inherits the descriptor meanwhile.
func socket(fam, typ, proto int) (int, error) {
	syscall.ForkLock.RLock()
	fd, err := unix.Socket(fam, typ, proto)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

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
