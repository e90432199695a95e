package natcheck

import (
	"strings"
	"testing"
)

var (
	fullCone     = Class{EndpointIndependent, FilterNone}
	restricted   = Class{EndpointIndependent, FilterAddress}
	portRestrict = Class{EndpointIndependent, FilterAddressAndPort}
	symmetric    = Class{AddressAndPortDependent, FilterAddressAndPort}
	symAddrF     = Class{AddressAndPortDependent, FilterAddress}
	symOpen      = Class{AddressAndPortDependent, FilterNone}
	adm          = Class{AddressDependent, FilterAddressAndPort}
	noNAT        = Class{NoNAT, FilterNone}
	firewalled   = Class{NoNAT, FilterAddressAndPort}
	cone         = Class{Mapping: EndpointIndependent} // legacy "cone"
	legacySym    = Class{Mapping: Dependent}           // legacy "symmetric"
	unknown      = Class{}
)

// TestDirect lists the pairs whose answer is known from RFC 4787's
// behaviours and from the lab (src/e2e/connect_test.go's reachable).
func TestDirect(t *testing.T) {
	tests := []struct {
		name string
		a, b Class
		want Verdict
	}{
		{"full cone and symmetric", fullCone, symmetric, Yes},
		{"restricted cone and symmetric", restricted, symmetric, Yes},
		{"port-restricted cone and symmetric", portRestrict, symmetric, No},
		{"symmetric and symmetric", symmetric, symmetric, No},
		{"port-restricted cone and port-restricted cone", portRestrict, portRestrict, Yes},
		{"symmetric filtering by address and port-restricted cone", symAddrF, portRestrict, No},
		{"symmetric filtering by address and symmetric", symAddrF, symmetric, No},
		{"symmetric that filters nothing and symmetric", symOpen, symmetric, Yes},
		{"address-dependent mapping and port-restricted cone", adm, portRestrict, No},
		{"address-dependent mapping and restricted cone", adm, restricted, Yes},
		{"no NAT and symmetric", noNAT, symmetric, Yes},
		{"firewall and symmetric", firewalled, symmetric, No},
		{"firewall and port-restricted cone", firewalled, portRestrict, Yes},
		{"legacy cone and legacy cone", cone, cone, Yes},
		{"legacy symmetric and legacy symmetric", legacySym, legacySym, Maybe},
		{"legacy symmetric and port-restricted cone", legacySym, portRestrict, Maybe},
		{"symmetric and legacy cone", symmetric, cone, Maybe},
		{"unknown and symmetric", unknown, symmetric, Maybe},
		{"unknown and full cone", unknown, fullCone, Yes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Direct(tt.a, tt.b); got != tt.want {
				t.Errorf("Direct = %v, want %v", got, tt.want)
			}
			if got := Direct(tt.b, tt.a); got != tt.want {
				t.Errorf("Direct reversed = %v, want %v", got, tt.want)
			}
		})
	}
}

// allClasses is every class, known or partly known.
func allClasses() []Class {
	var out []Class
	for m := MappingUnknown; m <= Dependent; m++ {
		for f := FilteringUnknown; f <= FilterAddressAndPort; f++ {
			out = append(out, Class{m, f})
		}
	}
	return out
}

// TestDirectEveryPair: over every pair, the verdict is symmetric, Explain
// speaks exactly for No, and a verdict on partly known classes agrees with
// the verdicts of every way of filling in what is unknown.
func TestDirectEveryPair(t *testing.T) {
	for _, a := range allClasses() {
		for _, b := range allClasses() {
			v := Direct(a, b)
			if Direct(b, a) != v {
				t.Errorf("%v vs %v: not symmetric", a, b)
			}
			why := Explain(a, b)
			if (why != "") != (v == No) {
				t.Errorf("%v vs %v: verdict %v but Explain %q", a, b, v, why)
			}
			if v == No && (!strings.HasPrefix(why, "no direct path: ") || !strings.HasSuffix(why, Help) || strings.Contains(why, "unknown")) {
				t.Errorf("%v vs %v: Explain %q", a, b, why)
			}
			if v == No && strings.Contains(why, "cannot be traversed") {
				t.Errorf("%v vs %v: generic explanation %q", a, b, why)
			}
			if v != Maybe {
				for _, am := range a.Mapping.cases() {
					for _, af := range a.Filtering.cases() {
						if got := Direct(Class{am, af}, b); got != v {
							t.Errorf("%v vs %v is %v but %v vs %v is %v", a, b, v, Class{am, af}, b, got)
						}
					}
				}
			}
		}
	}
}

