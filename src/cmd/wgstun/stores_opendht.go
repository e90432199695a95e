//go:build opendht

package main

import (
	"github.com/wgstun/wgstun/src/internal/config"
	"github.com/wgstun/wgstun/src/internal/logfmt"
	"github.com/wgstun/wgstun/src/internal/store"
	"github.com/wgstun/wgstun/src/internal/store/opendht"
)

func init() {
	storeTypes[config.StoreOpenDHT] = func(s config.Store, log *logfmt.Logger) (store.Store, error) {
		return opendht.New(s, log)
	}
}
