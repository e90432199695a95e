// Package netns runs code inside a named network namespace, for tests that
// open sockets in namespaces they made with `ip netns add`. It has no
// dependencies on wgstun's packages, so any package's tests can use it
// (package e2e's cannot be imported by the packages it depends on).
package netns

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotSupported: this OS has no network namespaces.
var ErrNotSupported = errors.New("netns: network namespaces are not supported on this OS")

// Do locks the calling goroutine to its OS thread, moves the thread into
// the named network namespace (/var/run/netns/NAME), runs fn and moves the
// thread back. Sockets that fn creates on the calling goroutine belong to
// that namespace for their whole life and may be used from anywhere
// afterwards; goroutines that fn starts run in the original namespace. A
// thread that cannot move back stays locked, so it ends with the goroutine
// instead of running others in the wrong namespace.
func Do(name string, fn func() error) error {
	if name == "" || strings.ContainsRune(name, '/') || name == "." || name == ".." {
		return fmt.Errorf("netns %q: bad name", name)
	}
	return do(name, fn)
}
