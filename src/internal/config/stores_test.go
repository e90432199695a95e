package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const ifaceS = "[[interface]]\nname = \"wg0\"\nstore = \"s\"\n"

func TestNetworkStoresGood(t *testing.T) {
	in := `[stun]
servers = ["stun.example.org:3478"]
[store.dns]
type = "rfc2136"
server = "192.0.2.53"
zone = "Mesh.Example.org"
record_name = "{key}.wgstun"
tsig_key = "wgstun-key."
tsig_secret_file = "/etc/wgstun/tsig.key"
[store.cf]
type = "cloudflare"
zone = "example.com."
subdomain = "wgstun"
token_env = "CF_API_TOKEN"
[store.dht]
type = "opendht"
endpoints = ["http://dht1.example:8080/", "https://dht2.example"]
timeout = "2s"
[[interface]]
name = "wg0"
store = "dns"
port_mapping = "auto"
gateway = "192.168.1.1"
mapping_lifetime = "1h"
[[interface]]
name = "wg1"
store = "cf"
`
	c, err := Parse("x.toml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	dns := c.Stores["dns"]
	want := Store{Name: "dns", Type: StoreRFC2136, Server: "192.0.2.53:53", Zone: "mesh.example.org.",
		RecordName: "{key}.wgstun", TSIGKey: "wgstun-key", TSIGAlgorithm: "hmac-sha256",
		TSIGSecretFile: "/etc/wgstun/tsig.key", TTL: DefaultDNSTTL, Timeout: DefaultNetworkTimeout}
	if !dns.Equal(want) {
		t.Errorf("rfc2136 store\n got %+v\nwant %+v", dns, want)
	}
	cf := c.Stores["cf"]
	if cf.Zone != "example.com" || cf.Subdomain != "wgstun" || cf.API != DefaultCloudflareAPI || cf.TTL != 0 || cf.TokenEnv != "CF_API_TOKEN" {
		t.Errorf("cloudflare store %+v", cf)
	}
	dht := c.Stores["dht"]
	if len(dht.Endpoints) != 2 || dht.Endpoints[0] != "http://dht1.example:8080" || dht.Timeout != 2*time.Second {
		t.Errorf("opendht store %+v", dht)
	}
	i0, i1 := c.Interfaces[0], c.Interfaces[1]
	if i0.PortMapping != PortMapAuto || i0.Gateway != netip.MustParseAddr("192.168.1.1") || i0.MappingLifetime != time.Hour {
		t.Errorf("interface 0 port mapping %q %v %v", i0.PortMapping, i0.Gateway, i0.MappingLifetime)
	}
	if i1.PortMapping != PortMapOff || i1.Gateway.IsValid() || i1.MappingLifetime != DefaultMappingLifetime {
		t.Errorf("interface 1 defaults %q %v %v", i1.PortMapping, i1.Gateway, i1.MappingLifetime)
	}
	if i0.Equal(i1) || !i0.Equal(i0) {
		t.Error("Interface.Equal ignores port mapping")
	}
	other := dns
	other.TSIGKey = "k2"
	if dns.Equal(other) {
		t.Error("Store.Equal ignores tsig_key")
	}
}

func TestNetworkStoresProblems(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{
			name: "unknown type lists every type",
			in:   "[store.s]\ntype = \"etcd\"\n" + ifaceS,
			want: []string{`x.toml:2: store.s.type: "etcd" is not one of cloudflare, exec, file, opendht, rfc2136, shell`},
		},
		{
			name: "keys of another type",
			in:   "[store.s]\ntype = \"file\"\npath = \"/x\"\ncommand = \"/bin/x\"\nendpoints = [\"http://a\"]\n" + ifaceS,
			want: []string{`x.toml:4: store.s.command: not a key of a file store (it takes path)`, `x.toml:5: store.s.endpoints: not a key of a file store`},
		},
		{
			name: "rfc2136 needs server, zone, key and secret",
			in:   "[store.s]\ntype = \"rfc2136\"\n" + ifaceS,
			want: []string{`store.s.server: missing`, `store.s.zone: missing`, `store.s.tsig_key: missing`, `store.s.tsig_secret_file: missing: tsig_secret_file (a file holding it) or tsig_secret_env`},
		},
		{
			name: "rfc2136 bad values",
			in: `[store.s]
type = "rfc2136"
server = "ns1:99999"
zone = "bad_zone..org"
record_name = "wgstun"
tsig_key = "k"
tsig_algorithm = "hmac-md5"
tsig_secret_file = "rel/key"
ttl = "0s"
` + ifaceS,
			want: []string{
				`x.toml:3: store.s.server: "ns1:99999": port must be`,
				`x.toml:4: store.s.zone: "bad_zone..org" is not a domain name: empty label`,
				`x.toml:5: store.s.record_name: "wgstun" must contain {key} exactly once`,
				`x.toml:7: store.s.tsig_algorithm: "hmac-md5" is not one of hmac-sha256, hmac-sha512`,
				`x.toml:8: store.s.tsig_secret_file: "rel/key" must be an absolute path`,
				`x.toml:9: store.s.ttl: 0s is out of range`,
			},
		},
		{
			name: "rfc2136 record name too long for the zone",
			in:   "[store.s]\ntype = \"rfc2136\"\nserver = \"ns1\"\nzone = \"z.org\"\nrecord_name = \"{key}." + strings.Repeat("a", 64) + "\"\ntsig_key = \"k\"\ntsig_secret_env = \"K\"\n" + ifaceS,
			want: []string{`x.toml:5: store.s.record_name:`, `is longer than 63 characters`},
		},
		{
			name: "cloudflare: both token sources, bad api, short ttl",
			in:   "[store.s]\ntype = \"cloudflare\"\nzone = \"example.com\"\ntoken_file = \"/t\"\ntoken_env = \"T\"\napi = \"ftp://x\"\nttl = \"30s\"\n" + ifaceS,
			want: []string{`x.toml:5: store.s.token_env: give token_file or token_env, not both`, `x.toml:6: store.s.api: "ftp://x" is not an http:// or https:// URL`, `x.toml:7: store.s.ttl: 30s: Cloudflare takes 1m to 24h`},
		},
		{
			name: "cloudflare: env name",
			in:   "[store.s]\ntype = \"cloudflare\"\nzone = \"example.com\"\ntoken_env = \"1BAD-NAME\"\n" + ifaceS,
			want: []string{`x.toml:4: store.s.token_env: "1BAD-NAME" is not an environment variable name`},
		},
		{
			name: "opendht needs endpoints that are URLs",
			in:   "[store.s]\ntype = \"opendht\"\nendpoints = [\"http://ok:8080\", \"dht.example:8080\", \"http://h/?q=1\"]\n" + ifaceS,
			want: []string{`store.s.endpoints[1]: "dht.example:8080" is not an http:// or https:// URL`, `store.s.endpoints[2]: "http://h/?q=1" needs a host and no query`},
		},
		{
			name: "port mapping values",
			in:   "[store.s]\ntype = \"file\"\npath = \"/x\"\n[[interface]]\nname = \"wg0\"\nstore = \"s\"\nport_mapping = \"upnp\"\ngateway = \"gw.local\"\nmapping_lifetime = \"30s\"\n",
			want: []string{`x.toml:7: interface[0].port_mapping: "upnp" is not one of off, auto, pcp, natpmp`, `x.toml:8: interface[0].gateway: "gw.local" is not a gateway address`, `x.toml:9: interface[0].mapping_lifetime: 30s is out of range`},
		},
		{
			name: "gateway without port mapping",
			in:   "[store.s]\ntype = \"file\"\npath = \"/x\"\n[[interface]]\nname = \"wg0\"\nstore = \"s\"\ngateway = \"192.168.1.1\"\n",
			want: []string{`interface[0].port_mapping: gateway and mapping_lifetime need port_mapping`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.toml", []byte("[stun]\nservers = [\"a:1\"]\n"+tt.in))
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			// The [stun] prefix adds two lines to every line number.
			for _, w := range tt.want {
				w = shiftLines(w, 2)
				if !strings.Contains(msg, w) {
					t.Errorf("missing %q in:\n%s", w, msg)
				}
			}
		})
	}
}

