package store

import (
	"context"
	"fmt"
	"strings"
)

// Shell is a store behind an external program speaking stunmesh-go's shell
// plugin protocol: one process per call, whose stdin is these lines (all
// values hex or lowercase words, no quoting):
//
//	STUNMESH_ACTION=get|set
//	STUNMESH_KEY=<40 hex>
//	STUNMESH_VALUE=<hex>      (set only)
//
// Success is exit status 0; a get returns stdout with surrounding
// whitespace trimmed, and an empty one is ErrNotFound. stderr carries the
// error text.
type Shell struct {
	p plugin
}

// NewShell returns a shell plugin store running command with args.
func NewShell(command string, args []string, o PluginOptions) *Shell {
	return &Shell{p: newPlugin("shell", command, args, o)}
}

// String names the store for logs.
func (s *Shell) String() string { return s.p.String() }

// Get runs the plugin with action get and returns its trimmed stdout.
func (s *Shell) Get(ctx context.Context, key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", fmt.Errorf("store: shell plugin get: %w", err)
	}
	in := "STUNMESH_ACTION=get\nSTUNMESH_KEY=" + key + "\n"
	out, err := s.p.run(ctx, "get", key, []byte(in))
	if err != nil {
		return "", err
	}
	v := strings.TrimSpace(string(out))
	if v == "" {
		return "", s.p.errorf("get", "%s: %w", key, ErrNotFound)
	}
	return v, nil
}

// Set runs the plugin with action set and value (hex).
func (s *Shell) Set(ctx context.Context, key, value string) error {
	if err := CheckKey(key); err != nil {
		return fmt.Errorf("store: shell plugin set: %w", err)
	}
	// Hex only: the line protocol has no quoting.
	if !IsHex(value) {
		return fmt.Errorf("store: shell plugin set %s: %w: not a non-empty hex string", key, ErrInvalidValue)
	}
	in := "STUNMESH_ACTION=set\nSTUNMESH_KEY=" + key + "\nSTUNMESH_VALUE=" + value + "\n"
	_, err := s.p.run(ctx, "set", key, []byte(in), value)
	return err
}
