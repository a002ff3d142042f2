package database

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestLagOf(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := walHistory{window: time.Minute}
	if _, ok := h.lagOf(0, t0); ok {
		t.Fatal("a lag without any sample of the primary")
	}
	h.add(t0, 100)
	// An idle primary: its position stays, and a replica that has it is
	// not behind, however long ago the last write was.
	h.add(t0.Add(30*time.Second), 100)
	if lag, ok := h.lagOf(100, t0.Add(time.Hour)); !ok || lag != 0 {
		t.Errorf("caught-up replica of an idle primary: lag %s, %v; want 0", lag, ok)
	}
	if lag, _ := h.lagOf(150, t0.Add(time.Hour)); lag != 0 {
		t.Errorf("replica ahead of the last sample: lag %s, want 0", lag)
	}

	h.add(t0.Add(40*time.Second), 200)
	h.add(t0.Add(41*time.Second), 300)
	for _, c := range []struct {
		replayed int64
		now      time.Duration
		want     time.Duration
	}{
		{300, 45 * time.Second, 0},
		{250, 45 * time.Second, 4 * time.Second}, // lacks what was first seen at 41 s
		{100, 45 * time.Second, 5 * time.Second}, // lacks what was first seen at 40 s
		{50, 45 * time.Second, 45 * time.Second}, // lacks even the first sample
		{200, 40 * time.Second, 0},               // a sample taken after now cannot be lacked for long
	} {
		lag, ok := h.lagOf(c.replayed, t0.Add(c.now))
		if !ok || lag != c.want {
			t.Errorf("replayed %d at %s: lag %s, want %s", c.replayed, c.now, lag, c.want)
		}
	}

	// Samples older than the window are forgotten, the newest kept: a
	// replica behind all that is left is behind by at least the window.
	h.add(t0.Add(3*time.Minute), 400)
	if len(h.samples) != 1 {
		t.Fatalf("kept %d samples beyond the window, want 1", len(h.samples))
	}
	if lag, _ := h.lagOf(300, t0.Add(3*time.Minute+2*time.Second)); lag != 2*time.Second {
		t.Errorf("after pruning: lag %s, want 2s", lag)
	}
}

func TestJudge(t *testing.T) {
	now := time.Now()
	r := &Replicas{maxLag: 5 * time.Second, history: walHistory{window: time.Minute}}
	if got := r.judge(replayed{inRecovery: true, lsn: 10}, now); got.state != ReplicaUnknown {
		t.Errorf("no sample of the primary yet: %s, want unknown", got.state)
	}
	r.history.add(now.Add(-10*time.Second), 10)
	r.history.add(now.Add(-3*time.Second), 20)
	for _, c := range []struct {
		got  replayed
		want ReplicaState
	}{
		{replayed{err: errors.New("connection refused")}, ReplicaDown},
		{replayed{inRecovery: false, lsn: -1}, ReplicaNotStandby},
		{replayed{inRecovery: true, lsn: 20}, ReplicaOK},
		{replayed{inRecovery: true, lsn: 15}, ReplicaOK},     // 3 s behind
		{replayed{inRecovery: true, lsn: 5}, ReplicaLagging}, // 10 s behind
	} {
		if got := r.judge(c.got, now); got.state != c.want {
			t.Errorf("%+v: %s (%s), want %s", c.got, got.state, got.why, c.want)
		}
	}
}

func TestRetryOnPrimary(t *testing.T) {
	for _, c := range []struct {
		err         error
		retry, lost bool
	}{
		{io.ErrUnexpectedEOF, true, true},
		{fmt.Errorf("list: %w", &pgconn.PgError{Code: pgerrcode.AdminShutdown}), true, true},
		{&pgconn.PgError{Code: pgerrcode.TooManyConnections}, true, true},
		{&pgconn.PgError{Code: pgerrcode.SerializationFailure}, true, false}, // recovery conflict
		{&pgconn.PgError{Code: pgerrcode.UndefinedTable}, false, false},      // a wrong query fails on the primary too
		{pgx.ErrNoRows, false, false},
		{errors.New("can't scan into dest"), false, false},
	} {
		if got := retryOnPrimary(c.err); got != c.retry {
			t.Errorf("retryOnPrimary(%v) = %v", c.err, got)
		}
		if got := connectionLost(c.err); got != c.lost {
			t.Errorf("connectionLost(%v) = %v", c.err, got)
		}
	}
}
