package apk3

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// stage writes a tree shaped like the wgstun one build-apk.sh stages.
func stage(t *testing.T) (string, map[string][]byte) {
	t.Helper()
	root := t.TempDir()
	files := map[string]struct {
		mode fs.FileMode
		data string
	}{
		"usr/bin/wgstun":                           {0o755, "#!/bin/sh\necho stub\n"},
		"etc/init.d/wgstun":                        {0o755, "#!/bin/sh /etc/rc.common\nUSE_PROCD=1\n"},
		"etc/config/wgstun":                        {0o600, "config wgstun 'main'\n\toption enabled '0'\n"},
		"lib/upgrade/keep.d/wgstun":                {0o644, "/etc/config/wgstun\n"},
		"lib/apk/packages/wgstun.conffiles":        {0o644, "/etc/config/wgstun\n"},
		"lib/apk/packages/wgstun.conffiles_static": {0o644, "/etc/config/wgstun 0000\n"},
		"lib/apk/packages/wgstun.list":             {0o644, "/etc/config/wgstun\n"},
		"usr/share/wgstun/big":                     {0o644, strings.Repeat("0123456789abcdef", 5000)}, // blob-free 80 kB file
	}
	want := map[string][]byte{}
	for p, f := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(f.data), f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(full, f.mode); err != nil {
			t.Fatal(err)
		}
		want["/"+p] = []byte(f.data)
	}
	return root, want
}

func testPackage(t *testing.T, root string, mtime int64) *Package {
	t.Helper()
	es, err := ReadTree(root, mtime)
	if err != nil {
		t.Fatal(err)
	}
	return &Package{
		Info: Info{
			Name: "wgstun", Version: "1.2.3-r1", Arch: "mipsel_24kc",
			Description: "Direct WireGuard paths", License: "MIT",
			Origin: "feeds/packages/net/wgstun", URL: "https://github.com/wgstun/wgstun",
			Maintainer: "wgstun developers <wgstun@users.noreply.github.com>",
		},
		Scripts: map[string][]byte{
			"post-install":  []byte("#!/bin/sh\ndefault_postinst\n"),
			"pre-deinstall": []byte("#!/bin/sh\ndefault_prerm\n"),
		},
		Entries: es,
	}
}

func TestPackageReadsBack(t *testing.T) {
	root, want := stage(t)
	p := testPackage(t, root, 1700000000)
	b, err := p.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAPK(b)
	if err != nil {
		t.Fatalf("reader: %v", err)
	}
	if got.Schema != "pckg" {
		t.Errorf("schema %q, want pckg", got.Schema)
	}
	if !slices.Equal(got.Blocks[:1], []int{0}) || slices.Contains(got.Blocks, 1) {
		t.Errorf("blocks %v: want ADB then DATA only (unsigned)", got.Blocks)
	}
	for k, v := range map[string]string{"name": "wgstun", "version": "1.2.3-r1", "arch": "mipsel_24kc",
		"description": "Direct WireGuard paths", "license": "MIT", "origin": "feeds/packages/net/wgstun",
		"url": "https://github.com/wgstun/wgstun", "maintainer": "wgstun developers <wgstun@users.noreply.github.com>"} {
		if got.Info[k] != v {
			t.Errorf("info %s = %q, want %q", k, got.Info[k], v)
		}
	}
	if got.Scripts["post-install"] != "#!/bin/sh\ndefault_postinst\n" || got.Scripts["pre-deinstall"] != "#!/bin/sh\ndefault_prerm\n" || len(got.Scripts) != 2 {
		t.Errorf("scripts %q", got.Scripts)
	}

	// Directories sorted, each with its ACL; the empty root is left out.
	var dirs []string
	for _, d := range got.Dirs {
		dirs = append(dirs, d.Name)
		if !d.HasACL || d.Mode != 0o755 || d.User != "root" || d.Group != "root" {
			t.Errorf("dir %q: acl %v %o %s:%s, want 755 root:root", d.Name, d.HasACL, d.Mode, d.User, d.Group)
		}
		if !slices.IsSortedFunc(d.Files, func(a, b *readFile) int { return strings.Compare(a.Name, b.Name) }) {
			t.Errorf("dir %q: files not sorted", d.Name)
		}
	}
	wantDirs := []string{"etc", "etc/config", "etc/init.d", "lib", "lib/apk", "lib/apk/packages", "lib/upgrade", "lib/upgrade/keep.d", "usr", "usr/bin", "usr/share", "usr/share/wgstun"}
	if !slices.Equal(dirs, wantDirs) {
		t.Errorf("dirs %q, want %q", dirs, wantDirs)
	}

	files := got.files()
	if len(files) != len(want) {
		t.Errorf("%d files, want %d", len(files), len(want))
	}
	modes := map[string]uint64{"/usr/bin/wgstun": 0o755, "/etc/init.d/wgstun": 0o755, "/etc/config/wgstun": 0o600}
	var installed uint64
	for p, data := range want {
		f := files[p]
		if f == nil {
			t.Errorf("%s missing", p)
			continue
		}
		if !bytes.Equal(f.Data, data) {
			t.Errorf("%s: data differs", p)
		}
		if sum := sha256.Sum256(data); !bytes.Equal(f.Hash, sum[:]) {
			t.Errorf("%s: hash %x, want %x", p, f.Hash, sum)
		}
		wm, ok := modes[p]
		if !ok {
			wm = 0o644
		}
		if f.Mode != wm || f.User != "root" || f.Group != "root" || f.MTime != 1700000000 {
			t.Errorf("%s: mode %o %s:%s mtime %d, want %o root:root 1700000000", p, f.Mode, f.User, f.Group, f.MTime, wm)
		}
		installed += uint64(len(data))
	}
	if got.InstalledSize != installed {
		t.Errorf("installed-size %d, want %d (the exact sum, as apk mkpkg 3.0 writes it)", got.InstalledSize, installed)
	}

	// The unique id is SHA-256 of the ADB payload with the id zeroed, cut to 20 bytes.
	if len(got.UniqueID) != 20 {
		t.Fatalf("unique id %x: want 20 bytes", got.UniqueID)
	}
	zeroed := bytes.Replace(got.ADB, got.UniqueID, make([]byte, 20), 1)
	if sum := sha256.Sum256(zeroed); !bytes.Equal(sum[:20], got.UniqueID) {
		t.Errorf("unique id %x, want %x", got.UniqueID, sum[:20])
	}
}

