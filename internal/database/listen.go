package database

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Subscriber is what a Listener keeps informed. Its methods are called
// from the Listener's goroutine, one at a time.
type Subscriber interface {
	// Probe sends a notification on the channel with payload from
	// another session than the listener's, after checking what the real
	// notifications depend on (for the tags: their trigger, enabled).
	// The Listener waits for that payload before it reports them live.
	Probe(ctx context.Context, payload string) error
	// Notified is called for every notification on the channel.
	Notified()
	// Live is called with true once notifications are known to arrive,
	// and with false as soon as they may not (the session failed, or the
	// Listener stopped). Any sent in between are lost, so what they keep
	// fresh must not be trusted while not live.
	Live(bool)
}

// Listener timings.
const (
	// listenConnectTimeout bounds a connection attempt and the probe.
	listenConnectTimeout = 5 * time.Second
	// listenIdlePing: after this long without a notification the session
	// is pinged, so that a connection lost without a word (a dead peer,
	// a dropped route) is noticed within about this long.
	listenIdlePing = 10 * time.Second
	// listenRetry is the first wait before a new session after one
	// failed; it doubles up to listenRetryMax.
	listenRetry    = time.Second
	listenRetryMax = 30 * time.Second
)

var (
	// errNoNotifications: the probe ran but its notification never came.
	errNoNotifications = errors.New("a notification sent from another session did not arrive")
	// errPooled: the connection reaches PostgreSQL through a pooler.
	errPooled = errors.New("the connection goes through a pooler such as PgBouncer, which does not keep a LISTEN with its client: set DATABASE_MIGRATE_URL to the primary itself")
)

// Listener holds one session that LISTENs on a PostgreSQL channel, apart
// from the pool, and tells its Subscriber of every notification and of
// whether it is listening. A lost session is replaced, with a growing
// wait, until the Listener stops.
type Listener struct {
	cfg     *pgx.ConnConfig
	setting string
	channel string
	sub     Subscriber
	log     *slog.Logger
	live    atomic.Bool
}

// Channel is the channel the Listener listens on.
func (l *Listener) Channel() string { return l.channel }

// Live reports whether the Listener is live: listening, with its probe's
// notification received.
func (l *Listener) Live() bool { return l.live.Load() }

// NewListener returns a Listener on channel of the database at url (named
// by the setting in messages), which must reach the primary itself: a
// connection through a pooler is refused. It connects when started.
func NewListener(url, setting, channel string, sub Subscriber, log *slog.Logger) (*Listener, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, errors.New(setting + ": not a valid PostgreSQL connection string")
	}
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > listenConnectTimeout {
		cfg.ConnectTimeout = listenConnectTimeout
	}
	// Operators (and tests) tell the session apart by its name.
	cfg.RuntimeParams["application_name"] = ListenerName(channel)
	// Its few statements are simple ones: nothing to prepare.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	return &Listener{cfg: cfg, setting: setting, channel: channel, sub: sub, log: log}, nil
}

// ListenerName is the application_name of a Listener's session on
// channel, as pg_stat_activity shows it.
func ListenerName(channel string) string { return "sophsapp listener " + channel }

// Start listens until ctx is done or stop is called; stop returns once the
// session is closed and the Subscriber told it is not live.
func (l *Listener) Start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { l.run(ctx) })
	return func() {
		cancel()
		wg.Wait()
	}
}

func (l *Listener) run(ctx context.Context) {
	wait := listenRetry
	var lastErr string
	for {
		wasLive, err := l.session(ctx)
		if ctx.Err() != nil {
			return
		}
		// After a live session the waits start over, and its failure
		// is logged even if the last one before it said the same.
		if wasLive {
			wait, lastErr = listenRetry, ""
		}
		if msg := err.Error(); msg != lastErr {
			lastErr = msg
			l.log.Warn("not listening for database notifications: what they keep fresh is read from the database each time",
				"channel", l.channel, "setting", l.setting, "retry_in", wait.String(), "error", msg)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, listenRetryMax)
	}
}

// session connects, listens, checks with the Subscriber's probe that
// notifications arrive and then relays them until the connection fails or
// ctx is done. wasLive says whether it got that far.
func (l *Listener) session(ctx context.Context) (wasLive bool, err error) {
	cctx, cancel := context.WithTimeout(ctx, listenConnectTimeout)
	conn, err := pgx.ConnectConfig(cctx, l.cfg)
	cancel()
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	// A pooler answers the startup with a backend key of its own, not the
	// server's: a LISTEN sent through it would stay with a server
	// connection that other clients go on using, and its notifications
	// would reach them, not this session.
	var pid uint32
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		return false, fmt.Errorf("backend pid: %w", err)
	}
	if pid != conn.PgConn().PID() {
		return false, errPooled
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.channel}.Sanitize()); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	if err := l.probe(ctx, conn); err != nil {
		return false, err
	}
	l.sub.Live(true)
	l.live.Store(true)
	defer func() {
		l.live.Store(false)
		l.sub.Live(false)
	}()
	l.log.Info("listening for database notifications", "channel", l.channel, "setting", l.setting)
	for {
		wctx, cancel := context.WithTimeout(ctx, listenIdlePing)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			l.sub.Notified()
			continue
		case ctx.Err() != nil:
			return true, ctx.Err()
		case !errors.Is(err, context.DeadlineExceeded):
			return true, fmt.Errorf("wait for notifications: %w", err)
		}
		pctx, cancel := context.WithTimeout(ctx, listenConnectTimeout)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return true, fmt.Errorf("ping: %w", err)
		}
	}
}

// probe runs the Subscriber's probe with a payload of its own and waits
// for that notification; others that come meanwhile prove nothing.
func (l *Listener) probe(ctx context.Context, conn *pgx.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, listenConnectTimeout)
	defer cancel()
	nonce := rand.Text()
	if err := l.sub.Probe(ctx, nonce); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			return errNoNotifications
		case err != nil:
			return fmt.Errorf("wait for the probe's notification: %w", err)
		case n.Payload == nonce:
			return nil
		}
	}
}
