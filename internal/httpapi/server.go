package httpapi

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/gen/db"
	"github.com/sophsapp/sophsapp/internal/auth"
)

// Server implements every operation of api/openapi.yaml. Its methods are
// grouped into files by the spec's tags.
type Server struct {
	pool    *pgxpool.Pool
	q       *db.Queries
	log     *slog.Logger
	tokens  *auth.Tokens
	version string
}

var _ api.StrictServerInterface = (*Server)(nil)

// inTx runs fn in a transaction: committed when fn returns nil, rolled back
// otherwise, so a failed request never leaves half its writes behind.
func (s *Server) inTx(ctx context.Context, fn func(q *db.Queries) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return fn(s.q.WithTx(tx))
	})
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