func TestReproducible(t *testing.T) {
	root, _ := stage(t)
	a, err := testPackage(t, root, 1700000000).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	b, err := testPackage(t, root, 1700000000).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("two builds of the same tree differ")
	}
	c, err := testPackage(t, root, 1700000001).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, c) {
		t.Error("a different mtime gave the same bytes")
	}
}

// The value encodings the writer picks, decoded by the independent reader.
func TestValueEncodings(t *testing.T) {
	ints := []struct {
		name string
		v    uint64
		typ  uint32
	}{
		{"zero", 0, 0x1},
		{"direct max", 0x0fffffff, 0x1},
		{"int32", 0x10000000, 0x2},
		{"int32 max", 0xffffffff, 0x2},
		{"int64", 0x100000000, 0x3},
	}
	for _, tc := range ints {
		t.Run(tc.name, func(t *testing.T) {
			w := newADBWriter()
			w.buf = append(w.buf, 1) // misalign, so alignment padding is exercised
			v := w.integer(tc.v)
			if tagType(v) != tc.typ {
				t.Errorf("type %#x, want %#x", tagType(v), tc.typ)
			}
			got, err := adbView{w.buf}.integer(v)
			if err != nil || got != tc.v {
				t.Errorf("read %d, %v; want %d", got, err, tc.v)
			}
		})
	}
	blobs := []struct {
		name string
		n    int
		typ  uint32
	}{
		{"empty is null", 0, 0x0},
		{"blob8", 255, 0x8},
		{"blob16", 256, 0x9},
		{"blob16 max", 0xffff, 0x9},
		{"blob32", 0x10000, 0xa},
	}
	for _, tc := range blobs {
		t.Run(tc.name, func(t *testing.T) {
			w := newADBWriter()
			w.buf = append(w.buf, 1)
			data := bytes.Repeat([]byte{'x'}, tc.n)
			v := w.blob(data)
			if tagType(v) != tc.typ {
				t.Errorf("type %#x, want %#x", tagType(v), tc.typ)
			}
			got, err := adbView{w.buf}.blob(v)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("read %d bytes, %v; want %d", len(got), err, tc.n)
			}
		})
	}
}

func TestBlocks(t *testing.T) {
	for _, n := range []int{0, 3, 4, 5, 11, 12} {
		b, err := appendBlock(nil, blockDATA, bytes.Repeat([]byte{7}, n))
		if err != nil {
			t.Fatal(err)
		}
		ts := binary.LittleEndian.Uint32(b)
		if ts>>30 != blockDATA || int(ts&0x3fffffff) != 4+n || len(b)%8 != 0 || len(b) < 4+n || len(b) >= 4+n+8 {
			t.Errorf("payload %d: header %#x, %d bytes", n, ts, len(b))
		}
	}
}

