package portmap

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func (r *rig) mapper(log *bytes.Buffer, protos ...Protocol) *Mapper {
	return NewMapper(Config{
		Protocols: protos, Gateway: netip.MustParseAddr("192.168.10.1"), Internal: 51820,
		Lifetime: 2 * time.Hour, Retry: 5 * time.Minute, Log: logTo(log),
		Dial: r.dial, Now: func() time.Time { return r.now }, Rand: bytes.NewReader(make([]byte, 12)),
	})
}

func TestMapperProtocols(t *testing.T) {
	tests := []struct {
		name     string
		protos   []Protocol
		pcp, pmp bool
		want     Protocol
		wantErr  string
		sends    string // first words of what the gateway saw
	}{
		{name: "auto pcp", protos: []Protocol{PCP, NATPMP}, pcp: true, pmp: true, want: PCP, sends: "PCP"},
		{name: "auto falls back", protos: []Protocol{PCP, NATPMP}, pmp: true, want: NATPMP, sends: "PCP NAT-PMP NAT-PMP"},
		{name: "auto silent gateway costs one attempt", protos: []Protocol{PCP, NATPMP},
			wantErr: "gateway 192.168.10.1 does not answer PCP or NAT-PMP", sends: "PCP PCP PCP PCP"},
		{name: "pcp only", protos: []Protocol{PCP}, pmp: true, wantErr: "unsupported version", sends: "PCP"},
		{name: "natpmp only", protos: []Protocol{NATPMP}, pcp: true, pmp: true, want: NATPMP, sends: "NAT-PMP NAT-PMP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig()
			r.g.pcp, r.g.pmp = tt.pcp, tt.pmp
			var log bytes.Buffer
			m := r.mapper(&log, tt.protos...)
			next := m.Step(context.Background())
			st := m.Status()
			var sends []string
			for _, l := range r.g.log {
				sends = append(sends, strings.Fields(l)[0])
			}
			if got := strings.Join(sends, " "); got != tt.sends {
				t.Errorf("gateway saw %q, want %q", r.g.log, tt.sends)
			}
			if tt.wantErr != "" {
				if st.Mapped() || !strings.Contains(st.Err, tt.wantErr) || next != 5*time.Minute {
					t.Errorf("status %+v next %v, want error %q and a retry in 5m", st, next, tt.wantErr)
				}
				return
			}
			want := Status{Protocol: tt.want, Gateway: netip.MustParseAddr("192.168.10.1"),
				External: netip.MustParseAddrPort("203.0.113.10:51820"), Expires: r.now.Add(2 * time.Hour)}
			if st != want || next != 5*time.Minute {
				t.Errorf("status %+v next %v, want %+v", st, next, want)
			}
			if !strings.Contains(log.String(), "port mapping granted") {
				t.Errorf("log:\n%s", log.String())
			}
			// Renewals go straight to the protocol that worked.
			r.g.log = nil
			m.Step(context.Background())
			if !strings.HasPrefix(r.g.log[0], tt.want.String()) {
				t.Errorf("renewal asked %q first", r.g.log)
			}
		})
	}
}

func TestMapperRenewal(t *testing.T) {
	tests := []struct {
		name    string
		maxLife uint32
		retry   time.Duration
		want    time.Duration
	}{
		{name: "half the lifetime", maxLife: 600, retry: time.Hour, want: 5 * time.Minute},
		{name: "refresh sooner", maxLife: 7200, retry: time.Minute, want: time.Minute},
		{name: "tiny lifetime", maxLife: 1, retry: time.Hour, want: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig()
			r.g.maxLife = tt.maxLife
			var log bytes.Buffer
			m := r.mapper(&log)
			m.cfg.Retry = tt.retry
			if next := m.Step(context.Background()); next != tt.want {
				t.Errorf("next %v, want %v", next, tt.want)
			}
			if st := m.Status(); st.Expires != r.now.Add(time.Duration(tt.maxLife)*time.Second) {
				t.Errorf("expires %v", st.Expires)
			}
		})
	}
}

func TestMapperEpochReset(t *testing.T) {
	for _, p := range []Protocol{PCP, NATPMP} {
		t.Run(p.String(), func(t *testing.T) {
			r := newRig()
			var log bytes.Buffer
			m := r.mapper(&log, p)
			m.Step(context.Background())
			r.now = r.now.Add(5 * time.Minute)
			r.g.epoch += 300
			r.g.log = nil
			m.Step(context.Background())
			if strings.Contains(log.String(), "restarted") || len(r.g.log) != map[Protocol]int{PCP: 1, NATPMP: 2}[p] {
				t.Fatalf("a steady epoch looked like a restart (gateway saw %q):\n%s", r.g.log, log.String())
			}
			// The gateway restarts: its epoch starts again from 0.
			r.now = r.now.Add(5 * time.Minute)
			r.g.epoch = 3
			r.g.log = nil
			m.Step(context.Background())
			if !strings.Contains(log.String(), "gateway restarted") {
				t.Errorf("no restart logged:\n%s", log.String())
			}
			if len(r.g.log) != map[Protocol]int{PCP: 2, NATPMP: 4}[p] {
				t.Errorf("restart not mapped again at once: gateway saw %q", r.g.log)
			}
			if !m.Status().Mapped() {
				t.Errorf("status %+v", m.Status())
			}
		})
	}
}

