package database

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ReplicaState is what the last look at a replica found.
type ReplicaState string

// The states of a replica. Only an ok replica serves reads.
const (
	// ReplicaUnknown: not probed yet, or its lag cannot be told because
	// the primary has not answered since the service started.
	ReplicaUnknown ReplicaState = "unknown"
	// ReplicaOK: reachable, in recovery, and at most MaxLag behind.
	ReplicaOK ReplicaState = "ok"
	// ReplicaLagging: reachable but more than MaxLag behind the primary.
	ReplicaLagging ReplicaState = "lagging"
	// ReplicaDown: unreachable, or a read on it just failed.
	ReplicaDown ReplicaState = "down"
	// ReplicaNotStandby: the server is not in recovery (promoted, or not
	// a replica at all), so it may not follow the primary.
	ReplicaNotStandby ReplicaState = "not_standby"
)

// ReplicaStates lists every state, for reports that enumerate them.
var ReplicaStates = []ReplicaState{ReplicaUnknown, ReplicaOK, ReplicaLagging, ReplicaDown, ReplicaNotStandby}

// ReplicaStatus is a replica as the service sees it now.
type ReplicaStatus struct {
	// Name is the replica's host:port (never its credentials).
	Name  string
	State ReplicaState
	// Lag is how far the replica's replay is behind the primary, to within
	// one probe interval; LagKnown is false when it cannot be told (the
	// replica or the primary does not answer).
	Lag      time.Duration
	LagKnown bool
	// Reads counts the reads it answered; Fallbacks the reads that failed
	// on it for want of a connection and were answered by the primary.
	Reads, Fallbacks uint64
}

// ReplicaOptions configure OpenReplicas.
type ReplicaOptions struct {
	// MaxConns is the read pool size of each replica.
	MaxConns int32
	// MaxLag is the most a replica may be behind and still serve reads.
	MaxLag time.Duration
	Log    *slog.Logger
}

// Replicas routes reads between the primary and the streaming replicas.
// A probe looks at every replica about once a second (more often when
// MaxLag is short): a replica that answers, is in recovery and has
// replayed the WAL the primary had flushed at most MaxLag ago serves
// reads, in turn with the other healthy ones; any other serves none until
// a later probe finds it healthy again.
//
// Lag is measured by WAL position, not by replay timestamps: the probe
// notes the primary's flushed WAL position with the time it was first
// seen, and a replica's lag is how long ago the primary first had WAL the
// replica has not replayed yet. A replica that has replayed everything is
// 0 behind however long the primary has been idle, which a "now minus
// last replayed transaction's timestamp" measure gets wrong.
//
// A zero Replicas (no replica configured) sends every read to the primary.
type Replicas struct {
	primary  *pgxpool.Pool
	probe    *pgxpool.Pool // one connection to the primary, for the probe
	list     []*replica
	maxLag   time.Duration
	interval time.Duration
	log      *slog.Logger

	next         atomic.Uint64
	primaryReads atomic.Uint64
	history      walHistory // written by the probe goroutine only
	stop         context.CancelFunc
	done         chan struct{}
}

type replica struct {
	name   string
	pool   *pgxpool.Pool // reads
	probe  *pgxpool.Pool // one connection, for the probe: a busy read pool never delays it
	status atomic.Pointer[replicaProbe]
	// up ends when the replica is found down, and with it the reads in
	// flight on it, which then run on the primary: a replica that stops
	// answering without closing its connections (a host gone, a network
	// cut) delays them by about a probe instead of failing them at the
	// request's deadline.
	up atomic.Pointer[lifetime]

	reads, fallbacks atomic.Uint64
}

type lifetime struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func newLifetime() *lifetime {
	ctx, cancel := context.WithCancel(context.Background())
	return &lifetime{ctx, cancel}
}

// replicaProbe is one verdict on a replica.
type replicaProbe struct {
	state    ReplicaState
	lag      time.Duration
	lagKnown bool
	why      string
}

// probeTimeout bounds one probe of one server: a replica that hangs is
// down, not a reason to stop looking at the others.
const probeTimeout = time.Second

