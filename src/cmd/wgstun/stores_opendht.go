//go:build opendht

package main

import (
	"github.com/wgstun/wgstun/src/config"
	"github.com/wgstun/wgstun/src/logfmt"
	"github.com/wgstun/wgstun/src/store"
	"github.com/wgstun/wgstun/src/store/opendht"
)

func init() {
	storeTypes[config.StoreOpenDHT] = func(s config.Store, log *logfmt.Logger) (store.Store, error) {
		return opendht.New(s, log)
	}
}
