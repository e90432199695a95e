//go:build rfc2136

package main

import (
	"github.com/wgstun/wgstun/src/internal/config"
	"github.com/wgstun/wgstun/src/internal/logfmt"
	"github.com/wgstun/wgstun/src/internal/store"
	"github.com/wgstun/wgstun/src/internal/store/rfc2136"
)

// With -tags rfc2136 the daemon has the DNS UPDATE store.
func init() {
	storeTypes[config.StoreRFC2136] = func(s config.Store, log *logfmt.Logger) (store.Store, error) {
		st, err := rfc2136.New(s, log)
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return st, nil
	}
}