// OpenReplicas opens a read pool for each of urls and starts probing them;
// primary answers every read no replica can. Nothing is connected yet: a
// replica that is down at start is simply not used until it answers.
// Close stops the probe and closes the replicas' pools (not primary).
func OpenReplicas(ctx context.Context, primary *pgxpool.Pool, urls []string, opts ReplicaOptions) (*Replicas, error) {
	r := &Replicas{primary: primary, maxLag: opts.MaxLag, log: opts.Log}
	if r.log == nil {
		r.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	seen := map[string]int{}
	for i, u := range urls {
		if u = strings.TrimSpace(u); u == "" {
			continue
		}
		what := fmt.Sprintf("DATABASE_REPLICA_URLS (entry %d)", i+1)
		pool, err := openPool(ctx, u, opts.MaxConns, what)
		if err != nil {
			r.Close()
			return nil, err
		}
		probe, err := openPool(ctx, u, 1, what)
		if err != nil {
			pool.Close()
			r.Close()
			return nil, err
		}
		cc := pool.Config().ConnConfig
		name := net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port)))
		if seen[name]++; seen[name] > 1 {
			name += "#" + strconv.Itoa(seen[name])
		}
		rep := &replica{name: name, pool: pool, probe: probe}
		rep.status.Store(&replicaProbe{state: ReplicaUnknown, why: "not probed yet"})
		rep.up.Store(newLifetime())
		r.list = append(r.list, rep)
	}
	if len(r.list) == 0 {
		return r, nil
	}
	probe, err := openPool(ctx, primary.Config().ConnString(), 1, "DATABASE_URL")
	if err != nil {
		r.Close()
		return nil, err
	}
	r.probe = probe
	r.interval = min(max(opts.MaxLag/4, 100*time.Millisecond), time.Second)
	r.history.window = max(time.Minute, 4*opts.MaxLag)
	ctx, r.stop = context.WithCancel(context.WithoutCancel(ctx))
	r.done = make(chan struct{})
	go r.run(ctx)
	return r, nil
}

// Close stops the probe and closes the replicas' pools.
func (r *Replicas) Close() {
	if r == nil {
		return
	}
	if r.stop != nil {
		r.stop()
		<-r.done
	}
	for _, rep := range r.list {
		rep.up.Load().cancel()
		rep.pool.Close()
		rep.probe.Close()
	}
	if r.probe != nil {
		r.probe.Close()
	}
}

// Configured reports whether any replica is configured.
func (r *Replicas) Configured() bool { return r != nil && len(r.list) > 0 }

// Read runs fn, a read, on a healthy replica, or on the primary when there
// is none; fn must use the context it is given. When fn fails on the
// replica because the replica could not answer (connection lost or
// refused, server shutting down, a query cancelled by a recovery
// conflict), or the probe finds the replica down while fn waits on it, fn
// runs again on the primary, so a replica going away mid-request fails no
// request; a lost connection also takes the replica out of rotation until
// the probe finds it healthy. fn may run twice and must have no effect
// beyond its result.
func (r *Replicas) Read(ctx context.Context, fn func(context.Context, *pgxpool.Pool) error) error {
	rep := r.pick()
	if rep == nil {
		r.primaryReads.Add(1)
		return fn(ctx, r.primary)
	}
	rctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(rep.up.Load().ctx, func() { cancel(ErrUnresponsive) })
	err := fn(rctx, rep.pool)
	abandoned := !stop() && ctx.Err() == nil
	cancel(nil)
	if err == nil || ctx.Err() != nil || !(abandoned || retryOnPrimary(err)) {
		rep.reads.Add(1)
		return err
	}
	if abandoned {
		err = fmt.Errorf("replica found down during the read: %w", err)
	} else if connectionLost(err) {
		r.setStatus(rep, &replicaProbe{state: ReplicaDown, why: "a read failed: " + err.Error()})
	}
	rep.fallbacks.Add(1)
	r.primaryReads.Add(1)
	r.log.WarnContext(ctx, "replica could not answer a read; the primary answers it", "replica", rep.name, "error", err.Error())
	return fn(ctx, r.primary)
}

// Status returns every replica's state, in configuration order.
func (r *Replicas) Status() []ReplicaStatus {
	if r == nil {
		return nil
	}
	out := make([]ReplicaStatus, len(r.list))
	for i, rep := range r.list {
		p := rep.status.Load()
		out[i] = ReplicaStatus{
			Name: rep.name, State: p.state, Lag: p.lag, LagKnown: p.lagKnown,
			Reads: rep.reads.Load(), Fallbacks: rep.fallbacks.Load(),
		}
	}
	return out
}

// PrimaryReads counts the reads Read sent to the primary, fallbacks
// included.
func (r *Replicas) PrimaryReads() uint64 {
	if r == nil {
		return 0
	}
	return r.primaryReads.Load()
}

// pick returns the next healthy replica in turn, or nil.
func (r *Replicas) pick() *replica {
	if r == nil || len(r.list) == 0 {
		return nil
	}
	n := uint64(len(r.list))
	start := r.next.Add(1)
	for i := range n {
		rep := r.list[(start+i)%n]
		if rep.status.Load().state == ReplicaOK {
			return rep
		}
	}
	return nil
}

// setStatus records a verdict, logs a change of state, and drops the
// replica's pooled connections when it goes down: after a restart they
// are all dead, and the next reads should not each find that out.
func (r *Replicas) setStatus(rep *replica, p *replicaProbe) {
	old := rep.status.Swap(p)
	if old.state == p.state {
		return
	}
	if p.state == ReplicaDown {
		rep.up.Swap(newLifetime()).cancel()
		rep.pool.Reset()
	}
	level := slog.LevelWarn
	if p.state == ReplicaOK {
		level = slog.LevelInfo
	}
	r.log.Log(context.Background(), level, "replica state changed", "replica", rep.name, "from", string(old.state), "to", string(p.state), "reason", p.why)
}

