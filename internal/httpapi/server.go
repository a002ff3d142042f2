package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/gen/db"
	"github.com/sophsapp/sophsapp/internal/auth"
	"github.com/sophsapp/sophsapp/internal/database"
)

// Server implements every operation of api/openapi.yaml. Its methods are
// grouped into files by the spec's tags.
type Server struct {
	// primary is the primary's pool, paying each request's token check
	// (tokencheck.go); q runs on it. Handlers reach the primary through
	// these two only.
	primary  checkedDB
	q        *db.Queries
	replicas *database.Replicas
	log      *slog.Logger
	tokens   *auth.Tokens
	version  string
	uploads  uploads
	// draining is set when the process has been told to stop.
	draining *atomic.Bool
	// tags keeps GET /api/tags' answer while notifications keep it fresh.
	tags tagList
}

var _ api.StrictServerInterface = (*Server)(nil)

// txAttempts bounds how often inTx runs a transaction (and retryAborted
// a statement) that PostgreSQL aborted as a deadlock victim or
// serialization failure.
const txAttempts = 3

// inTx runs fn in a transaction: committed when fn returns nil, rolled back
// otherwise, so a failed request never leaves half its writes behind. A
// transaction PostgreSQL aborts only because of concurrent ones (deadlock,
// serialization failure) is run again from the start, so fn must not have
// effects outside the transaction.
func (s *Server) inTx(ctx context.Context, fn func(q *db.Queries) error) error {
	return retryAborted(func() error {
		return pgx.BeginFunc(ctx, s.primary, func(tx pgx.Tx) error {
			return fn(s.q.WithTx(tx))
		})
	})
}

// retryAborted runs fn again, up to txAttempts times in all, while
// PostgreSQL aborts it only because of concurrent transactions.
func retryAborted(fn func() error) error {
	var err error
	for range txAttempts {
		err = fn()
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || (pgErr.Code != pgerrcode.DeadlockDetected && pgErr.Code != pgerrcode.SerializationFailure) {
			return err
		}
	}
	return err
}

// read runs fn, the database work of a read-only operation, where this
// request's reads belong. It is the one place that choice is made, once per
// request:
//
//   - a request with a token reads from the primary, like every write, so
//     a signed-in user always sees their own writes at once;
//   - an anonymous request (the public traffic: lists, articles, comments,
//     profiles, tags) reads from a healthy replica when any is configured,
//     and may see the newest writes up to REPLICA_MAX_LAG late.
//
// When the replica cannot answer, fn runs again on the primary (see
// database.Replicas.Read), so fn must use the context it is given and
// have no effect beyond its result.
func (s *Server) read(ctx context.Context, fn func(ctx context.Context, q *db.Queries) error) error {
	if _, signedIn := auth.FromContext(ctx); signedIn || !s.replicas.Configured() {
		return fn(ctx, s.q)
	}
	return s.replicas.Read(ctx, func(ctx context.Context, pool *pgxpool.Pool) error { return fn(ctx, db.New(pool)) })
}

// viewerOf returns the caller's user id, or nil for an anonymous request:
// the viewer whose flags (following, favorited) a query fills in.
func viewerOf(ctx context.Context) *int64 {
	if u, ok := auth.FromContext(ctx); ok {
		return &u.ID
	}
	return nil
}

// currentUser returns the authenticated caller; operations that require a
// token are guarded by the validator, so a miss here is a 401.
func currentUser(ctx context.Context) (auth.User, error) {
	u, ok := auth.FromContext(ctx)
	if !ok {
		return u, fmt.Errorf("no user in context: %w", ErrUnauthorized)
	}
	return u, nil
}
