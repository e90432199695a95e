package daemon

import (
	"context"
	"errors"
	"sort"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wgstun/wgstun/src/internal/store"
	"github.com/wgstun/wgstun/src/record"
)

// result is what a job hands back to the runner's goroutine.
type result struct {
	kind  int
	peer  *peer
	pub   wgtypes.Key // our public key when the job started
	gen   int
	val   string
	rec   *record.Endpoints // val already opened (jobPoll from a store.Multi), or nil
	err   error
	found discovery
	check checkOutcome // jobCheck
}

const (
	jobPoll = iota
	jobPublish
	jobDiscover
	jobClassify // found.class: the NAT class a refresh's RFC 5780 tests found
	jobCheck    // check: a path-check round or liveness check (paths.go)
)

// jobState is the runner's account of its store jobs: publishing this
// side's records and polling the peers'.
type jobState struct {
	inflight   int       // store jobs running
	storeErr   string    // last store failure, logged once per change
	cycleStart time.Time // of the refresh cycle under way
}

// beginCycle starts a refresh: every record is republished (when the
// mapping is known) and read again.
func (r *runner) beginCycle(now time.Time, publish bool) {
	r.jobs.cycleStart = now
	for _, p := range r.peers {
		if publish {
			p.published, p.nextPub, p.pubBackoff = time.Time{}, now, 0
		}
		if p.nextPoll.After(now) && now.Sub(p.polledAt) >= pollFirst {
			p.nextPoll = now
		}
	}
}

// endCycle logs the end of a refresh cycle: every peer published and read.
func (r *runner) endCycle(now time.Time) {
	if r.jobs.cycleStart.IsZero() {
		return
	}
	for _, p := range r.peers {
		if p.polledAt.Before(r.jobs.cycleStart.Add(-pollFirst)) || p.publishing || p.polling ||
			p.published.Before(r.jobs.cycleStart) && !p.pubFailed && r.canPublish() {
			return
		}
	}
	r.log.Debug("refresh done", "peers", len(r.peers), "took", now.Sub(r.jobs.cycleStart).Round(time.Millisecond))
	r.jobs.cycleStart = time.Time{}
}

func (r *runner) canPublish() bool {
	return r.published4().IsValid() || r.disc.mapped[1].IsValid()
}

// pollWanted says whether a read of p's record is wanted (none is running)
// and from when.
func (r *runner) pollWanted(p *peer) (time.Time, bool) {
	return p.nextPoll, !p.polling
}

// publishWanted says whether p's record is to be written (the mapping is
// known, the last one is out of date and no write is running) and from when.
func (r *runner) publishWanted(p *peer) (time.Time, bool) {
	return p.nextPub, !p.publishing && p.published.IsZero() && r.canPublish()
}

// startJobs starts the publishes and polls that are due, at most
// d.workers at a time.
func (r *runner) startJobs(ctx context.Context, now time.Time) {
	if r.jobs.inflight >= r.d.workers {
		return
	}
	due := func(at time.Time, ok bool) bool { return ok && !now.Before(at) }
	var ready []*peer
	for _, p := range r.peers {
		if due(r.publishWanted(p)) || due(r.pollWanted(p)) {
			ready = append(ready, p)
		}
	}
	sort.Slice(ready, func(i, j int) bool { return ready[i].nextPoll.Before(ready[j].nextPoll) })
	e := record.Endpoints{IPv4: r.published4(), IPv6: r.disc.mapped[1], Time: now, NAT: r.effectiveClass().Hint()}
	if r.set.ic.PathChecks {
		e.Checks, e.Candidates = true, r.candidates()
	}
	for _, p := range ready {
		if due(r.publishWanted(p)) {
			if r.jobs.inflight >= r.d.workers {
				return
			}
			r.startPublish(ctx, p, e)
		}
		if due(r.pollWanted(p)) {
			if r.jobs.inflight >= r.d.workers {
				return
			}
			r.startPoll(ctx, p)
		}
	}
}

func (r *runner) startPublish(ctx context.Context, p *peer, e record.Endpoints) {
	p.publishing = true
	r.jobs.inflight++
	priv, pub, st := r.dev.PrivateKey, r.dev.PublicKey, r.set.store
	go func() {
		key := record.Key(pub, p.key)
		val, err := record.Seal(e, priv, p.key, r.d.deps.Rand)
		if err == nil {
			sctx, cancel := context.WithTimeout(ctx, storeTimeout)
			err = st.Set(sctx, key, val)
			cancel()
		}
		r.deliver(ctx, result{kind: jobPublish, peer: p, pub: pub, err: err})
	}()
}

