package database_test

import (
	"context"
	"fmt"
	"io/fs"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/sophsapp/sophsapp"
	"github.com/sophsapp/sophsapp/internal/pgtest"
)

// TestFavoriteCountsMigrateWithTheirData migrates a database that holds
// users, articles and favorites from schema/0011 to the end: each user's
// favorite count must move to user_counts as it was, every user must have
// a user_counts row, the articles must keep their texts and counts under
// the domains of schema/0013, and the favorites written after must be
// counted in user_counts.
func TestFavoriteCountsMigrateWithTheirData(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// An empty database next to the test's own (which is migrated).
	name := fmt.Sprintf("migrate_counts_%d", time.Now().UnixNano())
	admin := pgtest.NewDatabase(t)
	if err := pgtest.Exec(ctx, admin, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pgtest.Exec(context.Background(), admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	cfg, err := pgxpool.ParseConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Database = name
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	migrations, err := fs.Sub(sophsapp.Migrations, "schema")
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 11); err != nil {
		t.Fatal(err)
	}

	// Five users; each of users 1-4 favorites the articles of user 5 with
	// an id at most its own number, so user n has n favorites.
	if _, err := pool.Exec(ctx, `
		INSERT INTO users (username, email, password_hash)
		SELECT 'u' || g, 'u' || g || '@example.com', 'x' FROM generate_series(1, 5) g;
		INSERT INTO articles (slug, author_id, title, description, body)
		SELECT 'a' || g, (SELECT id FROM users WHERE username = 'u5'), 'Title ' || g, 'About ' || g, 'Body ' || g
		FROM generate_series(1, 4) g;
		INSERT INTO favorites (user_id, article_id)
		SELECT u.id, a.id FROM users u JOIN articles a ON a.slug <= 'a' || substr(u.username, 2)
		WHERE u.username <> 'u5'`); err != nil {
		t.Fatal(err)
	}
	before := favoriteCounts(ctx, t, pool, "SELECT username, favorites_count FROM users")
	if before["u3"] != 3 || before["u5"] != 0 {
		t.Fatalf("before the migrations: %v", before)
	}

	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	after := favoriteCounts(ctx, t, pool, "SELECT u.username, uc.favorites_count FROM users u JOIN user_counts uc ON uc.user_id = u.id")
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("user_counts after the migrations: %v, want the counts before: %v", after, before)
	}
	var texts string
	var articleFavorites int
	if err := pool.QueryRow(ctx, `SELECT string_agg(slug || ' ' || title || ' ' || description || ' ' || body, ', ' ORDER BY slug), sum(favorites_count)
		FROM articles`).Scan(&texts, &articleFavorites); err != nil {
		t.Fatal(err)
	}
	if texts != "a1 Title 1 About 1 Body 1, a2 Title 2 About 2 Body 2, a3 Title 3 About 3 Body 3, a4 Title 4 About 4 Body 4" || articleFavorites != 10 {
		t.Errorf("articles after the migrations: %q, %d favorites; want the texts as written, 10", texts, articleFavorites)
	}

	// Written after: a new user gets a row, and favorites and unfavorites
	// count there.
	if _, err := pool.Exec(ctx, `
		INSERT INTO users (username, email, password_hash) VALUES ('u6', 'u6@example.com', 'x');
		INSERT INTO favorites (user_id, article_id) SELECT u.id, a.id FROM users u, articles a WHERE u.username IN ('u5', 'u6');
		DELETE FROM favorites WHERE user_id = (SELECT id FROM users WHERE username = 'u1')`); err != nil {
		t.Fatal(err)
	}
	got := favoriteCounts(ctx, t, pool, "SELECT u.username, uc.favorites_count FROM users u JOIN user_counts uc ON uc.user_id = u.id")
	if want := "map[u1:0 u2:2 u3:3 u4:4 u5:4 u6:4]"; fmt.Sprint(got) != want {
		t.Errorf("user_counts after writes: %v, want %s", got, want)
	}
}

// favoriteCounts runs query, whose rows are a username and a count.
func favoriteCounts(ctx context.Context, t *testing.T, pool *pgxpool.Pool, query string) map[string]int {
	t.Helper()
	rows, _ := pool.Query(ctx, query)
	out := map[string]int{}
	var name string
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&name, &n}, func() error { out[name] = n; return nil }); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return out
}
