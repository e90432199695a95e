package apk3

// An apk v3 reader written for the tests from apk-tools' documentation (doc/apk-v3.5.scd,
// src/adb.h, src/apk_adb.h), sharing no code with the writer: it decodes every tag itself,
// bounds-checks every offset and checks the alignment rules, so a writer bug shows up as a
// read error or a wrong value rather than being mirrored.

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
)

type readFile struct {
	Name        string
	Mode        uint64
	User, Group string
	Size, MTime uint64
	Hash        []byte
	Data        []byte // from the DATA block
}

type readDir struct {
	Name        string
	HasACL      bool
	Mode        uint64
	User, Group string
	Files       []*readFile
}

type readDep struct {
	Name, Version string
	Match         uint64
}

type readPkg struct {
	Schema        string
	Info          map[string]string // string fields by schema name
	InstalledSize uint64
	UniqueID      []byte
	Depends       []readDep
	Provides      []readDep
	Dirs          []*readDir
	Scripts       map[string]string
	ADB           []byte // ADB block payload
	Blocks        []int  // block types in order
}

// adbView decodes values inside one ADB payload.
type adbView struct{ b []byte }

func tagType(v uint32) uint32  { return v >> 28 }
func tagValue(v uint32) uint32 { return v & 0x0fffffff }

func (a adbView) u32(off uint64) (uint32, error) {
	if off+4 > uint64(len(a.b)) {
		return 0, fmt.Errorf("u32 at %d past the end (%d)", off, len(a.b))
	}
	return binary.LittleEndian.Uint32(a.b[off:]), nil
}

func (a adbView) blob(v uint32) ([]byte, error) {
	off := uint64(tagValue(v))
	var n, hdr uint64
	switch tagType(v) {
	case 0x0:
		if v != 0 {
			return nil, fmt.Errorf("special %#x where a blob belongs", v)
		}
		return nil, nil
	case 0x8:
		hdr = 1
		if off+1 > uint64(len(a.b)) {
			return nil, fmt.Errorf("blob8 at %d past the end", off)
		}
		n = uint64(a.b[off])
	case 0x9:
		hdr = 2
		if off%2 != 0 || off+2 > uint64(len(a.b)) {
			return nil, fmt.Errorf("blob16 at %d misaligned or past the end", off)
		}
		n = uint64(binary.LittleEndian.Uint16(a.b[off:]))
	case 0xa:
		hdr = 4
		if off%4 != 0 || off+4 > uint64(len(a.b)) {
			return nil, fmt.Errorf("blob32 at %d misaligned or past the end", off)
		}
		n = uint64(binary.LittleEndian.Uint32(a.b[off:]))
	default:
		return nil, fmt.Errorf("type %#x where a blob belongs", tagType(v))
	}
	if off+hdr+n > uint64(len(a.b)) {
		return nil, fmt.Errorf("blob at %d of %d bytes past the end (%d)", off, n, len(a.b))
	}
	return a.b[off+hdr : off+hdr+n], nil
}

func (a adbView) integer(v uint32) (uint64, error) {
	off := uint64(tagValue(v))
	switch tagType(v) {
	case 0x0:
		if v != 0 {
			return 0, fmt.Errorf("special %#x where an int belongs", v)
		}
		return 0, nil
	case 0x1:
		return uint64(tagValue(v)), nil
	case 0x2:
		if off%4 != 0 {
			return 0, fmt.Errorf("int32 at %d misaligned", off)
		}
		x, err := a.u32(off)
		return uint64(x), err
	case 0x3:
		if off%4 != 0 || off+8 > uint64(len(a.b)) {
			return 0, fmt.Errorf("int64 at %d misaligned or past the end", off)
		}
		return binary.LittleEndian.Uint64(a.b[off:]), nil
	}
	return 0, fmt.Errorf("type %#x where an int belongs", tagType(v))
}

// slots returns slot values 1..n-1 indexed from 1 (index 0 unused); null gives an empty list.
func (a adbView) slots(v uint32, wantObject bool) ([]uint32, error) {
	if v == 0 {
		return []uint32{0}, nil
	}
	t := tagType(v)
	if t != 0xd && t != 0xe {
		return nil, fmt.Errorf("type %#x where an object or array belongs", t)
	}
	off := uint64(tagValue(v))
	if off%4 != 0 {
		return nil, fmt.Errorf("object at %d misaligned", off)
	}
	n, err := a.u32(off)
	if err != nil {
		return nil, err
	}
	if n < 1 || off+4*uint64(n) > uint64(len(a.b)) {
		return nil, fmt.Errorf("object at %d with %d slots past the end", off, n)
	}
	s := make([]uint32, n)
	for i := uint32(1); i < n; i++ {
		s[i] = binary.LittleEndian.Uint32(a.b[off+4*uint64(i):])
	}
	return s, nil
}

