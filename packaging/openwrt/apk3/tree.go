package apk3

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ReadTree reads the staged tree under root into entries, every file with the mtime given
// (SOURCE_DATE_EPOCH, so builds are reproducible); owners are root:root, as under fakeroot.
// Only directories and regular files are allowed: the wgstun payload has nothing else, and a
// symlink or device is more likely a staging mistake than intent.
func ReadTree(root string, mtime int64) ([]Entry, error) {
	var es []Entry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel == "." {
			if !d.IsDir() {
				return fmt.Errorf("%w: %s is not a directory", ErrInvalid, root)
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := Entry{Path: filepath.ToSlash(rel), Mode: info.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)}
		switch {
		case d.IsDir():
			e.Dir = true
		case info.Mode().IsRegular():
			if e.Data, err = os.ReadFile(p); err != nil {
				return err
			}
			if e.Data == nil {
				e.Data = []byte{}
			}
			e.MTime = mtime
		default:
			return fmt.Errorf("%w: %s: %s files are not supported (only directories and regular files)", ErrInvalid, p, strings.TrimSpace(info.Mode().Type().String()))
		}
		es = append(es, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("apk3: read tree %s: %w", root, err)
	}
	return es, nil
}
