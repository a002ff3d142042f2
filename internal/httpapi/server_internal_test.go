package httpapi

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sophsapp/sophsapp/gen/db"
	"github.com/sophsapp/sophsapp/internal/pgtest"
)

// TestInTxRetriesOnlyConcurrencyAborts checks that a transaction aborted as
// a deadlock victim or serialization failure runs again, a bounded number
// of times, and that any other error is returned at once.
func TestInTxRetriesOnlyConcurrencyAborts(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s := &Server{primary: checkedDB{pool: pool}, q: db.New(pool)}
	ctx := context.Background()

	for _, c := range []struct {
		name      string
		fails     error
		failTimes int
		wantCalls int
		wantErr   bool
	}{
		{"deadlock once", &pgconn.PgError{Code: pgerrcode.DeadlockDetected}, 1, 2, false},
		{"serialization twice", &pgconn.PgError{Code: pgerrcode.SerializationFailure}, 2, 3, false},
		{"deadlock always", &pgconn.PgError{Code: pgerrcode.DeadlockDetected}, 100, txAttempts, true},
		{"other error", errors.New("boom"), 100, 1, true},
		{"unique violation", &pgconn.PgError{Code: pgerrcode.UniqueViolation}, 100, 1, true},
	} {
		calls := 0
		err := s.inTx(ctx, func(q *db.Queries) error {
			calls++
			if calls <= c.failTimes {
				return c.fails
			}
			return nil
		})
		if calls != c.wantCalls || (err != nil) != c.wantErr {
			t.Errorf("%s: %d calls, err %v; want %d calls, error %v", c.name, calls, err, c.wantCalls, c.wantErr)
		}
	}
}
