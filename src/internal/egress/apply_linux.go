package egress

import (
	"os"

	"golang.org/x/sys/unix"
)

func apply(fd int, _ string, p Policy) error {
	if p.Mark == 0 {
		return nil
	}
	return os.NewSyscallError("setsockopt SO_MARK", unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(p.Mark)))
}
