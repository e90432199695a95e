//go:build freebsd || darwin

package bsdbpf

import (
	"net"
	"net/netip"
	"os"
	"syscall"

	"github.com/wgstun/wgstun/src/rawudp"

	"golang.org/x/sys/unix"
)

// nativeSendSys returns the send path's calls on this system.
func nativeSendSys() SendSys {
	return SendSys{
		OpenRaw:       func(ipv6 bool) (int, error) { return openSocket(ipv6, unix.SOCK_RAW) },
		OpenUDP:       func(ipv6 bool) (int, error) { return openSocket(ipv6, unix.SOCK_DGRAM) },
		SetFIB:        setFIB,
		BindInterface: bindInterface,
		SetChecksumOffset: func(fd, off int) error {
			return os.NewSyscallError("setsockopt IPV6_CHECKSUM", unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_CHECKSUM, off))
		},
		Connect: func(fd int, dst netip.AddrPort) error {
			sa, err := rawudp.Sockaddr(dst, ifIndex)
			if err != nil {
				return err
			}
			return os.NewSyscallError("connect", unix.Connect(fd, sa))
		},
		LocalAddr: func(fd int) (netip.Addr, error) {
			sa, err := unix.Getsockname(fd)
			if err != nil {
				return netip.Addr{}, os.NewSyscallError("getsockname", err)
			}
			return rawudp.SockaddrAddr(sa), nil
		},
		SendTo: func(fd int, p []byte, dst netip.AddrPort) error {
			sa, err := rawudp.Sockaddr(dst, ifIndex)
			if err != nil {
				return err
			}
			for {
				err = unix.Sendto(fd, p, 0, sa)
				if err != unix.EINTR {
					return os.NewSyscallError("sendto", err)
				}
			}
		},
		Close: func(fd int) error {
			return os.NewSyscallError("close", unix.Close(fd))
		},
		IfIndex: ifIndex,
	}
}

func openSocket(ipv6 bool, typ int) (int, error) {
	family := unix.AF_INET
	if ipv6 {
		family = unix.AF_INET6
	}
	syscall.ForkLock.RLock()
	fd, err := unix.Socket(family, typ, unix.IPPROTO_UDP)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	return fd, nil
}

func ifIndex(name string) (int, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return 0, err
	}
	return ifi.Index, nil
}