func (r *Replicas) run(ctx context.Context) {
	defer close(r.done)
	tick := time.NewTicker(r.interval)
	defer tick.Stop()
	for {
		r.probeAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// replayed is what a replica said about itself.
type replayed struct {
	err        error
	inRecovery bool
	lsn        int64
}

// probeAll samples the primary's flushed WAL position, then every replica
// (in parallel, so one that hangs delays no other) and judges each.
func (r *Replicas) probeAll(ctx context.Context) {
	pctx, cancel := context.WithTimeoutCause(ctx, probeTimeout, ErrUnresponsive)
	var lsn int64
	err := r.probe.QueryRow(pctx, "SELECT (pg_current_wal_flush_lsn() - '0/0'::pg_lsn)::int8").Scan(&lsn)
	cancel()
	if err == nil {
		r.history.add(time.Now(), lsn)
	} else if ctx.Err() == nil {
		r.log.Debug("replica probe: the primary's WAL position is unknown", "error", err.Error())
	}

	got := make([]replayed, len(r.list))
	var wg sync.WaitGroup
	for i, rep := range r.list {
		wg.Go(func() {
			pctx, cancel := context.WithTimeoutCause(ctx, probeTimeout, ErrUnresponsive)
			defer cancel()
			got[i].err = rep.probe.QueryRow(pctx,
				"SELECT pg_is_in_recovery(), coalesce((pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::int8, -1)").
				Scan(&got[i].inRecovery, &got[i].lsn)
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return // shutting down: what the probes saw says nothing
	}
	now := time.Now()
	for i, rep := range r.list {
		r.setStatus(rep, r.judge(got[i], now))
	}
}

// judge turns what a replica said into a verdict.
func (r *Replicas) judge(got replayed, now time.Time) *replicaProbe {
	switch {
	case got.err != nil:
		return &replicaProbe{state: ReplicaDown, why: got.err.Error()}
	case !got.inRecovery:
		return &replicaProbe{state: ReplicaNotStandby, why: "the server is not in recovery"}
	}
	lag, ok := r.history.lagOf(got.lsn, now)
	switch {
	case !ok:
		return &replicaProbe{state: ReplicaUnknown, why: "the primary's WAL position is unknown"}
	case lag > r.maxLag:
		return &replicaProbe{state: ReplicaLagging, lag: lag, lagKnown: true, why: fmt.Sprintf("%s behind, more than %s", lag.Round(time.Millisecond), r.maxLag)}
	}
	return &replicaProbe{state: ReplicaOK, lag: lag, lagKnown: true, why: "caught up"}
}

// walHistory remembers when the primary's flushed WAL position was first
// seen at each value, for the last window.
type walHistory struct {
	window  time.Duration
	samples []walSample // ascending in time and position
}

type walSample struct {
	at  time.Time
	lsn int64
}

// add records the primary's position lsn seen at time at. A position seen
// before keeps its first time: an idle primary's WAL does not move, and a
// replica that has all of it is not behind.
func (h *walHistory) add(at time.Time, lsn int64) {
	if n := len(h.samples); n > 0 && h.samples[n-1].lsn >= lsn {
		return
	}
	h.samples = append(h.samples, walSample{at, lsn})
	// Forget what is older than the window, keeping at least one sample;
	// a replica behind all that is left is behind by at least the window.
	drop := 0
	for drop < len(h.samples)-1 && at.Sub(h.samples[drop].at) > h.window {
		drop++
	}
	h.samples = h.samples[drop:]
}

// lagOf returns how far behind a replica that has replayed up to lsn is at
// time now: 0 when it has everything the primary had flushed at the last
// sample, else the age of the oldest sample it lacks (to within one probe
// interval, and at most the window). ok is false before any sample.
func (h *walHistory) lagOf(lsn int64, now time.Time) (lag time.Duration, ok bool) {
	if len(h.samples) == 0 {
		return 0, false
	}
	for _, s := range h.samples {
		if s.lsn > lsn {
			return max(now.Sub(s.at), 0), true
		}
	}
	return 0, true
}

// retryOnPrimary reports whether a read that failed on a replica with err
// may succeed on the primary: the replica could not answer, rather than
// the read being wrong.
func retryOnPrimary(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case pgerrcode.SerializationFailure, pgerrcode.DeadlockDetected: // canceled by a conflict with recovery
			return true
		}
	}
	return connectionLost(err)
}

// connectionLost reports whether err means the server could not be
// reached or dropped the connection: refused, reset, closed, shutting
// down, out of connections.
func connectionLost(err error) bool {
	var (
		pgErr   *pgconn.PgError
		connErr *pgconn.ConnectError
		netErr  net.Error
	)
	switch {
	case errors.As(err, &pgErr):
		switch pgErr.Code {
		case pgerrcode.AdminShutdown, pgerrcode.CrashShutdown, pgerrcode.CannotConnectNow: // shutting down, starting up
			return true
		}
		return pgerrcode.IsConnectionException(pgErr.Code) ||
			pgerrcode.IsInsufficientResources(pgErr.Code) // too many connections
	case errors.As(err, &connErr), errors.As(err, &netErr),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		pgconn.SafeToRetry(err):
		return true
	}
	return false
}
