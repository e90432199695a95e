package apk3

import (
	"bytes"
	"cmp"
	"compress/flate"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
)

// Field indices of the package schemas (apk-tools src/apk_adb.h).
const (
	pkgInfo    = 1 // package: info
	pkgPaths   = 2 // package: paths
	pkgScripts = 3 // package: scripts
	pkgMax     = 6

	piName          = 1
	piVersion       = 2
	piHashes        = 3 // "unique id": first 20 bytes of SHA-256 of the ADB payload
	piDescription   = 4
	piArch          = 5
	piLicense       = 6
	piOrigin        = 7
	piMaintainer    = 8
	piURL           = 9
	piInstalledSize = 12
	piDepends       = 15
	piProvides      = 16
	piMax           = 22

	aclMode  = 1
	aclUser  = 2
	aclGroup = 3
	aclMax   = 5

	fiName  = 1
	fiACL   = 2
	fiSize  = 3
	fiMtime = 4
	fiHash  = 5
	fiMax   = 7

	diName  = 1
	diACL   = 2
	diFiles = 3
	diMax   = 4

	depName    = 1
	depVersion = 2
	depMatch   = 3
	depMax     = 4

	uniqueIDLen = 20 // SHA-1 length, filled from SHA-256 by apk mkpkg
)

// ScriptNames are the script slots of the package schema, in slot order (slot = index+1).
var ScriptNames = []string{"trigger", "pre-install", "post-install", "pre-deinstall", "post-deinstall", "pre-upgrade", "post-upgrade"}

// Info is the package metadata `apk mkpkg --info` takes. Name and Version are required.
type Info struct {
	Name, Version, Arch, Description, License, Origin, URL, Maintainer string
	Depends, Provides                                                  []string // "name" or "name<op>version"
}

// Entry is one path of the staged tree. Path is slash-separated and relative to the package
// root ("etc/config/wgstun"); directories have Dir set and no Data.
type Entry struct {
	Path  string
	Dir   bool
	Mode  fs.FileMode // permission bits (and setuid/setgid/sticky)
	MTime int64       // seconds since the epoch; files only
	Data  []byte
}

// Package is everything an .apk holds. Scripts maps a name of ScriptNames to its content.
type Package struct {
	Info    Info
	Scripts map[string][]byte
	Entries []Entry
}