// shiftLines adds n to the line number of a "x.toml:N: ..." expectation.
func shiftLines(w string, n int) string {
	rest, ok := strings.CutPrefix(w, "x.toml:")
	if !ok {
		return w
	}
	num, tail, _ := strings.Cut(rest, ":")
	l, err := strconv.Atoi(num)
	if err != nil {
		return w
	}
	return "x.toml:" + strconv.Itoa(l+n) + ":" + tail
}

func TestSecret(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "key")
	if err := os.WriteFile(file, []byte("  c2VjcmV0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WGSTUN_TEST_TOKEN", "tok")
	tests := []struct {
		name    string
		s       Store
		want    string
		wantErr string
	}{
		{"tsig from file, trimmed", Store{Name: "d", Type: StoreRFC2136, TSIGSecretFile: file}, "c2VjcmV0", ""},
		{"token from env", Store{Name: "c", Type: StoreCloudflare, TokenEnv: "WGSTUN_TEST_TOKEN"}, "tok", ""},
		{"cloudflare ignores tsig fields", Store{Name: "c", Type: StoreCloudflare, TSIGSecretFile: file, TokenEnv: "WGSTUN_TEST_TOKEN"}, "tok", ""},
		{"missing file", Store{Name: "d", Type: StoreRFC2136, TSIGSecretFile: filepath.Join(dir, "nope")}, "", "store d: secret not available: open " + filepath.Join(dir, "nope")},
		{"unset env", Store{Name: "c", Type: StoreCloudflare, TokenEnv: "WGSTUN_TEST_UNSET"}, "", "environment variable WGSTUN_TEST_UNSET is not set"},
		{"empty file", Store{Name: "d", Type: StoreRFC2136, TSIGSecretFile: empty}, "", empty + " is empty"},
		{"file store has none", Store{Name: "f", Type: StoreFile}, "", "no file store takes a secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.s.Secret()
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("Secret() = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrNoSecret) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Secret() error %v, want ErrNoSecret with %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "c2VjcmV0") || strings.Contains(err.Error(), "tok") && tt.s.TokenEnv != "" && !strings.Contains(tt.s.TokenEnv, "tok") {
				t.Fatalf("error shows the secret: %v", err)
			}
		})
	}
}
