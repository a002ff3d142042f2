package database_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sophsapp/sophsapp/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// PgBouncerQueryModes are the pgx query modes that leave nothing on a
// server connection between transactions, so they work through PgBouncer
// in transaction pooling mode. describe_exec is not one: it prepares the
// unnamed statement in one round trip and executes it in the next, which
// PgBouncer may send to another server connection ("unnamed prepared
// statement does not exist" under load, as pgx's documentation warns).
var pgbouncerQueryModes = []string{"cache_describe", "exec", "simple_protocol"}

// TestDefaultQueryModeLeaksThroughPgBouncer runs one query from two client
// connections through a PgBouncer in transaction pooling mode with a single
// server connection, so both clients are certain to share it: pgx's
// default mode names a prepared statement on the server connection, and
// the second client's collides with the first's. It is why DATABASE_URL
// must choose another mode behind PgBouncer.
func TestDefaultQueryModeLeaksThroughPgBouncer(t *testing.T) {
	direct := pgtest.NewDatabase(t)
	bouncer := pgtest.StartPgBouncer(t, direct, pgtest.PgBouncerOptions{PoolSize: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := withParam(bouncer.URL(direct), "default_query_exec_mode", "cache_statement")
	var errs []error
	for range 2 {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int64
		for range 2 {
			errs = append(errs, conn.QueryRow(ctx, "SELECT count(*) FROM users WHERE id > $1", int64(0)).Scan(&n))
		}
	}
	for _, err := range errs {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == pgerrcode.DuplicatePreparedStatement || pgErr.Code == pgerrcode.InvalidSQLStatementName) {
			t.Logf("as expected, the default mode fails through PgBouncer: %s", err)
			return
		}
	}
	t.Fatalf("named prepared statements did not collide through transaction pooling (errors: %v); the test no longer shows the leak", errs)
}

// TestQueryModesThroughPgBouncer has many clients share two server
// connections through PgBouncer in transaction pooling mode, each running
// several statements with its own arguments, in each mode documented for
// PgBouncer: every answer must be the client's own.
func TestQueryModesThroughPgBouncer(t *testing.T) {
	direct := pgtest.NewDatabase(t)
	bouncer := pgtest.StartPgBouncer(t, direct, pgtest.PgBouncerOptions{PoolSize: 2})
	for _, mode := range pgbouncerQueryModes {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			url := withParam(bouncer.URL(direct), "default_query_exec_mode", mode)
			const clients, rounds = 8, 100
			errs := make([]error, clients)
			var wg sync.WaitGroup
			for c := range clients {
				wg.Go(func() { errs[c] = queryRounds(ctx, url, c, rounds) })
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// queryRounds runs rounds of three statements, typed differently, on one
// connection and checks each answer against the client's arguments.
func queryRounds(ctx context.Context, url string, client, rounds int) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for i := range rounds {
		n := int64(client*1000 + i)
		var twice int64
		if err := conn.QueryRow(ctx, "SELECT $1::int8 * 2", n).Scan(&twice); err != nil || twice != 2*n {
			return fmt.Errorf("client %d: %d * 2 = %d, %v", client, n, twice, err)
		}
		word := fmt.Sprintf("client-%d-round-%d", client, i)
		var upper string
		var length int32
		if err := conn.QueryRow(ctx, "SELECT upper($1::text), length($1::text)", word).Scan(&upper, &length); err != nil || upper != strings.ToUpper(word) || int(length) != len(word) {
			return fmt.Errorf("client %d: upper(%q) = %q, %d, %v", client, word, upper, length, err)
		}
		var tags []string
		if err := conn.QueryRow(ctx, "SELECT array_agg(t ORDER BY t) FROM unnest($1::text[]) t", []string{word, "b", "a"}).Scan(&tags); err != nil || len(tags) != 3 || tags[2] != word {
			return fmt.Errorf("client %d: sorted tags %q, %v", client, tags, err)
		}
	}
	return nil
}

func withParam(url, key, value string) string {
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + key + "=" + value
}

// TestNoSessionState keeps the service usable behind a transaction-pooling
// PgBouncer: no query in queries/ and no Go code outside the migrations may
// rely on state that outlives a transaction on a server connection
// (session settings, session-level advisory locks, prepared statements by
// name, LISTEN, temporary tables, cursors WITH HOLD). A setting or lock
// scoped to the transaction (SET LOCAL, pg_advisory_xact_lock) is fine.
func TestNoSessionState(t *testing.T) {
	for text, bad := range map[string]bool{
		"SET statement_timeout = '5s';":                                            true,
		"select 1;\nset search_path to app;":                                       true,
		"SELECT pg_advisory_lock(42)":                                              true,
		"SELECT set_config('x.y', '1', false)":                                     true,
		"LISTEN articles":                                                          true,
		"CREATE TEMP TABLE t (n int)":                                              true,
		"SET LOCAL statement_timeout = '5s'":                                       false,
		"SELECT pg_advisory_xact_lock(42)":                                         false,
		"UPDATE users SET bio = $1 WHERE id = $2":                                  false,
		"UPDATE articles AS a SET slug = $1":                                       false,
		"UPDATE articles a\nSET slug = $1":                                         false,
		"INSERT INTO t (k) VALUES (1)\nON CONFLICT (k) DO UPDATE\nSET n = t.n + 1": false,
		"SELECT set_config('x.y', '1', true)":                                      false,
		"-- SET nothing here, a comment\nSELECT 1":                                 false,
	} {
		if got := sessionState(text) != ""; got != bad {
			t.Errorf("sessionState(%q) finds state: %v, want %v", text, got, bad)
		}
	}

	var files []string
	for _, glob := range []string{"../../queries/*.sql", "../*/*.go"} {
		m, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 10 {
		t.Fatalf("found only %d files to check", len(files))
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || strings.Contains(f, "/pgtest/") {
			continue
		}
		// The Listener LISTENs on a connection of its own, never the
		// pool's, and through a transaction-pooling PgBouncer finds its
		// notifications missing and stays off (TestListenerThroughPgBouncer).
		if f == "../database/listen.go" {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if found := sessionState(string(src)); found != "" {
			t.Errorf("%s relies on session state: %q", f, found)
		}
	}
}

var (
	sessionStatement = regexp.MustCompile(`(?i)(^|;|\n)\s*(set\s+(session\s+)?[a-z_.]+\s*(=|to\b)|reset\s|listen\s|prepare\s|create\s+(temp|temporary)\s|declare\s.*\swith\s+hold)` +
		`|pg_advisory_lock|pg_try_advisory_lock\(|pg_advisory_unlock|set_config\s*\([^)]*,\s*false\s*\)`)
	sqlComment = regexp.MustCompile(`--[^\n]*`)
	updateSet  = regexp.MustCompile(`(?i)\b(update\s+[a-z_."]+(\s+(as\s+)?[a-z_]+)?|do\s+update)\s+set\b`)
)

// sessionState returns the first statement in text that leaves state on
// its server connection, or "".
func sessionState(text string) string {
	text = sqlComment.ReplaceAllString(text, "")
	text = updateSet.ReplaceAllString(text, "UPDATE") // UPDATE ... SET and DO UPDATE SET are no settings
	loc := sessionStatement.FindStringIndex(text)
	if loc == nil {
		return ""
	}
	return strings.TrimSpace(text[loc[0]:min(loc[1]+40, len(text))])
}
