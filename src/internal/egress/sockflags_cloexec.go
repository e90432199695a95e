//go:build linux || freebsd

package egress

import "golang.org/x/sys/unix"

const sockFlags = unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC
