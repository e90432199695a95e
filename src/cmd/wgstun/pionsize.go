//go:build pionsize

package main

// Built only by scripts/bench.sh (-tags pionsize) to measure what linking
// github.com/pion/stun would add to the router binary.

import "github.com/pion/stun/v3"

var _ = stun.Build
