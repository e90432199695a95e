package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/wgstun/wgstun/src/internal/capture"
	"github.com/wgstun/wgstun/src/internal/config"
)

func TestPrintPlanCapture(t *testing.T) {
	cfg, err := config.Load("../../internal/config/testdata/good.toml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		perInterface bool
		want         []string
		not          []string
	}{
		{
			name: "linux ignores the list",
			want: []string{"wg0:", "capture: ignored on Linux, raw sockets see every interface", "wg1:"},
			not:  []string{"capture on:"},
		},
		{
			name:         "bsd lists it",
			perInterface: true,
			want:         []string{"wg0:", "capture on: igb0, pppoe0", "wg1:", "capture on: every interface"},
			not:          []string{"ignored on Linux"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := capturePerInterface
			capturePerInterface = tt.perInterface
			defer func() { capturePerInterface = old }()
			var b strings.Builder
			printPlan(&b, cfg)
			out := b.String()
			at := 0
			for _, w := range tt.want {
				i := strings.Index(out[at:], w)
				if i < 0 {
					t.Fatalf("missing (in order) %q in:\n%s", w, out)
				}
				at += i + len(w)
			}
			for _, n := range tt.not {
				if strings.Contains(out, n) {
					t.Errorf("unexpected %q in:\n%s", n, out)
				}
			}
		})
	}
}

func TestPrintCapture(t *testing.T) {
	cfg, err := config.Load("../../internal/config/testdata/good.toml")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	printCapture(&b, cfg, false, nil)
	if !strings.Contains(b.String(), "raw sockets see every interface") {
		t.Errorf("linux: %s", b.String())
	}

	var calls []string
	list := func(ipv6 bool, names []string) ([]capture.Iface, error) {
		calls = append(calls, strings.Join(names, ","))
		switch {
		case ipv6:
			return nil, nil
		case len(names) > 0:
			return []capture.Iface{
				{Name: "igb0", LinkType: "EN10MB"},
				{Name: "pppoe0", Err: errors.New("interface missing or down")},
			}, nil
		}
		return nil, errors.New("bsdbpf: describe interfaces: permission denied")
	}
	b.Reset()
	printCapture(&b, cfg, true, list)
	out := b.String()
	for _, w := range []string{
		"  wg0 ipv4:\n    igb0: EN10MB\n    pppoe0: not captured: interface missing or down\n",
		"  wg0 ipv6: no interface yet (none is up with an ipv6 address)",
		"  wg1 ipv4: cannot list interfaces: bsdbpf: describe interfaces: permission denied\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("missing %q in:\n%s", w, out)
		}
	}
	b.Reset()
	cfg.Interfaces[1].Capture = []string{"igb0", "pppoe0"}
	calls = nil
	printCapture(&b, cfg, true, func(ipv6 bool, names []string) ([]capture.Iface, error) {
		calls = append(calls, strings.Join(names, ","))
		return []capture.Iface{{Name: "ipsec0", LinkType: "unknown (12345)", Skipped: true}}, nil
	})
	out = b.String()
	if !strings.Contains(out, "ipsec0: unknown (12345): skipped") || !strings.Contains(out, "wg1 ipv4: same as wg0 ipv4") {
		t.Errorf("got:\n%s", out)
	}
	if len(calls) != 2 {
		t.Errorf("listed %d times (%q), want 2: the same list and family is read once", len(calls), calls)
	}
}
