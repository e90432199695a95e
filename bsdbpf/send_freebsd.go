package bsdbpf

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

var errNoBoundIf = errors.New("binding a socket to an interface is macOS only; use a FIB on FreeBSD")

// setFIB puts fd in routing table fib (setfib(2), SO_SETFIB).
func setFIB(fd, fib int) error {
	return os.NewSyscallError("setsockopt SO_SETFIB", unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SETFIB, fib))
}

func bindInterface(fd int, ipv6 bool, ifindex int) error {
	return errNoBoundIf
}