var (
	ErrInvalid = errors.New("invalid package")

	// apk-tools' version grammar: digits, dot-separated digits, an optional letter, suffixes,
	// an optional ~hash and -rN.
	versionRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*[a-z]?(_(alpha|beta|pre|rc|cvs|svn|git|hg|p)[0-9]*)*(~[0-9a-f]+)?(-r[0-9]+)?$`)
	nameRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9+._-]*$`)
	depRE     = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9+._:/-]*)(?:(<=|>=|=|<|>)(.+))?$`)
)

// ValidVersion reports whether v is a version apk accepts.
func ValidVersion(v string) bool { return versionRE.MatchString(v) }

// Version match bits of a dependency (apk-tools src/apk_version.h).
const (
	matchEqual   = 1
	matchLess    = 2
	matchGreater = 4
)

type dependency struct {
	name, version string
	match         uint64 // 0: any version
}

// ParseDependency parses "name" or "name<op>version" with op one of = < > <= >=.
func ParseDependency(s string) (name, op, version string, err error) {
	m := depRE.FindStringSubmatch(s)
	if m == nil {
		return "", "", "", fmt.Errorf("%w: dependency %q: want name or name<op>version with op = < > <= >=", ErrInvalid, s)
	}
	if m[2] != "" && !ValidVersion(m[3]) {
		return "", "", "", fmt.Errorf("%w: dependency %q: version %q is not an apk version", ErrInvalid, s, m[3])
	}
	return m[1], m[2], m[3], nil
}

func parseDependencies(field string, list []string) ([]dependency, error) {
	var deps []dependency
	for _, s := range list {
		name, op, ver, err := ParseDependency(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		d := dependency{name: name, version: ver}
		switch op {
		case "=":
			d.match = matchEqual
		case "<":
			d.match = matchLess
		case ">":
			d.match = matchGreater
		case "<=":
			d.match = matchLess | matchEqual
		case ">=":
			d.match = matchGreater | matchEqual
		}
		deps = append(deps, d)
	}
	// Sorted and unique, as the schema's pre-commit does.
	slices.SortFunc(deps, func(a, b dependency) int {
		return cmp.Or(strings.Compare(a.name, b.name), strings.Compare(a.version, b.version), cmp.Compare(a.match, b.match))
	})
	return slices.Compact(deps), nil
}

func (p *Package) validate() error {
	var probs []string
	i := p.Info
	if !nameRE.MatchString(i.Name) {
		probs = append(probs, fmt.Sprintf("name %q: want letters, digits and + . _ - starting with a letter or digit", i.Name))
	}
	if !ValidVersion(i.Version) {
		probs = append(probs, fmt.Sprintf("version %q: not an apk version (e.g. 1.2.3-r1)", i.Version))
	}
	if i.Arch == "" || strings.ContainsAny(i.Arch, " \t\n/") {
		probs = append(probs, fmt.Sprintf("arch %q: want an opkg architecture name such as mipsel_24kc or noarch", i.Arch))
	}
	for k, v := range map[string]string{"description": i.Description, "license": i.License, "origin": i.Origin, "url": i.URL, "maintainer": i.Maintainer} {
		if strings.ContainsAny(v, "\n\r") {
			probs = append(probs, k+": must be one line")
		}
	}
	for k := range p.Scripts {
		if !slices.Contains(ScriptNames, k) {
			probs = append(probs, fmt.Sprintf("script %q: not one of %s", k, strings.Join(ScriptNames, " ")))
		}
	}
	seen := map[string]bool{}
	for _, e := range p.Entries {
		switch {
		case e.Path == "" || strings.HasPrefix(e.Path, "/") || strings.HasSuffix(e.Path, "/") || slices.Contains(strings.Split(e.Path, "/"), "..") || slices.Contains(strings.Split(e.Path, "/"), "."):
			probs = append(probs, fmt.Sprintf("path %q: want a clean relative path", e.Path))
		case seen[e.Path]:
			probs = append(probs, fmt.Sprintf("path %q: given twice", e.Path))
		case e.Mode&^(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0:
			probs = append(probs, fmt.Sprintf("path %q: mode %v has type bits; give permissions only", e.Path, e.Mode))
		case e.Dir && e.Data != nil:
			probs = append(probs, fmt.Sprintf("path %q: a directory with data", e.Path))
		}
		seen[e.Path] = true
	}
	for _, e := range p.Entries {
		if d := parent(e.Path); d != "" && !isDir(p.Entries, d) {
			probs = append(probs, fmt.Sprintf("path %q: parent directory %q is not an entry", e.Path, d))
		}
	}
	if len(probs) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(probs, "; "))
	}
	return nil
}

func parent(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

func isDir(es []Entry, p string) bool {
	for _, e := range es {
		if e.Path == p {
			return e.Dir
		}
	}
	return false
}

// acl mode bits as apk stores them: permissions plus setuid/setgid/sticky as 04000/02000/01000.
func unixMode(m fs.FileMode) uint64 {
	u := uint64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

// Bytes returns the .apk: the ADB block describing the package, no signature (install with
// apk add --allow-untrusted), then one DATA block per non-empty file, deflate-compressed
// behind "ADBd". Equal packages give equal bytes.
func (p *Package) Bytes() ([]byte, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	deps, err := parseDependencies("depends", p.Info.Depends)
	if err != nil {
		return nil, err
	}
	provs, err := parseDependencies("provides", p.Info.Provides)
	if err != nil {
		return nil, err
	}

	w := newADBWriter()
	info := make([]uint32, piMax)
	info[piName] = w.str(p.Info.Name)
	info[piVersion] = w.str(p.Info.Version)
	info[piDescription] = w.str(p.Info.Description)
	info[piArch] = w.str(p.Info.Arch)
	info[piLicense] = w.str(p.Info.License)
	info[piOrigin] = w.str(p.Info.Origin)
	info[piMaintainer] = w.str(p.Info.Maintainer)
	info[piURL] = w.str(p.Info.URL)
	info[piDepends] = w.depList(deps)
	info[piProvides] = w.depList(provs)

	// Directories with their files, both sorted by name (the schema's pre-commit sort). The
	// root directory is left out when it holds no files, as apk mkpkg --no-rootnode does.
	type dir struct {
		entry Entry
		files []Entry
	}
	dirs := map[string]*dir{}
	for _, e := range p.Entries {
		if e.Dir {
			dirs[e.Path] = &dir{entry: e}
		}
	}
	var rootFiles []Entry
	for _, e := range p.Entries {
		if e.Dir {
			continue
		}
		if d := parent(e.Path); d == "" {
			rootFiles = append(rootFiles, e)
		} else {
			dirs[d].files = append(dirs[d].files, e)
		}
	}
	if len(rootFiles) > 0 {
		dirs[""] = &dir{entry: Entry{Dir: true, Mode: 0o755}, files: rootFiles}
	}
	names := make([]string, 0, len(dirs))
	for n := range dirs {
		names = append(names, n)
	}
	slices.Sort(names)

	var installed uint64
	root := w.str("root")
	paths := make([]uint32, 0, len(names))
	for _, n := range names {
		d := dirs[n]
		slices.SortFunc(d.files, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) })
		dv := make([]uint32, diMax)
		dv[diName] = w.str(n)
		dv[diACL] = w.acl(unixMode(d.entry.Mode), root)
		files := make([]uint32, 0, len(d.files))
		for _, f := range d.files {
			sum := sha256.Sum256(f.Data)
			fv := make([]uint32, fiMax)
			fv[fiName] = w.str(f.Path[len(n)+boolInt(n != ""):])
			fv[fiHash] = w.blob(sum[:])
			fv[fiMtime] = w.integer(uint64(max(f.MTime, 0)))
			fv[fiSize] = w.integer(uint64(len(f.Data)))
			fv[fiACL] = w.acl(unixMode(f.Mode), root)
			files = append(files, w.object(typeObject, fv))
			installed += uint64(len(f.Data)) // apk mkpkg (3.0) sums the sizes exactly
		}
		// apk mkpkg stores these lists with the object tag; readers take either.
		dv[diFiles] = w.list(typeObject, files)
		paths = append(paths, w.object(typeObject, dv))
	}
	info[piInstalledSize] = w.integer(installed)
	info[piHashes] = w.blob(make([]byte, uniqueIDLen))

	pkg := make([]uint32, pkgMax)
	pkg[pkgInfo] = w.object(typeObject, info)
	pkg[pkgPaths] = w.list(typeObject, paths)
	if len(p.Scripts) > 0 {
		sv := make([]uint32, len(ScriptNames)+1)
		for i, n := range ScriptNames {
			sv[i+1] = w.blob(p.Scripts[n])
		}
		pkg[pkgScripts] = w.object(typeObject, sv)
	}
	w.setRoot(w.object(typeObject, pkg))
	if w.err != nil {
		return nil, w.err
	}

	// The unique id: the first 20 bytes of SHA-256 of the payload written with zeros there.
	id := sha256.Sum256(w.buf)
	off := info[piHashes] & valueMask
	copy(w.buf[off+1:off+1+uniqueIDLen], id[:uniqueIDLen])

	stream := []byte(fileMagic)
	stream = binary.LittleEndian.AppendUint32(stream, schemaPackage)
	if stream, err = appendBlock(stream, blockADB, w.buf); err != nil {
		return nil, err
	}
	for i, n := range names {
		for j, f := range dirs[n].files {
			if len(f.Data) == 0 {
				continue
			}
			var idx [8]byte
			binary.LittleEndian.PutUint32(idx[0:], uint32(i+1))
			binary.LittleEndian.PutUint32(idx[4:], uint32(j+1))
			if stream, err = appendBlock(stream, blockDATA, idx[:], f.Data); err != nil {
				return nil, fmt.Errorf("apk3: %s: %w", f.Path, err)
			}
		}
	}

	var out bytes.Buffer
	out.WriteString(deflateMagic)
	zw, err := flate.NewWriter(&out, flate.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(stream); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (w *adbWriter) acl(mode uint64, owner uint32) uint32 {
	v := make([]uint32, aclMax)
	v[aclMode] = w.integer(mode)
	v[aclUser] = owner
	v[aclGroup] = owner
	return w.object(typeObject, v)
}

func (w *adbWriter) depList(deps []dependency) uint32 {
	items := make([]uint32, 0, len(deps))
	for _, d := range deps {
		v := make([]uint32, depMax)
		v[depName] = w.str(d.name)
		if d.match != 0 {
			v[depVersion] = w.str(d.version)
			if d.match != matchEqual {
				v[depMatch] = w.integer(d.match)
			}
		}
		items = append(items, w.object(typeObject, v))
	}
	return w.list(typeObject, items)
}
