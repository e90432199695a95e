package config

// Secrets: the rfc2136 TSIG secret and the cloudflare API token. The
// configuration names where a secret lives (a file or an environment
// variable), never the secret itself. Validation (validator.secret) checks
// only that the place is well formed; Store.Secret reads the value, when a
// store is opened and when `wgstun check` checks the stores.

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrNoSecret: a store's secret (TSIG secret, API token) is not where its
// configuration says.
var ErrNoSecret = errors.New("secret not available")

// Secret returns the store's secret (the rfc2136 TSIG secret or the
// cloudflare API token) from its file or environment variable, with
// surrounding whitespace removed. Errors name the file or variable, never
// the value.
func (s Store) Secret() (string, error) {
	file, env := s.TSIGSecretFile, s.TSIGSecretEnv
	if s.Type == StoreCloudflare {
		file, env = s.TokenFile, s.TokenEnv
	}
	var raw string
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("store %s: %w: %w", s.Name, ErrNoSecret, err)
		}
		raw = string(b)
		env = ""
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return "", fmt.Errorf("store %s: %w: environment variable %s is not set", s.Name, ErrNoSecret, env)
		}
		raw = v
	default:
		return "", fmt.Errorf("store %s: %w: no %s store takes a secret", s.Name, ErrNoSecret, s.Type)
	}
	raw = strings.TrimSpace(raw)
	if raw == "" {
		where := file
		if where == "" {
			where = "environment variable " + env
		}
		return "", fmt.Errorf("store %s: %w: %s is empty", s.Name, ErrNoSecret, where)
	}
	return raw, nil
}

// secret checks that exactly one of NAME_file and NAME_env is given.
func (v *validator) secret(key, name, file, env string) {
	switch {
	case file == "" && env == "":
		v.add(key+"."+name+"_file", "missing: %s_file (a file holding it) or %s_env (an environment variable)", name, name)
	case file != "" && env != "":
		v.add(key+"."+name+"_env", "give %s_file or %s_env, not both", name, name)
	case file != "" && !filepath.IsAbs(file):
		v.add(key+"."+name+"_file", "%q must be an absolute path", file)
	case env != "" && !validEnvName(env):
		v.add(key+"."+name+"_env", "%q is not an environment variable name", env)
	}
}

func validEnvName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return s != ""
}

// TSIGSecret returns the rfc2136 store's TSIG secret decoded from base64,
// as a BIND or Knot key file gives it. Errors name where it lives.
func (s Store) TSIGSecret() ([]byte, error) {
	raw, err := s.Secret()
	if err != nil {
		return nil, err
	}
	where := s.TSIGSecretFile
	if where == "" {
		where = "environment variable " + s.TSIGSecretEnv
	}
	b, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return nil, fmt.Errorf("store %s: TSIG secret in %s is not base64: %w", s.Name, where, err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("store %s: TSIG secret in %s is empty", s.Name, where)
	}
	return b, nil
}
