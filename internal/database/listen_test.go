package database_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sophsapp/sophsapp/internal/apptest"
	"github.com/sophsapp/sophsapp/internal/database"
	"github.com/sophsapp/sophsapp/internal/pgtest"
)

// recorder is a database.Subscriber that records what it is told; its
// probe sends a notification on the channel from a session of its own.
type recorder struct {
	url, channel string

	mu       sync.Mutex
	live     []bool
	notified int
	probes   int
}

func (r *recorder) Probe(ctx context.Context, payload string) error {
	r.mu.Lock()
	r.probes++
	r.mu.Unlock()
	return notify(ctx, r.url, r.channel, payload)
}

func (r *recorder) Notified() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notified++
}

func (r *recorder) Live(live bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.live = append(r.live, live)
}

// state returns the last Live value, how many times Live was called and
// how many notifications came.
func (r *recorder) state() (live bool, changes, notified, probes int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.live) > 0 {
		live = r.live[len(r.live)-1]
	}
	return live, len(r.live), r.notified, r.probes
}

// notify sends a notification on channel with payload from a new session.
func notify(ctx context.Context, url, channel, payload string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "SELECT pg_notify($1, $2)", channel, payload)
	return err
}

// waitUntil polls cond for up to d, failing the test with what.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", d, what)
		}
	}
}

// TestListener checks that a Listener goes live only once its probe's
// notification arrives, relays every notification, reports a session it
// lost at once and listens again on a new one, and is no longer live once
// stopped.
func TestListener(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	sub := &recorder{url: url, channel: "things_changed"}
	var logs apptest.SyncBuffer
	l, err := database.NewListener(url, "DATABASE_URL", sub.channel, sub, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	stop := l.Start(ctx)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	waitUntil(t, 10*time.Second, "the listener to go live", func() bool { live, _, _, _ := sub.state(); return live })
	if _, changes, notified, probes := sub.state(); changes != 1 || notified != 0 || probes != 1 {
		t.Fatalf("after start: %d Live calls, %d notifications, %d probes; want 1, 0 (the probe's is not relayed), 1", changes, notified, probes)
	}

	for i := 1; i <= 3; i++ {
		if err := notify(ctx, url, sub.channel, ""); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 5*time.Second, "a notification", func() bool { _, _, n, _ := sub.state(); return n == i })
	}
	if err := notify(ctx, url, "another_channel", ""); err != nil {
		t.Fatal(err)
	}

	// PostgreSQL ends the listener's session: it is reported at once,
	// not at the next ping, and a new session goes live.
	pid := pgtest.Ints(t, url, "SELECT pid FROM pg_stat_activity WHERE application_name = $1", database.ListenerName(sub.channel))[0]
	if pgtest.Ints(t, url, "SELECT pg_terminate_backend($1)::int", pid)[0] != 1 {
		t.Fatal("pg_terminate_backend failed")
	}
	waitUntil(t, time.Second, "the lost session to be reported", func() bool { _, changes, _, _ := sub.state(); return changes >= 2 })
	waitUntil(t, 10*time.Second, "a new session to go live", func() bool { live, changes, _, _ := sub.state(); return live && changes == 3 })
	if err := notify(ctx, url, sub.channel, ""); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "a notification on the new session", func() bool { _, _, n, _ := sub.state(); return n == 4 })
	if _, _, n, _ := sub.state(); n != 4 {
		t.Errorf("%d notifications relayed, want 4 (none from another channel)", n)
	}
	// Lost again the same way: logged again, since a live session came
	// in between.
	pid = pgtest.Ints(t, url, "SELECT pid FROM pg_stat_activity WHERE application_name = $1", database.ListenerName(sub.channel))[0]
	if pgtest.Ints(t, url, "SELECT pg_terminate_backend($1)::int", pid)[0] != 1 {
		t.Fatal("pg_terminate_backend failed")
	}
	waitUntil(t, 10*time.Second, "a third session to go live", func() bool { live, changes, _, _ := sub.state(); return live && changes == 5 })
	if n := strings.Count(logs.String(), "not listening for database notifications"); n != 2 {
		t.Errorf("%d warnings for two lost sessions, want 2:\n%s", n, logs.String())
	}

	stop()
	stopped = true
	if live, _, _, _ := sub.state(); live {
		t.Error("still live after stop")
	}
	waitUntil(t, 5*time.Second, "the listener's session to end", func() bool {
		return pgtest.Ints(t, url, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", database.ListenerName(sub.channel))[0] == 0
	})
}

// TestListenerThroughPgBouncer checks that a Listener whose connection
// goes through a transaction-pooling PgBouncer, which does not keep a
// LISTEN with its client, never goes live, never sends LISTEN to a server
// connection other clients use, and says why; and that it still stops
// promptly.
func TestListenerThroughPgBouncer(t *testing.T) {
	direct := pgtest.NewDatabase(t)
	bouncer := pgtest.StartPgBouncer(t, direct, pgtest.PgBouncerOptions{PoolSize: 2})
	sub := &recorder{url: direct, channel: "things_changed"}
	var logs apptest.SyncBuffer
	l, err := database.NewListener(bouncer.URL(direct), "DATABASE_URL", sub.channel, sub, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	stop := l.Start(context.Background())
	waitUntil(t, 15*time.Second, "the pooler to be found", func() bool { return strings.Contains(logs.String(), "goes through a pooler") })
	began := time.Now()
	stop()
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("stop took %s", took)
	}
	if _, changes, _, _ := sub.state(); changes != 0 {
		t.Errorf("through PgBouncer: %d Live calls, want none", changes)
	}
	if n := pgtest.Ints(t, direct, "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'listen%'")[0]; n != 0 {
		t.Errorf("%d server connections were sent LISTEN through PgBouncer", n)
	}
}

// TestListenerWaitsForItsOwnProbe checks that notifications other
// sessions send while the Listener waits for its probe's do not pass for
// it: with a probe that sends nothing, it never goes live, however busy
// the channel.
func TestListenerWaitsForItsOwnProbe(t *testing.T) {
	url := pgtest.NewDatabase(t)
	sub := &silentProbe{recorder{url: url, channel: "things_changed"}}
	var logs apptest.SyncBuffer
	l, err := database.NewListener(url, "DATABASE_URL", sub.channel, sub, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return
		}
		defer conn.Close(context.Background())
		for ctx.Err() == nil {
			_, _ = conn.Exec(ctx, "SELECT pg_notify($1, 'someone else')", sub.channel)
			time.Sleep(20 * time.Millisecond)
		}
	})
	stop := l.Start(ctx)
	waitUntil(t, 15*time.Second, "the probe to time out", func() bool { return strings.Contains(logs.String(), "did not arrive") })
	stop()
	cancel()
	wg.Wait()
	if _, changes, _, probes := sub.state(); changes != 0 || probes == 0 {
		t.Errorf("%d Live calls after %d probes that sent nothing, want none", changes, probes)
	}
}

// silentProbe is a recorder whose probe sends nothing.
type silentProbe struct{ recorder }

func (s *silentProbe) Probe(context.Context, string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.probes++
	return nil
}
