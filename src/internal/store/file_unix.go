//go:build unix

package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// openNoFollow opens path for reading without following a symlink in its
// last element (ELOOP, said in words) and without blocking on a FIFO.
func openNoFollow(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, errors.New("a symlink; refusing to follow it")
	}
	return f, err
}

// ownedBy accepts a file owned by the daemon's user or by the owner of
// dir, the store's directory.
func ownedBy(fi fs.FileInfo, dir string) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if int(st.Uid) == os.Geteuid() {
		return nil
	}
	if di, err := os.Stat(filepath.Clean(dir)); err == nil {
		if ds, ok := di.Sys().(*syscall.Stat_t); ok && ds.Uid == st.Uid {
			return nil
		}
	}
	return fmt.Errorf("owned by uid %d, neither this daemon's user nor the directory's owner; refusing to read it", st.Uid)
}
