package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wgstun/wgstun/src/record"
)

// The rfc2136 store end to end: wgstun built with -tags rfc2136 on both
// peers of the NAT lab, each behind a port-restricted-cone NAT, keeping
// their records in a real Knot DNS on the lab's internet (the probe
// address, port 53), signed with a TSIG key the zone's ACL allows.

// wgstunRFC2136Binary builds the daemon with -tags rfc2136 into the
// test's temporary directory (the build cache makes a second build cheap),
// or returns the prebuilt one that WGSTUN_E2E_BIN_RFC2136 names.
func wgstunRFC2136Binary(t *testing.T) string {
	t.Helper()
	if p, ok := prebuilt(t, binRFC2136Env); ok {
		return p
	}
	bin := filepath.Join(t.TempDir(), "wgstun")
	out, err := exec.Command("go", "build", "-tags", "rfc2136", "-o", bin, "../../cmd/wgstun").CombinedOutput()
	if err != nil {
		t.Fatalf("go build -tags rfc2136: %v\n%s", err, out)
	}
	return bin
}

const dnsZone = "mesh.test."

// startKnotInInet runs knotd in the lab's internet namespace on the probe
// address with zone mesh.test. and key wgstun-key (secret returned, base64)
// allowed to update it; it is stopped when the test ends.
func startKnotInInet(t *testing.T, l *Lab) (secret string) {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	secret = base64.StdEncoding.EncodeToString(b)
	dir := filepath.Join(l.Dir, "knot")
	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`server:
    listen: %[2]s@53
    rundir: %[1]s
    user: root:root
log:
  - target: stderr
    any: info
database:
    storage: %[1]s/db
key:
  - id: wgstun-key
    algorithm: hmac-sha256
    secret: %[3]s
acl:
  - id: wgstun-update
    key: wgstun-key
    action: update
zone:
  - domain: %[4]s
    storage: %[1]s
    file: zone.txt
    zonefile-sync: -1
    acl: wgstun-update
`, dir, l.Probe, secret, dnsZone)
	zone := fmt.Sprintf("$TTL 60\n@ SOA ns admin 1 3600 600 86400 60\n@ NS ns\nns A %s\n", l.Probe)
	for name, body := range map[string]string{"knot.conf": conf, "zone.txt": zone} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l.Start(RoleInet, "knotd", "-c", filepath.Join(dir, "knot.conf"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := l.Exec(RoleInet, "kdig", "@"+l.Probe.String(), "+short", "+timeout=1", "+retry=0", dnsZone, "SOA")
		if strings.Contains(out, "ns."+dnsZone) {
			return secret
		}
		if time.Now().After(deadline) {
			t.Fatalf("knotd in %s did not serve %s within 10 s: %s", l.Netns(RoleInet), dnsZone, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestRFC2136StoreConnects(t *testing.T) {
	RequireTools(t, append(labTools, "ping", "knotd", "kdig")...)
	bin := wgstunRFC2136Binary(t)
	l := StartLab(t, PortRestrictedCone, PortRestrictedCone)
	l.SetupWireGuard()
	secret := startKnotInInet(t, l)
	secretFile := filepath.Join(l.Dir, "tsig.key")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &pair{lab: l, env: l.Env, dir: l.Dir}
	for _, side := range []string{RoleA, RoleB} {
		p.startWgstun(t, side, bin, fmt.Sprintf(`type = "rfc2136"
server = "%s"
zone = "%s"
record_name = "{key}.wgstun"
tsig_key = "wgstun-key"
tsig_algorithm = "hmac-sha256"
tsig_secret_file = "%s"
ttl = "30s"
timeout = "3s"`, l.Probe, dnsZone, secretFile), `refresh = "1m"`)
	}
	checkConnects(t, p)

	// Each side's record is one TXT record in Knot, and opens to that
	// side's real NAT mapping with the receiver's key.
	for _, tc := range []struct {
		from, to *WGPeer
		side     string
	}{{l.WGA, l.WGB, RoleA}, {l.WGB, l.WGA, RoleB}} {
		name := record.Key(tc.from.PublicKey, tc.to.PublicKey) + ".wgstun." + dnsZone
		out, err := l.Exec(RoleInet, "kdig", "@"+l.Probe.String(), "+short", "+tcp", "+timeout=2",
			"-y", "hmac-sha256:wgstun-key:"+secret, name, "TXT")
		if err != nil {
			t.Fatalf("kdig %s: %v: %s", name, err, out)
		}
		var recs []string
		for line := range strings.Lines(out) {
			if strings.HasPrefix(line, `"`) {
				recs = append(recs, strings.TrimSpace(line))
			}
		}
		if len(recs) != 1 {
			t.Fatalf("%s: %d TXT records, want 1:\n%s", name, len(recs), out)
		}
		value := strings.ReplaceAll(strings.Trim(recs[0], `"`), `" "`, "")
		e, err := record.Open(value, tc.to.PrivateKey, tc.from.PublicKey)
		if err != nil {
			t.Fatalf("%s: record does not open: %v", name, err)
		}
		want, err := p.mapping(tc.side)
		if err != nil {
			t.Fatal(err)
		}
		if e.IPv4 != want {
			t.Errorf("%s's record in DNS says %v, its NAT maps WireGuard's port to %v", tc.side, e.IPv4, want)
		}
		log, err := os.ReadFile(filepath.Join(l.Dir, "log", tc.side+"-wgstun.log"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(log), `msg="dns update done" store=s name=`+name) {
			t.Errorf("%s's log has no dns update of %s", tc.side, name)
		}
		if strings.Contains(string(log), secret) {
			t.Errorf("%s's log holds the TSIG secret", tc.side)
		}
		t.Logf("%s's record: %d hex characters in %d strings at %s", tc.side, len(value), strings.Count(recs[0], `" "`)+1, name)
	}
}
