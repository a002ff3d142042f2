package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/gen/db"
)

// A signed token is verified (signature, expiry) by validate before any
// handler runs; whether a password change has revoked it, or its user is
// gone, only the database knows. That revocation check is owed by the
// request (tokenCheck, in its context) and paid with the request's first
// statement: checkedDB sends db.CheckToken and that statement together, in
// one pipeline. PostgreSQL runs a pipeline as one implicit transaction and
// check_token raises SA401 on a revoked token (schema/0008_token_check.sql),
// so the statement after it is skipped and rolled back: a write sent with a
// revoked token is never executed, and a read's rows are never sent back.
// An authenticated request costs one round trip less than a separate check
// would.
//
// Everything a handler reaches the primary through goes through checkedDB:
// Server.q's statements, and the transactions of inTx and uploads (Begin
// pays the check with a round trip of its own first). settleToken, the
// last strict middleware, pays what is still owed after a handler that
// sent no statement at all, before its answer goes out.

// tokenCheck is the revocation check one request owes.
type tokenCheck struct {
	arg  db.CheckTokenParams
	paid atomic.Bool
}

type tokenCheckKey struct{}

// oweTokenCheck returns ctx owing the check of arg.
func oweTokenCheck(ctx context.Context, arg db.CheckTokenParams) context.Context {
	return context.WithValue(ctx, tokenCheckKey{}, &tokenCheck{arg: arg})
}

// owed returns the check ctx still owes, or nil.
func owed(ctx context.Context) *tokenCheck {
	if c, ok := ctx.Value(tokenCheckKey{}).(*tokenCheck); ok && !c.paid.Load() {
		return c
	}
	return nil
}

// tokenRevokedCode is the SQLSTATE check_token raises; classify answers
// it with 401.
const tokenRevokedCode = "SA401"

// checkedDB is the primary pool, paying each request's token check (see
// above). It satisfies db.DBTX and pgx.BeginFunc's beginner.
type checkedDB struct {
	pool *pgxpool.Pool
}

var _ db.DBTX = checkedDB{}

// settle pays ctx's check, if still owed, with a round trip of its own.
func (c checkedDB) settle(ctx context.Context) error {
	chk := owed(ctx)
	if chk == nil {
		return nil
	}
	if _, err := c.pool.Exec(ctx, db.CheckToken, chk.arg.UserID, chk.arg.Generation, chk.arg.TokenSha256); err != nil {
		return fmt.Errorf("check token: %w", err)
	}
	chk.paid.Store(true)
	return nil
}

// statement is one SQL statement with its arguments.
type statement struct {
	sql  string
	args []any
}

// send sends ctx's owed check (if any), the statements before and then sql
// as one pipeline. The first error among the check and before is returned
// (and the batch closed); otherwise the batch is left open on the results
// of sql.
func (c checkedDB) send(ctx context.Context, before []statement, sql string, args []any) (pgx.BatchResults, error) {
	chk := owed(ctx)
	b := &pgx.Batch{}
	if chk != nil {
		b.Queue(db.CheckToken, chk.arg.UserID, chk.arg.Generation, chk.arg.TokenSha256)
	}
	for _, st := range before {
		b.Queue(st.sql, st.args...)
	}
	b.Queue(sql, args...)
	br := c.pool.SendBatch(ctx, b)
	if chk != nil {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return nil, fmt.Errorf("check token: %w", err)
		}
		chk.paid.Store(true)
	}
	for range before {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return nil, err
		}
	}
	return br, nil
}

// Exec implements db.DBTX.
func (c checkedDB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if owed(ctx) == nil {
		return c.pool.Exec(ctx, sql, args...)
	}
	br, err := c.send(ctx, nil, sql, args)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	return tag, errors.Join(err, br.Close())
}

// Query implements db.DBTX.
func (c checkedDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if owed(ctx) == nil {
		return c.pool.Query(ctx, sql, args...)
	}
	return c.query(ctx, nil, sql, args)
}

// query sends before and then sql in one pipeline (send) and returns the
// rows of sql.
func (c checkedDB) query(ctx context.Context, before []statement, sql string, args []any) (pgx.Rows, error) {
	br, err := c.send(ctx, before, sql, args)
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

// QueryRow implements db.DBTX.
func (c checkedDB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if owed(ctx) == nil {
		return c.pool.QueryRow(ctx, sql, args...)
	}
	rows, err := c.Query(ctx, sql, args...)
	return firstRow{rows: rows, err: err}
}

// Begin pays ctx's check, then begins a transaction: the statements of a
// transaction cannot share the check's pipeline, since BEGIN comes first.
func (c checkedDB) Begin(ctx context.Context) (pgx.Tx, error) {
	if err := c.settle(ctx); err != nil {
		return nil, err
	}
	return c.pool.Begin(ctx)
}

// held is a db.DBTX that holds back what is sent with Exec and sends it,
// with the owed token check, in one pipeline with the next Query or
// QueryRow: a write and the read of its result in one round trip (and one
// implicit transaction, so the read sees the write). Exec cannot know its
// count before the pipeline is sent and reports none: it is for statements
// whose count the caller ignores. What is still held when the caller is
// done is never sent.
type held struct {
	db     checkedDB
	before []statement
}

func (h *held) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	h.before = append(h.before, statement{sql, args})
	return pgconn.CommandTag{}, nil
}

func (h *held) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	before := h.before
	h.before = nil
	return h.db.query(ctx, before, sql, args)
}

func (h *held) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := h.Query(ctx, sql, args...)
	return firstRow{rows: rows, err: err}
}

// batchRows are the rows of a batch's last statement; closing them closes
// the batch, which gives its connection back to the pool.
type batchRows struct {
	pgx.Rows
	br       pgx.BatchResults
	closed   bool
	closeErr error
}

func (r *batchRows) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.Rows.Close()
	r.closeErr = r.br.Close()
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.closeErr
}

// firstRow is pgx.Row over rows: the first row, or pgx.ErrNoRows.
type firstRow struct {
	rows pgx.Rows
	err  error
}

func (r firstRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// settleToken is the last strict middleware: after a handler that sent no
// statement, the check it still owes is paid before its answer goes out,
// and a revoked token gets its 401 in place of that answer.
func settleToken(checked checkedDB) api.StrictMiddlewareFunc {
	return func(f api.StrictHandlerFunc, _ string) api.StrictHandlerFunc {
		return func(ctx context.Context, w http.ResponseWriter, r *http.Request, request any) (any, error) {
			resp, err := f(ctx, w, r, request)
			if tokenRevoked(err) {
				return nil, err
			}
			if serr := checked.settle(ctx); serr != nil {
				return nil, serr
			}
			return resp, err
		}
	}
}

// tokenRevoked reports whether err is check_token's refusal.
func tokenRevoked(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == tokenRevokedCode
}