func TestExplain(t *testing.T) {
	tests := []struct {
		name         string
		ours, theirs Class
		want         string
	}{
		{"this side symmetric", symmetric, portRestrict,
			"no direct path: this side is symmetric (address-and-port-dependent mapping) and the peer filters by address and port; " + Help},
		{"peer symmetric", portRestrict, symmetric,
			"no direct path: the peer is symmetric (address-and-port-dependent mapping) and this side filters by address and port; " + Help},
		{"both symmetric", symmetric, symmetric,
			"no direct path: both NATs are symmetric (each maps every destination to a new port: address-and-port-dependent mapping) and neither accepts packets from senders it has not sent to; " + Help},
		{"both symmetric, different kinds", adm, symmetric,
			"no direct path: both NATs are symmetric (each maps every destination to a new port: address-dependent mapping here, address-and-port-dependent at the peer) and neither accepts packets from senders it has not sent to; " + Help},
		{"reachable", restricted, symmetric, ""},
		{"unknown", legacySym, legacySym, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Explain(tt.ours, tt.theirs); got != tt.want {
				t.Errorf("Explain =\n%q, want\n%q", got, tt.want)
			}
		})
	}
}

func TestHint(t *testing.T) {
	tests := []struct {
		c    Class
		hint string
	}{
		{unknown, ""},
		{cone, "cone"},
		{legacySym, "symmetric"},
		{fullCone, "eim+eif"},
		{restricted, "eim+adf"},
		{portRestrict, "eim+apdf"},
		{symmetric, "apdm+apdf"},
		{adm, "adm+apdf"},
		{Class{Dependent, FilterAddressAndPort}, "symmetric+apdf"},
		{Class{Mapping: AddressAndPortDependent}, "apdm"},
		{noNAT, "none+eif"},
		{Class{Mapping: NoNAT}, "none"},
	}
	for _, tt := range tests {
		t.Run(tt.hint, func(t *testing.T) {
			if got := tt.c.Hint(); got != tt.hint {
				t.Errorf("Hint = %q, want %q", got, tt.hint)
			}
			if got := ParseHint(tt.hint); got != tt.c {
				t.Errorf("ParseHint(%q) = %v, want %v", tt.hint, got, tt.c)
			}
		})
	}
	for _, tt := range []struct {
		in   string
		want Class
	}{
		{"Cone", cone},
		{" SYMMETRIC ", legacySym},
		{"cone+apdf", portRestrict},
		{"full-cone", fullCone},
		{"restricted-cone", restricted},
		{"port-restricted-cone", portRestrict},
		{"eim+", unknown},
		{"eim+xyz", unknown},
		{"endpoint-independent", unknown},
		{"bad\nhint", unknown},
	} {
		t.Run("parse "+tt.in, func(t *testing.T) {
			if got := ParseHint(tt.in); got != tt.want {
				t.Errorf("ParseHint(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestClassicAndMeaning(t *testing.T) {
	for _, c := range allClasses() {
		if c.Classic() == "" || c.Meaning() == "" || c.Mapping.String() == "" || c.Filtering.String() == "" {
			t.Errorf("%v: empty words", c)
		}
	}
	if got := symmetric.Meaning(); !strings.Contains(got, "NAT-PMP/PCP") || !strings.Contains(got, "port-restricted cone peers cannot") {
		t.Errorf("symmetric meaning %q", got)
	}
	if got := portRestrict.Meaning(); !strings.Contains(got, "symmetric NAT cannot") {
		t.Errorf("port-restricted meaning %q", got)
	}
}