func (r *runner) startPoll(ctx context.Context, p *peer) {
	p.polling = true
	r.jobs.inflight++
	pub, priv, st := r.dev.PublicKey, r.dev.PrivateKey, r.set.store
	go func() {
		sctx, cancel := context.WithTimeout(ctx, storeTimeout)
		res := result{kind: jobPoll, peer: p, pub: pub}
		if m, ok := st.(store.Multi); ok {
			var vals []string
			vals, res.err = m.GetAll(sctx, record.Key(p.key, pub))
			res.val, res.rec = newest(vals, priv, p.key)
		} else {
			res.val, res.err = st.Get(sctx, record.Key(p.key, pub))
		}
		cancel()
		r.deliver(ctx, res)
	}()
}

// deliver hands a job's result back, unless the runner has stopped.
func (r *runner) deliver(ctx context.Context, res result) {
	select {
	case r.results <- res:
	case <-ctx.Done():
	}
}

// apply takes in a finished job.
func (r *runner) apply(res result) {
	switch res.kind {
	case jobDiscover:
		r.discovered(res)
		return
	case jobClassify:
		r.classified(res)
		return
	case jobCheck:
		r.checked(res)
		return
	}
	r.jobs.inflight--
	p := res.peer
	now := r.now()
	switch res.kind {
	case jobPublish:
		p.publishing = false
	case jobPoll:
		p.polling = false
	}
	if r.peers[p.key] != p || res.pub != r.pub {
		return // the peer left, or our key changed, while the job ran
	}
	if res.err != nil && !errors.Is(res.err, store.ErrNotFound) {
		r.storeFailed(res.err)
	} else {
		r.storeWorks()
	}
	switch res.kind {
	case jobPublish:
		if res.err != nil {
			p.pubFailed = true
			p.lastErr = "publish: " + res.err.Error()
			p.pubBackoff = min(max(2*p.pubBackoff, storeFirst), r.set.ic.Refresh)
			p.nextPub = now.Add(p.pubBackoff)
			return
		}
		if p.pubFailed {
			p.lastErr = ""
		}
		p.pubFailed, p.pubBackoff = false, 0
		p.published = now
	case jobPoll:
		p.polledAt = now
		switch {
		case errors.Is(res.err, store.ErrNotFound):
			if !p.haveRec {
				p.reason = "no record from the peer yet (store key " + record.Key(p.key, r.pub) + ")"
			}
			p.lastErr = ""
		case res.err != nil:
			p.lastErr = "read record: " + res.err.Error()
		default:
			r.accept(p, res.val, res.rec, now)
		}
		r.judge(p, now)
		if p.state != StateConnected && res.err == nil && p.lastErr == "" {
			r.startRound(r.ctx, p) // act waits for it
		}
		r.act(p, now)
		if p.state != StateConnected && p.cand.IsValid() && !p.setAt.Equal(now) {
			r.punch(p.cand)
		}
		r.schedule(p, now)
	}
	r.logPeerErr(p)
}

// storeFailed logs a store failure once per change of message: with a
// store down, every peer fails the same way, and one line says it.
func (r *runner) storeFailed(err error) {
	msg := err.Error()
	if msg == r.jobs.storeErr {
		return
	}
	r.jobs.storeErr = msg
	r.log.Warn("store failing; endpoints in use are kept, retrying with backoff", "store", r.set.ic.Store, "err", msg)
}

func (r *runner) storeWorks() {
	if r.jobs.storeErr == "" {
		return
	}
	r.jobs.storeErr = ""
	r.log.Info("store works again", "store", r.set.ic.Store)
}

// newest picks, among the values a Multi store holds under a peer's key,
// the one that opens with the latest sealed time (returned opened, so
// accept need not open it again); among untimed ones (stunmesh-go) the
// store's first. When none opens it returns the first, unopened, for
// accept to report why.
func newest(vals []string, priv, peer wgtypes.Key) (string, *record.Endpoints) {
	var best *record.Endpoints
	val := ""
	for _, v := range vals {
		e, err := record.Open(v, priv, peer)
		if err == nil && (best == nil || e.Time.After(best.Time)) {
			best, val = &e, v
		}
	}
	if best == nil && len(vals) > 0 {
		return vals[0], nil
	}
	return val, best
}
