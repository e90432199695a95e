package bsdbpf

import "unsafe"

// NativeSys returns the running system's /dev/bpf calls: on FreeBSD and
// macOS (amd64, arm64) the descriptor is non-blocking and sits in Go's
// runtime poller, so Read waits without polling and Close ends a pending
// Read. Elsewhere every call fails with an error wrapping ErrNotSupported.
func NativeSys() Sys { return nativeSys() }

// unsupportedSys is the Sys of systems without /dev/bpf support.
func unsupportedSys() Sys {
	return Sys{
		Open:  func(string, int) (int, error) { return -1, ErrNotSupported },
		Ioctl: func(int, uint, unsafe.Pointer) error { return ErrNotSupported },
		Read:  func(int, []byte) (int, error) { return 0, ErrNotSupported },
		Close: func(int) error { return ErrNotSupported },
	}
}
