package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// `wgstun nat-check` behind every NAT type of the lab, against the lab's
// coturn (two addresses and an alternate port, so it answers RFC 5780's
// CHANGE-REQUEST and names its OTHER-ADDRESS), from an ephemeral socket and
// from a wireguard-go interface's port through the raw packet path.
//
// The lab cannot show an address-dependent mapping: Linux's masquerade
// either keeps the port for every destination (what the three cone types
// do) or, with fully-random, picks a new one per address and port (the
// symmetric type); a mapping per destination address alone would need
// state nftables' NAT does not keep. natcheck's unit tests cover it. None
// of the lab's NATs hairpins (a packet to the router's own WAN address
// from the LAN is delivered to the router itself), so every verdict is "no".

type natVerdict struct {
	mapping, filtering, classic string
}

var natVerdicts = map[string]natVerdict{
	FullCone:           {"endpoint-independent", "endpoint-independent", "full cone"},
	RestrictedCone:     {"endpoint-independent", "address-dependent", "restricted cone"},
	PortRestrictedCone: {"endpoint-independent", "address-and-port-dependent", "port-restricted cone"},
	Symmetric:          {"address-and-port-dependent", "address-and-port-dependent", "symmetric"},
}

func TestNATCheckLab(t *testing.T) {
	RequireTools(t, labTools...)
	bin := wgstunBinary(t)
	pairs := [][2]string{{FullCone, RestrictedCone}, {PortRestrictedCone, Symmetric}}
	for _, pr := range pairs {
		t.Run(pr[0]+"_and_"+pr[1], func(t *testing.T) {
			t.Parallel()
			l := StartLab(t, pr[0], pr[1])
			a, b := l.SetupWireGuard()
			servers := []string{"-s", l.STUN1.String(), "-s", l.STUN2.String()}
			for _, c := range []struct {
				side, nat string
				wg        *WGPeer
			}{{RoleA, pr[0], a}, {RoleB, pr[1], b}} {
				want := natVerdicts[c.nat]
				t.Run(c.nat+"/ephemeral", func(t *testing.T) {
					out, err := l.Exec(c.side, append([]string{bin, "nat-check"}, servers...)...)
					if err != nil {
						t.Fatalf("%v\n%s", err, out)
					}
					checkNATCheckText(t, out, want, "ephemeral UDP port ")
				})
				t.Run(c.nat+"/wireguard-port", func(t *testing.T) {
					// Once per lab: the port's earlier packets to the
					// other address would open a restricted cone's filter.
					out, err := l.Exec(c.side, append([]string{bin, "nat-check", "--json", "-i", c.wg.Iface}, servers...)...)
					if err != nil {
						t.Fatalf("%v\n%s", err, out)
					}
					var got struct {
						TestedFrom string `json:"tested_from"`
						Mapped     string `json:"mapped"`
						Mapping    string `json:"mapping"`
						Filtering  string `json:"filtering"`
						NATType    string `json:"nat_type"`
						Other      string `json:"other_address"`
						Hairpin    string `json:"hairpinning"`
					}
					if err := json.Unmarshal([]byte(out), &got); err != nil {
						t.Fatalf("%v:\n%s", err, out)
					}
					if got.Mapping != want.mapping || got.Filtering != want.filtering || got.NATType != want.classic || got.Hairpin != "no" {
						t.Errorf("got %s / %s / %s / hairpinning %s, want %s / %s / %s / no\n%s",
							got.Mapping, got.Filtering, got.NATType, got.Hairpin, want.mapping, want.filtering, want.classic, out)
					}
					if wantFrom := "WireGuard port 51820 of " + c.wg.Iface; got.TestedFrom != wantFrom {
						t.Errorf("tested from %q, want %q", got.TestedFrom, wantFrom)
					}
					wan := l.wan(c.side).String() + ":"
					if !strings.HasPrefix(got.Mapped, wan) || c.nat != Symmetric && got.Mapped != wan+"51820" {
						t.Errorf("mapped %s, want %s51820 (port kept) or %s* (symmetric)", got.Mapped, wan, wan)
					}
					if got.Other != l.STUN2.Addr().String()+":3479" {
						t.Errorf("other address %q", got.Other)
					}
				})
			}
		})
	}
}

// checkNATCheckText checks the human output's verdict lines exactly.
func checkNATCheckText(t *testing.T, out string, want natVerdict, from string) {
	t.Helper()
	lines := map[string]string{}
	for line := range strings.Lines(out) {
		if k, v, ok := strings.Cut(strings.TrimRight(line, "\n"), "   "); ok && !strings.HasPrefix(k, " ") {
			lines[k] = strings.TrimSpace(v)
		}
	}
	for k, v := range map[string]string{
		"mapping":     want.mapping,
		"filtering":   want.filtering,
		"NAT type":    want.classic,
		"hairpinning": "no",
	} {
		if lines[k] != v {
			t.Errorf("%s: %q, want %q\n%s", k, lines[k], v, out)
		}
	}
	if !strings.HasPrefix(lines["tested from"], from) {
		t.Errorf("tested from %q, want %s...", lines["tested from"], from)
	}
}