func TestDependencies(t *testing.T) {
	root, _ := stage(t)
	p := testPackage(t, root, 0)
	p.Info.Depends = []string{"kmod-wireguard", "libc>=1.2", "busybox", "kmod-wireguard", "zlib=1.3-r1", "b<2", "c>3", "d<=4"}
	p.Info.Provides = []string{"wgstun-any=1.2.3-r1"}
	b, err := p.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAPK(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []readDep{{"b", "2", 2}, {"busybox", "", 0}, {"c", "3", 4}, {"d", "4", 3}, {"kmod-wireguard", "", 0}, {"libc", "1.2", 5}, {"zlib", "1.3-r1", 0}}
	if !slices.Equal(got.Depends, want) {
		t.Errorf("depends %v, want %v (sorted, unique, = stored without match)", got.Depends, want)
	}
	if !slices.Equal(got.Provides, []readDep{{"wgstun-any", "1.2.3-r1", 0}}) {
		t.Errorf("provides %v", got.Provides)
	}
}

func TestInvalid(t *testing.T) {
	root, _ := stage(t)
	cases := []struct {
		name string
		mod  func(p *Package)
		want string
	}{
		{"version without digits", func(p *Package) { p.Info.Version = "dev" }, `version "dev"`},
		{"opkg style release", func(p *Package) { p.Info.Version = "1.2.3-1" }, `version "1.2.3-1"`},
		{"git describe", func(p *Package) { p.Info.Version = "1.2.3-4-gabcdef" }, `version "1.2.3-4-gabcdef"`},
		{"empty name", func(p *Package) { p.Info.Name = "" }, `name ""`},
		{"no arch", func(p *Package) { p.Info.Arch = "" }, `arch ""`},
		{"two-line description", func(p *Package) { p.Info.Description = "a\nb" }, "description: must be one line"},
		{"unknown script", func(p *Package) { p.Scripts["postinst"] = nil }, `script "postinst"`},
		{"bad dependency", func(p *Package) { p.Info.Depends = []string{"a>>1"} }, `dependency "a>>1"`},
		{"bad dependency version", func(p *Package) { p.Info.Depends = []string{"a>=x"} }, `version "x"`},
		{"absolute path", func(p *Package) { p.Entries = append(p.Entries, Entry{Path: "/x", Data: []byte{}}) }, `path "/x"`},
		{"dot dot", func(p *Package) { p.Entries = append(p.Entries, Entry{Path: "etc/../x", Data: []byte{}}) }, `path "etc/../x"`},
		{"orphan", func(p *Package) { p.Entries = append(p.Entries, Entry{Path: "opt/x", Data: []byte{}}) }, `parent directory "opt"`},
		{"duplicate", func(p *Package) { p.Entries = append(p.Entries, p.Entries[0]) }, "given twice"},
		{"type bits", func(p *Package) { p.Entries[0].Mode |= fs.ModeSymlink }, "type bits"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := testPackage(t, root, 0)
			tc.mod(p)
			_, err := p.Bytes()
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want ErrInvalid naming %s", err, tc.want)
			}
		})
	}
}

func TestReadTreeRefusesSymlink(t *testing.T) {
	root := t.TempDir()
	if err := os.Symlink("x", filepath.Join(root, "l")); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadTree(root, 0); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "l:") {
		t.Errorf("err %v, want ErrInvalid naming the link", err)
	}
}

func TestValidVersion(t *testing.T) {
	for v, ok := range map[string]bool{
		"0.1.0-r1": true, "1": true, "1.2.3": true, "1.2a": true, "1.2_rc1-r3": true, "1.2.3~0a1b2c-r1": true, "1.2_p1_git2": true,
		"": false, "v1.2": false, "1.2-1": false, "1..2": false, "1.2-r": false, "1.2~XYZ": false, "1.2 ": false,
	} {
		if ValidVersion(v) != ok {
			t.Errorf("ValidVersion(%q) = %v, want %v", v, !ok, ok)
		}
	}
}

func FuzzParseDependency(f *testing.F) {
	for _, s := range []string{"kmod-wireguard", "libc>=1.2", "a=1-r1", "a>>1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, op, ver, err := ParseDependency(s)
		if err != nil {
			return
		}
		if name+op+ver != s || (op != "" && !ValidVersion(ver)) || (op == "" && ver != "") {
			t.Errorf("%q parsed as %q %q %q", s, name, op, ver)
		}
	})
}

