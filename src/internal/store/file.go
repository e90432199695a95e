package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// maxFileSize bounds what Get reads from one file; a record is a few
// hundred bytes.
const maxFileSize = 64 << 10

// File keeps each value in its own file, named by the key, in one
// directory. Useful with a shared or synchronised directory (NFS, Syncthing)
// and for tests.
type File struct {
	dir string
}

// NewFile returns a store in dir, creating it (and missing parents) with
// mode 0700 if it does not exist. An existing directory is used as it is:
// its mode is the administrator's choice (a directory shared with a sync
// tool may need to be group-readable, and values are sealed anyway).
func NewFile(dir string) (*File, error) {
	if dir == "" {
		return nil, errors.New("store: file: empty directory name")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: file: create %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("store: file: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("store: file: %s is not a directory", dir)
	}
	return &File{dir: dir}, nil
}

// String names the store for logs.
func (f *File) String() string { return "file:" + f.dir }

// Get returns the content of the key's file as it is (a truncated or
// damaged value is returned for the record opener to refuse). A missing
// file, and a file that is empty or holds only whitespace, match
// ErrNotFound: atomic replacement never leaves an empty file behind, so an
// empty one was emptied on purpose and means "no record", as an empty get
// does in the plugin protocols.
func (f *File) Get(ctx context.Context, key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", fmt.Errorf("store: file get: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("store: file get %s: %w", key, err)
	}
	path := filepath.Join(f.dir, key)
	fh, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("store: file get %s: %w", path, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("store: file get: %w", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxFileSize+1))
	if err != nil {
		return "", fmt.Errorf("store: file get: %w", err)
	}
	if len(b) > maxFileSize {
		return "", fmt.Errorf("store: file get %s: larger than %d bytes", path, maxFileSize)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return "", fmt.Errorf("store: file get %s: empty file: %w", path, ErrNotFound)
	}
	return string(b), nil
}

// Set replaces the key's file atomically: the value is written to a
// temporary file (mode 0600) in the same directory, synced, and renamed
// over the old one, and the directory is synced. Readers see the old or the
// new value, never a mix.
func (f *File) Set(ctx context.Context, key, value string) error {
	if err := CheckKey(key); err != nil {
		return fmt.Errorf("store: file set: %w", err)
	}
	if value == "" {
		return fmt.Errorf("store: file set %s: %w: empty", key, ErrInvalidValue)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: file set %s: %w", key, err)
	}
	// The leading dot keeps temporary names from ever being a valid key.
	tmp, err := os.CreateTemp(f.dir, "."+key+".tmp*")
	if err != nil {
		return fmt.Errorf("store: file set: %w", err)
	}
	tmpName := tmp.Name()
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("store: file set: %w", err)
	}
	if _, err := tmp.WriteString(value); err != nil {
		return fmt.Errorf("store: file set: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("store: file set: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("store: file set: %w", err)
	}
	path := filepath.Join(f.dir, key)
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("store: file set: %w", err)
	}
	committed = true
	syncDir(f.dir)
	return nil
}

// syncDir makes a rename in dir durable where the OS supports it; failure
// is ignored (the rename itself already happened, and some systems refuse
// to sync a directory).
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	d.Close()
}
