package egress

import (
	"os"

	"golang.org/x/sys/unix"
)

func apply(fd int, _ string, p Policy) error {
	if p.FIB < 1 {
		return nil
	}
	return os.NewSyscallError("setsockopt SO_SETFIB", unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SETFIB, p.FIB))
}
