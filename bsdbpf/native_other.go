//go:build !((freebsd || darwin) && (amd64 || arm64))

package bsdbpf

func nativeSys() Sys { return unsupportedSys() }