// TestBuiltPackages checks the packages build-apk.sh wrote, when test.sh points at them:
// APK3_CHECK_DIR holds ARCH/wgstun-VERSION.apk; the payload must equal the files named.
func TestBuiltPackages(t *testing.T) {
	dir := os.Getenv("APK3_CHECK_DIR")
	if dir == "" {
		t.Skip("APK3_CHECK_DIR not set (packaging/openwrt/test.sh sets it)")
	}
	version, bin, filesDir := os.Getenv("APK3_CHECK_VERSION"), os.Getenv("APK3_CHECK_BINARY"), os.Getenv("APK3_CHECK_FILES")
	arches := strings.Fields(os.Getenv("APK3_CHECK_ARCHES"))
	if len(arches) == 0 {
		t.Fatal("APK3_CHECK_ARCHES empty")
	}
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	conf := read(filepath.Join(filesDir, "wgstun.config"))
	confSum := sha256.Sum256(conf)
	want := map[string]struct {
		mode uint64
		data []byte
	}{
		"/usr/bin/wgstun":                           {0o755, read(bin)},
		"/usr/share/wgstun/plugins/cloudflare.sh":   {0o755, read(filepath.Join(filesDir, "..", "..", "..", "plugins", "cloudflare.sh"))},
		"/etc/init.d/wgstun":                        {0o755, read(filepath.Join(filesDir, "wgstun.init"))},
		"/etc/config/wgstun":                        {0o600, conf},
		"/lib/upgrade/keep.d/wgstun":                {0o644, []byte("/etc/config/wgstun\n")},
		"/lib/apk/packages/wgstun.conffiles":        {0o644, []byte("/etc/config/wgstun\n")},
		"/lib/apk/packages/wgstun.conffiles_static": {0o644, fmt.Appendf(nil, "/etc/config/wgstun %x\n", confSum)},
		"/lib/apk/packages/wgstun.list":             {0o644, []byte("/etc/config/wgstun\n/etc/init.d/wgstun\n/lib/upgrade/keep.d/wgstun\n/usr/bin/wgstun\n/usr/share/wgstun/plugins/cloudflare.sh\n")},
	}
	scripts := map[string][]byte{}
	for _, s := range []string{"post-install", "post-upgrade", "pre-deinstall"} {
		scripts[s] = read(filepath.Join(filesDir, "wgstun.apk-"+s))
	}
	for _, arch := range arches {
		t.Run(arch, func(t *testing.T) {
			got, err := readAPK(read(filepath.Join(dir, arch, "wgstun-"+version+".apk")))
			if err != nil {
				t.Fatalf("reader: %v", err)
			}
			if got.Info["name"] != "wgstun" || got.Info["version"] != version || got.Info["arch"] != arch {
				t.Errorf("name/version/arch %q %q %q", got.Info["name"], got.Info["version"], got.Info["arch"])
			}
			if got.Info["license"] != "MIT" {
				t.Errorf("license %q, want MIT (from the ipk's control)", got.Info["license"])
			}
			if want := os.Getenv("APK3_CHECK_DESCRIPTION"); got.Info["description"] != want {
				t.Errorf("description %q, want %q", got.Info["description"], want)
			}
			for _, k := range []string{"description", "origin", "url", "maintainer"} {
				if got.Info[k] == "" {
					t.Errorf("info %s empty", k)
				}
			}
			if len(got.Depends) != 0 {
				t.Errorf("depends %v: the static binary needs none", got.Depends)
			}
			if len(got.Scripts) != len(scripts) {
				t.Errorf("scripts %v", slices.Collect(maps.Keys(got.Scripts)))
			}
			for k, v := range scripts {
				if got.Scripts[k] != string(v) {
					t.Errorf("script %s differs from files/wgstun.apk-%s", k, k)
				}
			}
			files := got.files()
			if len(files) != len(want) {
				t.Errorf("files %v", slices.Sorted(maps.Keys(files)))
			}
			for p, w := range want {
				f := files[p]
				if f == nil {
					t.Errorf("%s missing", p)
					continue
				}
				if f.Mode != w.mode || f.User != "root" || f.Group != "root" || !bytes.Equal(f.Data, w.data) {
					t.Errorf("%s: mode %o %s:%s, %d bytes; want %o root:root, %d bytes as staged", p, f.Mode, f.User, f.Group, len(f.Data), w.mode, len(w.data))
				}
			}
		})
	}
}
