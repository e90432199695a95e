// Command net adds package net with its resolver, which wgctrl's types and
// the STUN server names need.
package main

import (
	"fmt"
	"net"
	"os"
)

func main() {
	a, err := net.ResolveUDPAddr("udp", os.Args[1])
	fmt.Println(a, err)
}
