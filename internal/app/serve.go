package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
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

// Serve runs the API until ctx is done, then stops accepting connections,
// lets in-flight requests finish within cfg.ShutdownTimeout and closes the
// pool. ln is the listener to serve on; nil means the socket systemd passed
// (socket activation) or else a new one on cfg.ListenAddr.
func Serve(ctx context.Context, cfg config.Config, ln net.Listener, log *slog.Logger) error {
	pool, err := database.Open(ctx, cfg.DatabaseURL, cfg.DatabaseMaxConns)
	if err != nil {
		return err
	}
	defer pool.Close()
	if cfg.MigrateOnStart {
		url, what := cfg.MigrationURL()
		if err := database.MigrateAt(ctx, url, what, log); err != nil {
			return err
		}
	}
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
	handler, err := httpapi.NewHandler(httpapi.Deps{
		Pool:           pool,
		Replicas:       replicas,
		Log:            log,
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
	})
	if err != nil {
		return err
	}

	if ln == nil {
		if ln, err = listen(cfg.ListenAddr); err != nil {
			return err
		}
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
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
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	_, _ = daemon.SdNotify(false, daemon.SdNotifyStopping)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: in-flight requests did not finish within %s: %w", cfg.ShutdownTimeout, err)
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
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
