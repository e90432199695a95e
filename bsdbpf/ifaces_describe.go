package bsdbpf

import (
	"errors"
	"fmt"
	"slices"
	"unsafe"
)

var errNotSelectable = errors.New("interface missing or down")

// IfaceInfo describes one interface Listen would capture on.
type IfaceInfo struct {
	Name string
	// DLT is the interface's link type (BIOCGDLT); valid when Err is nil.
	DLT uint32
	// Supported reports whether this package has a filter for DLT;
	// Listen skips the interface when it has not.
	Supported bool
	// Err says why the interface could not be looked at: /dev/bpf could
	// not be opened or attached, or a listed interface is missing or down.
	Err error
}

// LinkType names the link type as tcpdump does (EN10MB, NULL, LOOP, RAW)
// or, for one without a filter, "unknown (N)".
func (i IfaceInfo) LinkType() string {
	switch i.DLT {
	case dltNull:
		return "NULL"
	case dltEN10MB:
		return "EN10MB"
	case dltRaw:
		return "RAW"
	case dltLoop:
		return "LOOP"
	}
	return fmt.Sprintf("unknown (%d)", i.DLT)
}

// Describe lists the interfaces Listen with opts would capture on for the
// family (ipv6 or not) now, and reads each one's link type: it opens a
// /dev/bpf device, attaches it (BIOCSETIF), asks BIOCGDLT and closes it
// again. A name in opts.Capture that is missing or down is listed with
// Err set. The error is for failures that leave nothing to describe
// (interface listing, no /dev/bpf support); per-interface failures are in
// IfaceInfo.Err. It needs root, like Listen.
func Describe(ipv6 bool, opts Options) ([]IfaceInfo, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("bsdbpf: describe interfaces: %w", err)
	}
	all, err := opts.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("bsdbpf: list interfaces: %w", err)
	}
	names := selectIfaces(all, opts.Capture, ipv6, opts.OS)
	var out []IfaceInfo
	for _, want := range opts.Capture {
		if !slices.Contains(names, want) {
			out = append(out, IfaceInfo{Name: want, Err: errNotSelectable})
		}
	}
	for _, name := range names {
		info := IfaceInfo{Name: name}
		info.DLT, info.Err = linkType(opts.Sys, name)
		if info.Err == nil {
			_, ferr := Filter(info.DLT, 1, opts.OS)
			info.Supported = ferr == nil
		}
		out = append(out, info)
	}
	return out, nil
}

// linkType attaches a fresh /dev/bpf device to iface just long enough to
// read its link type.
func linkType(sys Sys, iface string) (uint32, error) {
	if iface == "" || len(iface) >= ifNameSize {
		return 0, fmt.Errorf("%q: %w", iface, errIfaceName)
	}
	fd, err := openFree(sys)
	if err != nil {
		return 0, err
	}
	defer sys.Close(fd)
	var ifr ifreq
	copy(ifr.name[:], iface)
	if err := sys.Ioctl(fd, biocSETIF, unsafe.Pointer(&ifr)); err != nil {
		return 0, fmt.Errorf("BIOCSETIF %s: %w", iface, err)
	}
	var dlt uint32
	if err := sys.Ioctl(fd, biocGDLT, unsafe.Pointer(&dlt)); err != nil {
		return 0, fmt.Errorf("BIOCGDLT %s: %w", iface, err)
	}
	return dlt, nil
}
