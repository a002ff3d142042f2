package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/sophsapp/sophsapp/internal/auth"
	"github.com/sophsapp/sophsapp/internal/config"
	"github.com/sophsapp/sophsapp/internal/database"
	"github.com/sophsapp/sophsapp/internal/httpapi"
	"github.com/sophsapp/sophsapp/internal/metrics"
)

// Server timeouts. WriteTimeout is a little above Nginx's 60 s proxy
// timeouts so that Nginx, not the app, decides when a request is too slow;
// IdleTimeout outlives Nginx's upstream keepalive.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 60 * time.Second
	writeTimeout      = 65 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 1 << 20
)

// Serve runs the API until ctx is done, then drains for cfg.ShutdownDrain:
// it keeps serving, but every answer closes its connection and health
// answers 503 "draining", so that keep-alive clients and load balancers
// move elsewhere before anything is refused. Then it stops accepting
// connections, lets in-flight requests finish within cfg.ShutdownTimeout
// and closes the pool. ln is the listener to serve on; nil means the socket
// systemd passed (socket activation) or else a new one on cfg.ListenAddr.
//
// Connections still in the listen backlog when the listener closes are
// reset by the kernel; the server never saw them. Under systemd socket
// activation the socket outlives the process and they wait for the next
// one; behind a load balancer the drain has moved new connections away.
//
// Every log line, one per request among them, goes to out as JSON at
// cfg.LogLevel (NewLogger).
func Serve(ctx context.Context, cfg config.Config, ln net.Listener, out io.Writer) error {
	log := NewLogger(out, cfg.LogLevel)
	pool, err := database.Open(ctx, cfg.DatabaseURL, cfg.DatabaseMaxConns)
	if err != nil {
		return err
	}
	defer pool.Close()
	if cfg.MigrateOnStart {
		url, what := cfg.DirectURL()
		if err := database.MigrateAt(ctx, url, what, log); err != nil {
			return fmt.Errorf("MIGRATE_ON_START: %w", err)
		}
	}
	// The service starts while the database is down and connects once it
	// answers; the operator learns of it from the log at once rather than
	// from the 503s. Serving does not wait for the answer.
	pingCtx, cancelPing := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelPing() // before the pool closes
	go func() {
		if err := database.Ping(pingCtx, pool, "DATABASE_URL"); err != nil && pingCtx.Err() == nil {
			log.Error("serving without a database: requests that need it answer 503 until it answers", "error", err.Error())
		}
	}()
	replicas, err := database.OpenReplicas(ctx, pool, cfg.DatabaseReplicaURLs, database.ReplicaOptions{
		MaxConns: cfg.DatabaseMaxConns, MaxLag: cfg.ReplicaMaxLag, Log: log,
	})
	if err != nil {
		return err
	}
	defer replicas.Close()
	m := metrics.New(version, pool)
	m.WatchReplicas(replicas)

	secret := []byte(cfg.JWTSecret)
	if len(secret) == 0 {
		// Development only (config refuses this in production): tokens
		// are valid for this process's lifetime.
		secret = []byte(rand.Text() + rand.Text())
		log.Warn("JWT_SECRET is not set: using a random secret, tokens will not survive a restart")
	}
	draining := new(atomic.Bool)
	var listeners []*database.Listener
	handler, err := httpapi.NewHandler(httpapi.Deps{
		Draining:       draining,
		Pool:           pool,
		Replicas:       replicas,
		Log:            log,
		AccessLog:      out,
		Tokens:         auth.NewTokens(secret, cfg.JWTTTL),
		Version:        version,
		TrustedProxies: cfg.TrustedProxies,
		MaxJSONBytes:   cfg.MaxJSONBytes,
		MaxUploadBytes: cfg.MaxUploadBytes,
		Uploads: httpapi.UploadSettings{
			ContentTypes:  cfg.UploadContentTypes,
			QuotaBytes:    cfg.UploadQuotaBytes,
			PublicBaseURL: cfg.PublicBaseURL,
		},
		RequestTimeout: cfg.RequestTimeout,
		Metrics:        m,
		AllowedOrigins: cfg.CORSAllowedOrigins,
		Subscribe: func(channel string, sub database.Subscriber) error {
			// A session of its own on the primary: DATABASE_MIGRATE_URL
			// when DATABASE_URL goes through PgBouncer.
			url, setting := cfg.DirectURL()
			l, err := database.NewListener(url, setting, channel, sub, log)
			if err == nil {
				listeners = append(listeners, l)
			}
			return err
		},
	})
	if err != nil {
		return err
	}
	m.WatchListeners(listeners)
	for _, l := range listeners {
		defer l.Start(ctx)() // stopped before the pool closes
	}

	if ln == nil {
		if ln, err = listen(cfg.ListenAddr); err != nil {
			return err
		}
	}
	if cfg.PprofAddr != "" {
		stopPprof, err := startPprof(cfg.PprofAddr, log)
		if err != nil {
			return fmt.Errorf("PPROF_ADDR: %w", err)
		}
		defer stopPprof()
	}
	ln = &onceCloseListener{Listener: ln}
	conns := &connTracker{busy: map[net.Conn]bool{}}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ConnState:         conns.track,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "version", version)
	// Tell systemd (Type=notify) we are ready; a no-op outside systemd.
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		log.Warn("sd_notify failed", "error", err.Error())
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	_, _ = daemon.SdNotify(false, daemon.SdNotifyStopping)
	draining.Store(true)
	if cfg.ShutdownDrain > 0 {
		log.Info("draining: serving on, each answer closes its connection, health answers 503; a second signal stops at once",
			"drain_ms", cfg.ShutdownDrain.Milliseconds())
		select {
		case err := <-serveErr:
			return fmt.Errorf("serve: %w", err)
		case <-time.After(cfg.ShutdownDrain):
		}
	}

	log.Info("shutting down", "timeout_ms", cfg.ShutdownTimeout.Milliseconds())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	// Stop accepting by closing the listener before calling Shutdown:
	// once Shutdown has begun, net/http drops every request it reads
	// without an answer, the first request of a connection accepted an
	// instant earlier included. Until Shutdown, requests that arrive on
	// accepted connections are answered (with Connection: close), and
	// Shutdown comes when none is being read or answered.
	_ = ln.Close()
	if err := <-serveErr; err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	conns.waitQuiet(shutdownCtx)
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: in-flight requests did not finish within %s: %w", cfg.ShutdownTimeout, err)
	}
	log.Info("stopped")
	return nil
}

