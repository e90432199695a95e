//go:build !linux

package e2e

import "fmt"

func inNetns(name string, _ func() error) error {
	return fmt.Errorf("e2e: netns %s: %w", name, errNotSupported)
}
