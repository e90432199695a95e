//go:build freebsd || darwin

package bsdbpf

import "runtime"

// nativeSeams returns the running system's /dev/bpf and raw socket calls.
func nativeSeams() (Sys, OS, SendSys, bool) {
	os := FreeBSD
	if runtime.GOOS == "darwin" {
		os = Darwin
	}
	return NativeSys(), os, nativeSendSys(), true
}