func slot(s []uint32, i int) uint32 {
	if i < len(s) {
		return s[i]
	}
	return 0
}

func (a adbView) str(s []uint32, i int) (string, error) {
	b, err := a.blob(slot(s, i))
	return string(b), err
}

func (a adbView) acl(v uint32) (mode uint64, user, group string, err error) {
	s, err := a.slots(v, true)
	if err != nil {
		return 0, "", "", err
	}
	if mode, err = a.integer(slot(s, 1)); err != nil {
		return
	}
	if user, err = a.str(s, 2); err != nil {
		return
	}
	group, err = a.str(s, 3)
	return
}

func (a adbView) deps(v uint32) ([]readDep, error) {
	items, err := a.slots(v, false)
	if err != nil {
		return nil, err
	}
	var ds []readDep
	for _, it := range items[1:] {
		s, err := a.slots(it, true)
		if err != nil {
			return nil, err
		}
		var d readDep
		if d.Name, err = a.str(s, 1); err != nil {
			return nil, err
		}
		if d.Version, err = a.str(s, 2); err != nil {
			return nil, err
		}
		if d.Match, err = a.integer(slot(s, 3)); err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// readAPK parses a whole .apk.
func readAPK(file []byte) (*readPkg, error) {
	var stream []byte
	switch {
	case bytes.HasPrefix(file, []byte("ADBd")):
		var err error
		if stream, err = io.ReadAll(flate.NewReader(bytes.NewReader(file[4:]))); err != nil {
			return nil, fmt.Errorf("inflate: %w", err)
		}
	case bytes.HasPrefix(file, []byte("ADB.")):
		stream = file
	default:
		return nil, fmt.Errorf("no ADB magic: % x", file[:min(4, len(file))])
	}
	if len(stream) < 8 || string(stream[:4]) != "ADB." {
		return nil, fmt.Errorf("stream magic % x, want ADB.", stream[:min(4, len(stream))])
	}
	p := &readPkg{Schema: string(stream[4:8]), Info: map[string]string{}, Scripts: map[string]string{}}
	rest := stream[8:]
	var data [][]byte
	for len(rest) > 0 {
		if len(rest) < 4 {
			return nil, fmt.Errorf("%d stray bytes after the last block", len(rest))
		}
		ts := binary.LittleEndian.Uint32(rest)
		typ, raw := int(ts>>30), int(ts&0x3fffffff)
		if typ == 3 {
			return nil, fmt.Errorf("extended block header (not expected for small packages)")
		}
		padded := (raw + 7) &^ 7
		if raw < 4 || padded > len(rest) {
			return nil, fmt.Errorf("block of type %d and size %d past the end (%d left)", typ, raw, len(rest))
		}
		for _, c := range rest[raw:padded] {
			if c != 0 {
				return nil, fmt.Errorf("non-zero block padding")
			}
		}
		payload := rest[4:raw]
		switch {
		case len(p.Blocks) == 0 && typ != 0:
			return nil, fmt.Errorf("first block has type %d, want ADB (0)", typ)
		case len(p.Blocks) > 0 && typ == 0:
			return nil, fmt.Errorf("second ADB block")
		case typ == 1 && p.Blocks[len(p.Blocks)-1] != 0:
			return nil, fmt.Errorf("SIG block after a DATA block")
		}
		p.Blocks = append(p.Blocks, typ)
		switch typ {
		case 0:
			p.ADB = payload
		case 2:
			data = append(data, payload)
		}
		rest = rest[padded:]
	}
	if p.ADB == nil {
		return nil, fmt.Errorf("no ADB block")
	}
	if len(p.ADB) < 8 || p.ADB[0] != 0 {
		return nil, fmt.Errorf("ADB header % x: want compat version 0", p.ADB[:min(8, len(p.ADB))])
	}
	a := adbView{p.ADB}
	root, err := a.slots(binary.LittleEndian.Uint32(p.ADB[4:]), true)
	if err != nil {
		return nil, fmt.Errorf("root: %w", err)
	}
	info, err := a.slots(slot(root, 1), true)
	if err != nil {
		return nil, fmt.Errorf("info: %w", err)
	}
	for i, name := range map[int]string{1: "name", 2: "version", 4: "description", 5: "arch", 6: "license", 7: "origin", 8: "maintainer", 9: "url"} {
		if p.Info[name], err = a.str(info, i); err != nil {
			return nil, fmt.Errorf("info %s: %w", name, err)
		}
	}
	if p.UniqueID, err = a.blob(slot(info, 3)); err != nil {
		return nil, fmt.Errorf("info hashes: %w", err)
	}
	if p.InstalledSize, err = a.integer(slot(info, 12)); err != nil {
		return nil, fmt.Errorf("installed-size: %w", err)
	}
	if p.Depends, err = a.deps(slot(info, 15)); err != nil {
		return nil, fmt.Errorf("depends: %w", err)
	}
	if p.Provides, err = a.deps(slot(info, 16)); err != nil {
		return nil, fmt.Errorf("provides: %w", err)
	}
	scripts, err := a.slots(slot(root, 3), true)
	if err != nil {
		return nil, fmt.Errorf("scripts: %w", err)
	}
	for i, name := range []string{"trigger", "pre-install", "post-install", "pre-deinstall", "post-deinstall", "pre-upgrade", "post-upgrade"} {
		s, err := a.str(scripts, i+1)
		if err != nil {
			return nil, fmt.Errorf("script %s: %w", name, err)
		}
		if s != "" {
			p.Scripts[name] = s
		}
	}
	paths, err := a.slots(slot(root, 2), false)
	if err != nil {
		return nil, fmt.Errorf("paths: %w", err)
	}
	type ref struct{ dir, file int }
	var want []ref
	for i, pv := range paths[1:] {
		ds, err := a.slots(pv, true)
		if err != nil {
			return nil, fmt.Errorf("path %d: %w", i+1, err)
		}
		d := &readDir{}
		if d.Name, err = a.str(ds, 1); err != nil {
			return nil, err
		}
		if slot(ds, 2) != 0 {
			d.HasACL = true
			if d.Mode, d.User, d.Group, err = a.acl(slot(ds, 2)); err != nil {
				return nil, fmt.Errorf("dir %q acl: %w", d.Name, err)
			}
		}
		files, err := a.slots(slot(ds, 3), false)
		if err != nil {
			return nil, fmt.Errorf("dir %q files: %w", d.Name, err)
		}
		for j, fv := range files[1:] {
			fs, err := a.slots(fv, true)
			if err != nil {
				return nil, fmt.Errorf("dir %q file %d: %w", d.Name, j+1, err)
			}
			f := &readFile{}
			if f.Name, err = a.str(fs, 1); err != nil {
				return nil, err
			}
			if f.Mode, f.User, f.Group, err = a.acl(slot(fs, 2)); err != nil {
				return nil, fmt.Errorf("file %q acl: %w", f.Name, err)
			}
			if f.Size, err = a.integer(slot(fs, 3)); err != nil {
				return nil, err
			}
			if f.MTime, err = a.integer(slot(fs, 4)); err != nil {
				return nil, err
			}
			if f.Hash, err = a.blob(slot(fs, 5)); err != nil {
				return nil, err
			}
			if slot(fs, 6) != 0 {
				return nil, fmt.Errorf("file %q has a link target", f.Name)
			}
			d.Files = append(d.Files, f)
			if f.Size > 0 {
				want = append(want, ref{i, j})
			}
		}
		p.Dirs = append(p.Dirs, d)
	}
	// DATA blocks: one per non-empty file, in path/file order, each naming its file.
	if len(data) != len(want) {
		return nil, fmt.Errorf("%d DATA blocks for %d non-empty files", len(data), len(want))
	}
	for k, blk := range data {
		if len(blk) < 8 {
			return nil, fmt.Errorf("DATA block %d shorter than its header", k)
		}
		pi, fi := binary.LittleEndian.Uint32(blk), binary.LittleEndian.Uint32(blk[4:])
		if int(pi) != want[k].dir+1 || int(fi) != want[k].file+1 {
			return nil, fmt.Errorf("DATA block %d names path %d file %d, want %d/%d", k, pi, fi, want[k].dir+1, want[k].file+1)
		}
		f := p.Dirs[want[k].dir].Files[want[k].file]
		f.Data = blk[8:]
		if uint64(len(f.Data)) != f.Size {
			return nil, fmt.Errorf("file %q: %d data bytes, size says %d", f.Name, len(f.Data), f.Size)
		}
		if sum := sha256.Sum256(f.Data); !bytes.Equal(sum[:], f.Hash) {
			return nil, fmt.Errorf("file %q: data SHA-256 %x, hash field %x", f.Name, sum, f.Hash)
		}
	}
	return p, nil
}

// files returns the package's files by absolute path.
func (p *readPkg) files() map[string]*readFile {
	m := map[string]*readFile{}
	for _, d := range p.Dirs {
		for _, f := range d.Files {
			full := "/" + f.Name
			if d.Name != "" {
				full = "/" + d.Name + "/" + f.Name
			}
			m[full] = f
		}
	}
	return m
}
