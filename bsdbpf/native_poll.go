//go:build linux || freebsd || darwin

package bsdbpf

import (
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// pollSys implements Sys with descriptors in Go's runtime poller (kqueue on
// the BSDs): Open makes the descriptor non-blocking and wraps it in an
// os.File, Read parks in the poller until the descriptor is readable, and
// Close closes the os.File, which wakes a parked Read. It builds on Linux
// too so its tests run there (on a FIFO); NativeSys uses it only on FreeBSD
// and macOS.
type pollSys struct {
	mu    sync.Mutex
	files map[int]*polledFile
}

type polledFile struct {
	f      *os.File
	rc     syscall.RawConn
	closed atomic.Bool
}

func newPollSys() Sys {
	s := &pollSys{files: map[int]*polledFile{}}
	return Sys{Open: s.open, Ioctl: s.ioctl, Read: s.read, Close: s.close}
}

func (s *pollSys) open(path string, mode int) (int, error) {
	fd, err := unix.Open(path, mode|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
	s.mu.Lock()
	s.files[fd] = &polledFile{f: f, rc: rc}
	s.mu.Unlock()
	return fd, nil
}

func (s *pollSys) file(fd int) (*polledFile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pf := s.files[fd]
	if pf == nil {
		return nil, net.ErrClosed
	}
	return pf, nil
}

func (s *pollSys) ioctl(fd int, req uint, arg unsafe.Pointer) error {
	pf, err := s.file(fd)
	if err != nil {
		return err
	}
	var errno syscall.Errno
	cerr := pf.rc.Control(func(fd uintptr) {
		for {
			_, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, uintptr(req), uintptr(arg))
			if errno != unix.EINTR {
				return
			}
		}
	})
	if cerr != nil {
		return pf.pollError(cerr)
	}
	if errno != 0 {
		return os.NewSyscallError("ioctl", errno)
	}
	return nil
}

func (s *pollSys) read(fd int, p []byte) (int, error) {
	pf, err := s.file(fd)
	if err != nil {
		return 0, err
	}
	var (
		n    int
		rerr error
	)
	err = pf.rc.Read(func(fd uintptr) bool {
		for {
			n, rerr = unix.Read(int(fd), p)
			if rerr != unix.EINTR {
				return rerr != unix.EAGAIN
			}
		}
	})
	if err != nil {
		return 0, pf.pollError(err)
	}
	if rerr != nil {
		return 0, os.NewSyscallError("read", rerr)
	}
	return n, nil
}

func (s *pollSys) close(fd int) error {
	s.mu.Lock()
	pf := s.files[fd]
	delete(s.files, fd)
	s.mu.Unlock()
	if pf == nil {
		return net.ErrClosed
	}
	pf.closed.Store(true)
	return pf.f.Close()
}

// pollError maps the poller's "use of closed file" to net.ErrClosed;
// other errors pass as they are.
func (pf *polledFile) pollError(err error) error {
	if pf.closed.Load() {
		return net.ErrClosed
	}
	return err
}
