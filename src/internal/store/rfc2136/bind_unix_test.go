//go:build unix

package rfc2136

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wgstun/wgstun/src/internal/store"
)

// BIND 9 (named) in a network namespace: zone wg.test. with allow-update
// for wgstun-key only. BIND answers a known key outside the update ACL
// with a signed REFUSED, where Knot says BADKEY.
func TestBIND(t *testing.T) {
	requireServer(t, "named")
	k := newServerNetns(t)
	conf := fmt.Sprintf(`options {
	directory "%[1]s";
	pid-file "%[1]s/named.pid";
	listen-on port 53 { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
};
controls { };
key "wgstun-key" { algorithm hmac-sha256; secret "%[2]s"; };
key "other-key" { algorithm hmac-sha256; secret "%[3]s"; };
zone "%[4]s" { type primary; file "%[1]s/zone.txt"; allow-update { key wgstun-key; }; };
`, k.dir, k.secret, k.otherSecret, testZone)
	zone := "$TTL 60\n@ SOA ns admin 1 3600 600 86400 60\n@ NS ns\nns A 127.0.0.1\n"
	for name, body := range map[string]string{"named.conf": conf, "zone.txt": zone} {
		if err := os.WriteFile(filepath.Join(k.dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	k.run(t, "named", "-g", "-u", "root", "-c", filepath.Join(k.dir, "named.conf"))

	ctx := context.Background()
	s := k.store(t, "wgstun-key", k.secret, 2*time.Second)
	kk, v := randomHex(40), randomHex(400)
	for _, val := range []string{randomHex(100), v} { // UDP, then TCP; the second replaces the first
		if err := s.Set(ctx, kk, val); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.Get(ctx, kk); err != nil || got != v {
		t.Fatalf("Get = %.20q, %v", got, err)
	}
	if lines := k.txtLines(t, kk+".peers."+testZone); len(lines) != 1 || strings.Count(lines[0], "+") != 1 {
		t.Errorf("kdig sees %q, want one record of two strings", lines)
	}
	if _, err := s.Get(ctx, randomHex(40)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get of a missing name = %v, want ErrNotFound", err)
	}
	for _, tc := range []struct {
		name, key, secret string
		want              error
		text              string
	}{
		{"key not in allow-update", "other-key", k.otherSecret, ErrRefused,
			"update refused by 127.0.0.1:53 for zone wg.test. (check the zone's update ACL or update-policy for key other-key)"},
		{"wrong secret", "wgstun-key", randomSecret(t), ErrTSIG, "the server rejected our TSIG key wgstun-key: BADSIG"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := k.store(t, tc.key, tc.secret, 2*time.Second).Set(ctx, kk, randomHex(100))
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("Set = %v\nwant %v containing %q", err, tc.want, tc.text)
			}
			if got, err := s.Get(ctx, kk); err != nil || got != v {
				t.Errorf("value changed: %.20q, %v", got, err)
			}
		})
	}
}
