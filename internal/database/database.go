// Package database opens sophsapp's PostgreSQL pool and applies the
// embedded migrations.
package database

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/sophsapp/sophsapp"
)

// Open builds a pool for url without connecting: the service starts while
// the database is down and connects as soon as it answers. Dead connections
// are found by the periodic health check and replaced, so a restarted
// database is picked up without restarting the service.
func Open(ctx context.Context, url string, maxConns int32) (*pgxpool.Pool, error) {
	return openPool(ctx, url, maxConns, "DATABASE_URL")
}

// openPool is Open for the connection string of the setting named what.
func openPool(ctx context.Context, url string, maxConns int32, what string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message can echo the password; name the problem only.
		return nil, errors.New(what + ": not a valid PostgreSQL connection string")
	}
	cfg.MaxConns = maxConns
	cfg.MinConns = 0
	cfg.HealthCheckPeriod = time.Second
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.MaxConnLifetime = time.Hour
	// A connection attempt to an unreachable host must fail fast so that
	// requests answer 503 instead of waiting on the kernel's TCP timeout.
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > 2*time.Second {
		cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	}
	cfg.ConnConfig.BuildContextWatcherHandler = newCancelHandler
	keepGenericPlans(cfg.ConnConfig)
	return pgxpool.NewWithConfig(ctx, cfg)
}

// keepGenericPlans has PostgreSQL plan each statement a connection
// prepares once, for any parameters (plan_cache_mode=force_generic_plan),
// when pgx prepares named statements (its default mode; not behind
// PgBouncer, whose unnamed statements are planned per execution anyway).
//
// The statements are written so that their generic plan is the right one
// (docs/PERFORMANCE.md, "Cached plans"), and PostgreSQL picks it by itself
// on a connection that started on the data as it is. But it decides by
// comparing the generic plan's cost with the average cost of the plans it
// made for the first executions' parameters: on a connection that started
// while the tables were small, those were cheap, and once the tables grow
// and are analyzed the generic plan looks dearer than that average and
// PostgreSQL plans every execution afresh for as long as the connection
// lives (an hour; TestPlansStayGenericAsTablesGrow shows it). A connection
// string that sets plan_cache_mode itself keeps its setting.
func keepGenericPlans(cfg *pgx.ConnConfig) {
	if cfg.DefaultQueryExecMode != pgx.QueryExecModeCacheStatement {
		return
	}
	if _, set := cfg.RuntimeParams["plan_cache_mode"]; set {
		return
	}
	cfg.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
}

// A query whose request ends early (its client hung up, or its deadline
// passed) is cancelled in PostgreSQL rather than by closing its
// connection, which is pgx's default, unless the context was cancelled
// with ErrUnresponsive as its cause. Closing threw the connection away:
// every client that hung up mid-query cost PostgreSQL a backend exit, and
// the next request a new connection (a fork, authentication, a cold
// catalog cache and its statements prepared again), and a load generator
// stopping its 32 connections at once left the pool to refill while the
// next load arrived.
const (
	// cancelDelay: a query that ends within this after its request did
	// is left to finish. A cancel request costs more than most queries:
	// a connection to PostgreSQL's postmaster of its own, and pgx then
	// holds the connection 100 ms longer (so that a late cancel cannot
	// hit the connection's next query). The slowest list queries end
	// well within this; what it cuts short is a query that waits, on a
	// lock or a stuck server.
	cancelDelay = 100 * time.Millisecond
	// cancelGiveUp: a server that has not stopped the query this long
	// after the request ended (it is unreachable or hung) loses the
	// connection as before, so a request never waits longer on it.
	cancelGiveUp = time.Second
)

// ErrUnresponsive, as the cause of a cancelled context, says that the
// server is not expected to answer (a replica found down, a probe that
// timed out): a query on that context drops its connection at once
// rather than asking the server to cancel it and waiting cancelGiveUp.
var ErrUnresponsive = errors.New("the database server is not answering")

// cancelHandler is the connections' reaction to a cancelled query
// context: a cancel request, or with ErrUnresponsive the connection
// dropped.
type cancelHandler struct {
	conn    *pgconn.PgConn
	request pgconn.CancelRequestContextWatcherHandler
	dropped bool
}

func newCancelHandler(c *pgconn.PgConn) ctxwatch.Handler {
	return &cancelHandler{conn: c, request: pgconn.CancelRequestContextWatcherHandler{
		Conn: c, CancelRequestDelay: cancelDelay, DeadlineDelay: cancelGiveUp,
	}}
}

func (h *cancelHandler) HandleCancel(ctx context.Context) {
	if errors.Is(context.Cause(ctx), ErrUnresponsive) {
		h.dropped = true
		_ = h.conn.Conn().SetDeadline(time.Now()) // the read fails, and pgx closes the connection
		return
	}
	h.request.HandleCancel(ctx)
}

func (h *cancelHandler) HandleUnwatchAfterCancel() {
	if h.dropped {
		h.dropped = false
		_ = h.conn.Conn().SetDeadline(time.Time{})
		return
	}
	h.request.HandleUnwatchAfterCancel()
}

// MigrateAt applies every pending migration to the database at url (named
// by the setting what in errors) through a pool of its own, closed after.
func MigrateAt(ctx context.Context, url, what string, log *slog.Logger) error {
	pool, err := openPool(ctx, url, 2, what)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := Ping(ctx, pool, what); err != nil {
		return err
	}
	return Migrate(ctx, pool, log)
}

// pingTimeout bounds Ping: a database that has not answered by then is
// reported unreachable.
const pingTimeout = 5 * time.Second

// Ping checks that the database of the setting named what answers, and
// says where it tried when it does not (pgx's error names the host, port,
// user and database, never the password).
func Ping(ctx context.Context, pool *pgxpool.Pool, what string) error {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := pool.Ping(ctx); err != nil {
		return fmt.Errorf("the database (%s) is unreachable: %w", what, err)
	}
	return nil
}

// Migrate applies every pending migration in schema/. A PostgreSQL
// session-level advisory lock serialises concurrent runs, so several
// instances may migrate at start: one applies each migration, the others
// wait and find nothing left to do. The lock lives in one server session,
// which a transaction-pooling PgBouncer does not keep for a client: pool
// must reach PostgreSQL directly (DATABASE_MIGRATE_URL).
func Migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	migrations, err := fs.Sub(sophsapp.Migrations, "schema")
	if err != nil {
		return err
	}
	// Instances that find the lock taken look again every second (not
	// goose's 5 s), for up to 5 minutes, so they start soon after the
	// first one has migrated.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations, goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		log.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration_ms", float64(r.Duration.Microseconds())/1000)
	}
	return nil
}
