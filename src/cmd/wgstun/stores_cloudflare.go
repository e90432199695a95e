//go:build cloudflare

package main

import (
	"github.com/wgstun/wgstun/src/internal/config"
	"github.com/wgstun/wgstun/src/internal/logfmt"
	"github.com/wgstun/wgstun/src/internal/store"
	"github.com/wgstun/wgstun/src/internal/store/cloudflare"
)

func init() {
	storeTypes[config.StoreCloudflare] = func(s config.Store, log *logfmt.Logger) (store.Store, error) {
		return cloudflare.New(s, log)
	}
}
