package natcheck

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/wgstun/wgstun/src/internal/egress"
	"github.com/wgstun/wgstun/src/stun"
)

// HairpinTest is an Options.Hairpin for a check whose tested port writes
// through c (IPv6 when v6). It opens a second ephemeral UDP socket, learns
// that socket's public mapping from server, and sends from the tested port
// a Binding indication to the mapping; hairpinning is when it arrives at
// the second socket through the NAT. ctx must carry a deadline (Check
// gives each test one): it bounds the wait, and no probe by then is a no.
func HairpinTest(c stun.Conn, v6 bool) func(ctx context.Context, server netip.AddrPort) (bool, error) {
	return func(ctx context.Context, server netip.AddrPort) (bool, error) {
		u, err := egress.ListenUDP(v6)
		if err != nil {
			return false, fmt.Errorf("open a second socket: %w", err)
		}
		defer u.Close()
		cl := stun.NewClient(stun.NewUDPConn(u))
		cl.RTO = 100 * time.Millisecond
		m, err := cl.Binding(ctx, server)
		cl.Close()
		if err != nil {
			return false, fmt.Errorf("mapping of a second socket: %w", err)
		}
		probe := stun.AppendBindingIndication(nil, stun.NewTxID())
		if err := c.WriteTo(probe, m); err != nil {
			return false, fmt.Errorf("send to %s: %w", m, err)
		}
		deadline, _ := ctx.Deadline()
		u.SetReadDeadline(deadline)
		buf := make([]byte, 1500)
		for {
			n, _, err := u.ReadFromUDPAddrPort(buf)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return false, nil
			}
			if err != nil {
				return false, err
			}
			if string(buf[:n]) == string(probe) {
				return true, nil
			}
		}
	}
}
