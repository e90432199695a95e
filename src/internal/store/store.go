// Package store holds the places where sealed endpoint records are kept:
// a directory of files, and the exec and shell plugin protocols of
// stunmesh-go (see shared/spec/stunmesh-compat.md), so plugins written for
// stunmesh-go work unchanged.
package store

import (
	"context"
	"errors"
	"fmt"
)

// Store keeps one value per key. Keys are record.Key strings (40 lowercase
// hex characters); values are sealed records (hex), opaque to the store.
type Store interface {
	// Get returns the value stored under key, or an error matching
	// ErrNotFound when there is none.
	Get(ctx context.Context, key string) (string, error)
	// Set stores value under key, replacing any previous value.
	Set(ctx context.Context, key, value string) error
}

// Multi is a store whose key may hold several values at once: a DHT, where
// anyone may put anything under any key. GetAll returns them (at most
// MaxValues), the store's preferred first; since that preference rests on
// nothing authenticated, the reader opens each and keeps the newest by the
// time sealed inside, dropping those that do not open.
type Multi interface {
	GetAll(ctx context.Context, key string) ([]string, error)
}

// MaxValues bounds what Multi.GetAll returns.
const MaxValues = 16

// The stores here also implement fmt.Stringer, naming the store for log
// lines (kind and location, never secrets).

var (
	// ErrNotFound: no value is stored under the key (or an empty one is).
	ErrNotFound = errors.New("store: not found")
	// ErrInvalidKey: the key is not 40 lowercase hex characters.
	ErrInvalidKey = errors.New("store: key is not 40 lowercase hex characters")
	// ErrInvalidValue: the value cannot be stored (empty, or not what the
	// store's protocol can carry).
	ErrInvalidValue = errors.New("store: invalid value")
)

var (
	_ Store = (*File)(nil)
	_ Store = (*Exec)(nil)
	_ Store = (*Shell)(nil)
)

// KeyLen is the length of a store key: hex of a SHA-1 sum.
const KeyLen = 40

// CheckKey accepts exactly 40 lowercase hex characters, which keeps keys
// safe as file names, plugin protocol fields and DNS labels. Every store
// checks its keys with it.
func CheckKey(key string) error {
	if len(key) != KeyLen {
		return fmt.Errorf("%w: %q", ErrInvalidKey, truncate(key, 64))
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("%w: %q", ErrInvalidKey, truncate(key, 64))
		}
	}
	return nil
}

// IsHex reports whether s is non-empty and made only of hex digits, as
// every stored value is.
func IsHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isHexDigit(s[i]) {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
