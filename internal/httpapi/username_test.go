package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/sophsapp/sophsapp"
	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/internal/apptest"
	"github.com/sophsapp/sophsapp/internal/database"
	"github.com/sophsapp/sophsapp/internal/pgtest"
)

func TestUsernameRules(t *testing.T) {
	a := apptest.Start(t, nil)
	jake := register(t, a, "jake")
	create := func(name string) *api.CreateUserResponse {
		t.Helper()
		resp, err := a.Client.CreateUserWithResponse(context.Background(), api.CreateUserJSONRequestBody{
			User: api.NewUser{Username: name, Email: fmt.Sprintf("u%x@example.com", name), Password: "password-x"},
		})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	const (
		invisible = "username must not contain spaces, control or invisible characters"
		dots      = `username cannot be "." or ".."`
		scripts   = "username must not mix scripts that look alike, such as Latin with Cyrillic or Greek"
		taken     = "username has already been taken"
	)
	for _, c := range []struct{ name, msg string }{
		{"\u0430lice", scripts},          // Cyrillic а, then Latin
		{"\u03b1lice", scripts},          // Greek alpha, then Latin
		{"p\u0430ypal", scripts},         // one Cyrillic letter inside
		{"\u0430\u03b2", scripts},        // Cyrillic and Greek
		{"ali\u200bce", invisible},       // zero-width space
		{"ali\u200dce", invisible},       // zero-width joiner
		{"ali\u202ece", invisible},       // right-to-left override
		{"\u2066alice\u2069", invisible}, // bidi isolates
		{"ali\u00a0ce", invisible},       // no-break space
		{"ali\u3000ce", invisible},       // ideographic space
		{"ali\u0007ce", invisible},       // control
		{".", dots},
		{"..", dots},
		{"\uff0e\uff0e", dots}, // fullwidth full stops: ".." after NFKC
		{"JAKE", taken},
		{"Jake", taken},
		{"\uff4a\uff41\uff4b\uff45", taken}, // fullwidth jake
		{"ja\u212ae", taken},                // Kelvin sign K, NFKC k
	} {
		resp := create(c.name)
		wantError(t, resp.StatusCode(), resp.Body, http.StatusUnprocessableEntity, c.msg)
		quoted, _ := json.Marshal(c.name)
		put := updateUserRaw(t, a, jake.Token, fmt.Sprintf(`{"user":{"username":%s}}`, quoted))
		if c.msg == taken {
			// jake may spell his own name differently.
			if put.StatusCode() != http.StatusOK {
				t.Errorf("jake renaming himself %q: %d %s", c.name, put.StatusCode(), put.Body)
			}
			updateUserRaw(t, a, jake.Token, `{"user":{"username":"jake"}}`)
			continue
		}
		wantError(t, put.StatusCode(), put.Body, http.StatusUnprocessableEntity, c.msg)
	}
	for _, name := range []string{"José", "Ünal", "Дмитрий", "Γιώργος", "山田", "tanaka山田", "jake.doe", "a..b", "ǅemal", "o'brien"} {
		if resp := create(name); resp.StatusCode() != http.StatusCreated {
			t.Errorf("register %q: %d %s", name, resp.StatusCode(), resp.Body)
		}
		if p := getProfile(t, a, name); p.StatusCode() != http.StatusOK {
			t.Errorf("profile of %q: %d %s", name, p.StatusCode(), p.Body)
		}
	}
}

// TestUsernameMigrationRenamesCollisions builds a database at the version
// before usernames became unique regardless of case and NFKC, fills it with
// names that collide under the new rule, and migrates it forward.
func TestUsernameMigrationRenamesCollisions(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// An empty database, migrated to version 3.
	if _, err := pool.Exec(ctx, "DROP SCHEMA public CASCADE; CREATE SCHEMA public"); err != nil {
		t.Fatal(err)
	}
	migrations, err := fs.Sub(sophsapp.Migrations, "schema")
	if err != nil {
		t.Fatal(err)
	}
	sqlDB := stdlib.OpenDBFromPool(pool)
	defer sqlDB.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, migrations)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 3); err != nil {
		t.Fatal(err)
	}
	names := []string{"jake", "Jake", "JAKE", "ｊａｋｅ", "Jake-3", "anna"}
	for i, n := range names {
		if _, err := pool.Exec(ctx, "INSERT INTO users (username, email, password_hash) VALUES ($1, $2, 'x')", n, fmt.Sprintf("u%d@example.com", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := database.Migrate(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(ctx, "SELECT username FROM users ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	// The oldest jake keeps the name; Jake (id 2) becomes Jake-2, JAKE
	// (id 3) would be JAKE-3 but "Jake-3" exists, so JAKE-3-1; ｊａｋｅ
	// becomes ｊａｋｅ-4.
	want := []string{"jake", "Jake-2", "JAKE-3-1", "ｊａｋｅ-4", "Jake-3", "anna"}
	if !slices.Equal(got, want) {
		t.Fatalf("usernames after the migration: %q, want %q", got, want)
	}
}
