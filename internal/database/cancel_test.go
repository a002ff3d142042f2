package database_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sophsapp/sophsapp/internal/database"
	"github.com/sophsapp/sophsapp/internal/pgtest"
)

// TestCancelledQueryContext checks what the pool's connections do when the
// context of a running query ends: by default PostgreSQL cancels the query
// and the connection stays in use; with database.ErrUnresponsive as the
// cause (a replica found down, a probe that timed out) the connection is
// dropped at once, since a server that does not answer would not answer a
// cancel request either.
func TestCancelledQueryContext(t *testing.T) {
	ctx := context.Background()
	pool, err := database.Open(ctx, pgtest.NewDatabase(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	c, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()

	qctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	start := time.Now()
	_, err = c.Exec(qctx, "SELECT pg_sleep(5)")
	cancel()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != pgerrcode.QueryCanceled {
		t.Fatalf("query past its deadline: %v, want PostgreSQL's query_canceled", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the cancelled query returned after %s", took)
	}
	if c.Conn().IsClosed() {
		t.Fatal("the connection was closed instead of the query cancelled")
	}
	if _, err := c.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("the connection after a cancelled query: %v", err)
	}

	qctx, cancel = context.WithTimeoutCause(ctx, 100*time.Millisecond, database.ErrUnresponsive)
	start = time.Now()
	_, err = c.Exec(qctx, "SELECT pg_sleep(5)")
	cancel()
	if err == nil {
		t.Fatal("the query finished although its server was given up on")
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("a query given up on returned after %s", took)
	}
	if !c.Conn().IsClosed() {
		t.Error("the connection to a server given up on is still open")
	}
}
