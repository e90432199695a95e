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

// maxStuck is how many file system calls of one File store may hang at
// once (a dead NFS server) before further calls fail at once.
const maxStuck = 8

// File keeps each value in its own file, named by the key, in one
// directory. Useful with a shared or synchronised directory (NFS, Syncthing)
// and for tests.
//
// The directory is not trusted further than its owner: Get opens a key's
// file without following a symlink and without waiting on a FIFO, and
// takes only a regular file owned by the daemon's user or the directory's
// owner (a sync tool running as that user). Every call returns when its
// context ends even if the file system does not answer: the work runs
// beside it, and at most maxStuck such calls may be left hanging.
type File struct {
	dir   string
	slots chan struct{}
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
	return &File{dir: dir, slots: make(chan struct{}, maxStuck)}, nil
}

// abandonable runs fn beside the caller and returns its error, or the
// context's when that ends first; fn then finishes (or hangs) on its own,
// holding one of f's slots until it does.
func (f *File) abandonable(ctx context.Context, fn func() error) error {
	select {
	case f.slots <- struct{}{}:
	default:
		return fmt.Errorf("%d calls to %s are still hanging (is the file system responding?)", maxStuck, f.dir)
	}
	done := make(chan error, 1)
	go func() {
		done <- fn()
		<-f.slots
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%s did not answer: %w", f.dir, ctx.Err())
	}
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
	var b []byte
	err := f.abandonable(ctx, func() error {
		var err error
		b, err = f.read(path)
		return err
	})
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("store: file get %s: %w", path, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("store: file get %s: %w", path, err)
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
	if err := f.abandonable(ctx, func() error { return f.write(key, value) }); err != nil {
		return fmt.Errorf("store: file set %s: %w", key, err)
	}
	return nil
}

// read returns the content of the file at path: a regular file owned by
// the daemon's user or the directory's owner, of at most maxFileSize
// bytes, opened without following a symlink or waiting on a FIFO.
func (f *File) read(path string) ([]byte, error) {
	fh, err := openNoFollow(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s); refusing to read it", fi.Mode().Type())
	}
	if err := ownedBy(fi, f.dir); err != nil {
		return nil, err
	}
	if fi.Size() > maxFileSize {
		return nil, fmt.Errorf("%d bytes, larger than %d", fi.Size(), maxFileSize)
	}
	b, err := io.ReadAll(io.LimitReader(fh, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("larger than %d bytes", maxFileSize)
	}
	return b, nil
}

// write replaces key's file with value (see Set).
func (f *File) write(key, value string) error {
	// The leading dot keeps temporary names from ever being a valid key.
	tmp, err := os.CreateTemp(f.dir, "."+key+".tmp*")
	if err != nil {
		return err
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
		return err
	}
	if _, err := tmp.WriteString(value); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	path := filepath.Join(f.dir, key)
	if err := os.Rename(tmpName, path); err != nil {
		return err
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