// onceCloseListener lets the listener be closed before Shutdown, which
// closes it again.
type onceCloseListener struct {
	net.Listener
	once sync.Once
	err  error
}

func (l *onceCloseListener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}

// connTracker knows which connections are reading or answering a request
// (new or active, in net/http's terms), as opposed to idle between
// requests.
type connTracker struct {
	mu   sync.Mutex
	busy map[net.Conn]bool
}

func (t *connTracker) track(c net.Conn, state http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if state == http.StateNew || state == http.StateActive {
		t.busy[c] = true
	} else {
		delete(t.busy, c)
	}
}

// waitQuiet returns once no connection is busy, or when ctx ends.
func (t *connTracker) waitQuiet(ctx context.Context) {
	for {
		t.mu.Lock()
		n := len(t.busy)
		t.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// listen returns the socket systemd passed, if any, else a new listener on
// addr. With socket activation the socket outlives the process, so
// connections wait in its backlog during a restart instead of being refused.
func listen(addr string) (net.Listener, error) {
	lns, err := activation.Listeners()
	if err != nil {
		return nil, fmt.Errorf("systemd sockets: %w", err)
	}
	if len(lns) > 0 && lns[0] != nil {
		return lns[0], nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("LISTEN_ADDR: %w", err)
	}
	return ln, nil
}
