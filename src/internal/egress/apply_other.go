//go:build !linux && !freebsd && !darwin

package egress

func apply(int, string, Policy) error { return nil }
