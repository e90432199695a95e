//go:build cloudflare

package main

import (
	"github.com/wgstun/wgstun/src/config"
	"github.com/wgstun/wgstun/src/logfmt"
	"github.com/wgstun/wgstun/src/store"
	"github.com/wgstun/wgstun/src/store/cloudflare"
)

func init() {
	storeTypes[config.StoreCloudflare] = func(s config.Store, log *logfmt.Logger) (store.Store, error) {
		return cloudflare.New(s, log)
	}
}
