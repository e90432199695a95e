package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/wgstun/wgstun/src/internal/config"
	"github.com/wgstun/wgstun/src/internal/logfmt"
	"github.com/wgstun/wgstun/src/internal/store"
)

// storeTypes maps a configured store type to its constructor. The network
// stores add themselves from files compiled only with their build tag
// (stores_rfc2136.go with -tags rfc2136, and so on), so the router build
// carries neither their code nor, for the HTTP ones, net/http and TLS.
var storeTypes = map[string]func(config.Store, *logfmt.Logger) (store.Store, error){
	config.StoreFile: func(s config.Store, _ *logfmt.Logger) (store.Store, error) {
		return store.NewFile(s.Path)
	},
	config.StoreExec: func(s config.Store, log *logfmt.Logger) (store.Store, error) {
		return store.NewExec(s.Command, s.Args, pluginOptions(s, log)), nil
	},
	config.StoreShell: func(s config.Store, log *logfmt.Logger) (store.Store, error) {
		return store.NewShell(s.Command, s.Args, pluginOptions(s, log)), nil
	},
}

// storeTags names the build tag that compiles in each optional store type.
var storeTags = map[string]string{
	config.StoreRFC2136:    "rfc2136",
	config.StoreCloudflare: "cloudflare",
	config.StoreOpenDHT:    "opendht",
}

// errNotBuilt: the configuration names a store type this binary was built
// without.
var errNotBuilt = errors.New("not in this build of wgstun")

// newStore wires a configured store to its implementation.
func newStore(s config.Store, log *logfmt.Logger) (store.Store, error) {
	mk, ok := storeTypes[s.Type]
	if !ok {
		return nil, storeTypeMissing(s)
	}
	return mk(s, log)
}

func storeTypeMissing(s config.Store) error {
	if tag, ok := storeTags[s.Type]; ok {
		return fmt.Errorf("store %s: type %s is %w (it has %s; build with -tags %s, or install a package that has it)",
			s.Name, s.Type, errNotBuilt, strings.Join(slices.Sorted(maps.Keys(storeTypes)), ", "), tag)
	}
	return fmt.Errorf("store %s: unknown type %q", s.Name, s.Type)
}

// checkStores reports what `wgstun check` can tell about the stores
// beyond the file's syntax: types missing from this build and secrets
// that cannot be read (errors), and secrets from environment variables
// unset in check's own environment (warnings: the daemon's may differ).
func checkStores(cfg *config.Config) (errs, warnings []string) {
	for _, name := range slices.Sorted(maps.Keys(cfg.Stores)) {
		s := cfg.Stores[name]
		if _, ok := storeTypes[s.Type]; !ok {
			errs = append(errs, storeTypeMissing(s).Error())
		}
		if s.Type == config.StoreFile {
			// NewFile creates a missing directory; what is there must be one.
			if fi, err := os.Stat(s.Path); err == nil && !fi.IsDir() {
				errs = append(errs, fmt.Sprintf("store %s: %s is not a directory", s.Name, s.Path))
			}
		}
		if s.Type != config.StoreRFC2136 && s.Type != config.StoreCloudflare {
			continue
		}
		var err error
		if s.Type == config.StoreRFC2136 {
			_, err = s.TSIGSecret()
		} else {
			_, err = s.Secret()
		}
		if errors.Is(err, config.ErrNoSecret) {
			if s.TSIGSecretEnv != "" || s.TokenEnv != "" {
				warnings = append(warnings, err.Error()+" here; the daemon's environment must have it")
			} else {
				errs = append(errs, err.Error())
			}
		} else if err != nil {
			errs = append(errs, err.Error())
		}
	}
	return errs, warnings
}

// pluginOptions are an exec or shell store's settings for its plugin.
func pluginOptions(s config.Store, log *logfmt.Logger) store.PluginOptions {
	return store.PluginOptions{Env: s.Env, Timeout: s.Timeout, Log: log}
}
