//go:build !freebsd || cgo

// Command wgctrl adds wgctrl: generic netlink for the kernel module, the
// UAPI client for wireguard-go, and through its key handling crypto/ecdh
// (whose FIPS self-test links the NIST curves).
package main

import (
	"fmt"
	"net"
	"os"

	"golang.zx2c4.com/wireguard/wgctrl"
)

func main() {
	a, err := net.ResolveUDPAddr("udp", os.Args[1])
	fmt.Println(a, err)
	c, err := wgctrl.New()
	if err != nil {
		return
	}
	d, err := c.Device(os.Args[2])
	fmt.Println(d, err)
}
