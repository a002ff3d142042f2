package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/gen/db"
	"github.com/sophsapp/sophsapp/internal/auth"
	"github.com/sophsapp/sophsapp/internal/pgtest"
)

// TestLoginComparesEvenForUnknownEmail checks that a login naming an
// unknown email still runs one bcrypt comparison, so that its response time
// does not reveal which emails are registered.
func TestLoginComparesEvenForUnknownEmail(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s := &Server{primary: checkedDB{pool: pool}, q: db.New(pool), log: slog.New(slog.NewTextHandler(io.Discard, nil)), tokens: auth.NewTokens([]byte("k"), time.Hour)}

	compares := 0
	orig := compareHashAndPassword
	compareHashAndPassword = func(hash, password []byte) error {
		compares++
		return orig(hash, password)
	}
	t.Cleanup(func() { compareHashAndPassword = orig })

	ctx := context.Background()
	if _, err := s.CreateUser(ctx, api.CreateUserRequestObject{Body: &api.CreateUserJSONRequestBody{
		User: api.NewUser{Username: "jake", Email: "jake@example.com", Password: "password-jake"},
	}}); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"jake@example.com", "nobody@example.com"} {
		compares = 0
		_, err := s.Login(ctx, api.LoginRequestObject{Body: &api.LoginJSONRequestBody{
			User: api.LoginUser{Email: email, Password: "password-wrong"},
		}})
		if !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("login as %s: %v", email, err)
		}
		if compares != 1 {
			t.Errorf("login as %s ran %d password comparisons, want 1", email, compares)
		}
	}
}
