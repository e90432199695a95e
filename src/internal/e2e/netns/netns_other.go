//go:build !linux

package netns

import "fmt"

func do(name string, _ func() error) error {
	return fmt.Errorf("netns %s: %w", name, ErrNotSupported)
}
