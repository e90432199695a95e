//go:build !freebsd && !darwin

package bsdbpf

// nativeSeams reports that this system has no native /dev/bpf path; Listen
// and Describe then need every seam in Options.
func nativeSeams() (Sys, OS, SendSys, bool) {
	return Sys{}, 0, SendSys{}, false
}