func TestMapperRefusalAndLoss(t *testing.T) {
	r := newRig()
	var log bytes.Buffer
	m := r.mapper(&log)
	m.Step(context.Background())
	<-m.Changed()
	// The gateway stops authorizing: the mapping is lost at once, said once.
	r.g.pcpResult = 2
	for range 3 {
		r.now = r.now.Add(5 * time.Minute)
		if next := m.Step(context.Background()); next != 5*time.Minute {
			t.Errorf("retry in %v", next)
		}
	}
	st := m.Status()
	if st.Mapped() || !strings.Contains(st.Err, "refuses to map the port (not authorized)") {
		t.Errorf("status %+v", st)
	}
	select {
	case <-m.Changed():
	default:
		t.Error("loss not signalled")
	}
	if n := strings.Count(log.String(), "no port mapping"); n != 1 || !strings.Contains(log.String(), "port mapping lost") {
		t.Errorf("refusal logged %d times:\n%s", n, log.String())
	}
	// It authorizes again.
	r.g.pcpResult = 0
	m.Step(context.Background())
	if !m.Status().Mapped() || m.Status().Err != "" {
		t.Errorf("status %+v", m.Status())
	}
}

func TestMapperSilenceKeepsMappingUntilExpiry(t *testing.T) {
	r := newRig()
	r.g.maxLife = 600
	var log bytes.Buffer
	m := r.mapper(&log)
	m.Step(context.Background())
	r.g.pcp, r.g.pmp = false, false
	r.now = r.now.Add(5 * time.Minute)
	next := m.Step(context.Background())
	st := m.Status()
	if !st.Mapped() || !strings.HasPrefix(st.Err, "renewal failed") || next != time.Second {
		t.Fatalf("status %+v next %v", st, next)
	}
	r.now = r.now.Add(6 * time.Minute) // past expiry
	m.Step(context.Background())
	if st := m.Status(); st.Mapped() || !strings.Contains(log.String(), "port mapping lost") {
		t.Errorf("status %+v\n%s", st, log.String())
	}
}

func TestMapperAddressMismatch(t *testing.T) {
	r := newRig()
	r.g.pcpResult = 12
	var log bytes.Buffer
	m := r.mapper(&log)
	m.Step(context.Background())
	want := "gateway 192.168.10.1 reports ADDRESS_MISMATCH: we are behind another NAT (CGNAT?); port mapping cannot help"
	if st := m.Status(); st.Err != want || !strings.Contains(log.String(), "ADDRESS_MISMATCH: we are behind another NAT") {
		t.Errorf("status %+v\n%s", st, log.String())
	}
	if strings.Contains(strings.Join(r.g.log, " "), "NAT-PMP") {
		t.Errorf("fell back to NAT-PMP after ADDRESS_MISMATCH: %q", r.g.log)
	}
}

func TestMapperNoGateway(t *testing.T) {
	r := newRig()
	var log bytes.Buffer
	m := r.mapper(&log)
	m.cfg.Gateway = netip.Addr{}
	m.cfg.FindGateway = func() (netip.Addr, error) { return netip.Addr{}, ErrGatewayLookup }
	if next := m.Step(context.Background()); next != 5*time.Minute {
		t.Errorf("next %v", next)
	}
	if st := m.Status(); !strings.Contains(st.Err, "set gateway") {
		t.Errorf("status %+v", st)
	}
	m.cfg.FindGateway = func() (netip.Addr, error) { return netip.MustParseAddr("192.168.10.1"), nil }
	m.Step(context.Background())
	if !m.Status().Mapped() {
		t.Errorf("status %+v", m.Status())
	}
}

func TestMapperRunDeletesOnExit(t *testing.T) {
	for _, p := range []Protocol{PCP, NATPMP} {
		t.Run(p.String(), func(t *testing.T) {
			r := newRig()
			var log bytes.Buffer
			m := r.mapper(&log, p)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { m.Run(ctx); close(done) }()
			select {
			case <-m.Changed():
			case <-time.After(5 * time.Second):
				t.Fatal("no mapping")
			}
			cancel()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return")
			}
			last := r.g.log[len(r.g.log)-1]
			if !strings.Contains(last, "life=0 internal=51820 sugg=0") || !strings.Contains(log.String(), "port mapping deleted") {
				t.Errorf("last request %q\n%s", last, log.String())
			}
			if m.Status().Mapped() {
				t.Errorf("status %+v", m.Status())
			}
		})
	}
	// Nothing to delete when nothing was mapped.
	r := newRig()
	r.g.pcpResult = 2
	var log bytes.Buffer
	m := r.mapper(&log, PCP)
	m.Step(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m.Run(ctx)
	for _, l := range r.g.log {
		if strings.Contains(l, "life=0") {
			t.Errorf("deleted a mapping it never had: %q", r.g.log)
		}
	}
}
