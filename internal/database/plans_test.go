package database_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sophsapp/sophsapp/gen/db"
	"github.com/sophsapp/sophsapp/internal/database"
	"github.com/sophsapp/sophsapp/internal/pgtest"
)

// listPlansAcrossGrowth runs the article list on a pool of one connection
// opened from url, first on 200 articles, then after the table has grown
// to 20,200 and been analyzed, and returns how the connection planned the
// statement: generic and custom plans, as pg_prepared_statements counts
// them.
func listPlansAcrossGrowth(t *testing.T, url string) (generic, custom int64) {
	t.Helper()
	ctx := context.Background()
	pool, err := database.Open(ctx, url, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	exec := func(sql string) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	exec(`INSERT INTO users (username, email, password_hash)
		SELECT 'user' || g, 'user' || g || '@example.com', 'x' FROM generate_series(1, 20) g`)
	exec(`INSERT INTO articles (slug, author_id, title, description, body, created_at)
		SELECT 'article-' || g, 1 + g % 20, 'Article ' || g, 'd', 'b', now() - g * interval '1 minute'
		FROM generate_series(1, 200) g`)
	exec(`ANALYZE`)
	list := func(n int) {
		t.Helper()
		q := db.New(pool)
		for i := range n {
			if _, err := q.ListArticles(ctx, db.ListArticlesParams{PageLimit: 20, PageOffset: int32(i % 2 * 20)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	list(12)
	exec(`INSERT INTO articles (slug, author_id, title, description, body, created_at)
		SELECT 'grown-' || g, 1 + g % 20, 'Grown ' || g, 'd', 'b', now() - g * interval '1 second'
		FROM generate_series(1, 20000) g`)
	exec(`ANALYZE`)
	list(20)
	if err := pool.QueryRow(ctx, `SELECT generic_plans, custom_plans FROM pg_prepared_statements
		WHERE statement = $1`, db.ListArticles).Scan(&generic, &custom); err != nil {
		t.Fatal(err)
	}
	return generic, custom
}

// TestPlansStayGenericAsTablesGrow checks that a pooled connection keeps
// using the list's generic plan after the articles grow a hundredfold,
// and shows why the pool asks for it: left to choose, PostgreSQL compares
// the generic plan with the cheap plans it made while the table was small
// and plans every later execution afresh.
func TestPlansStayGenericAsTablesGrow(t *testing.T) {
	t.Run("the pool keeps generic plans", func(t *testing.T) {
		generic, custom := listPlansAcrossGrowth(t, pgtest.NewDatabase(t))
		if custom != 0 || generic != 32 {
			t.Errorf("generic plans %d, custom plans %d: want 32 and 0", generic, custom)
		}
	})
	t.Run("left to choose, PostgreSQL re-plans every call", func(t *testing.T) {
		generic, custom := listPlansAcrossGrowth(t, pgtest.NewDatabase(t)+"&plan_cache_mode=auto")
		if custom < 5+20 {
			t.Errorf("generic plans %d, custom plans %d: PostgreSQL no longer falls back to custom plans after growth; plan_cache_mode may not be needed", generic, custom)
		}
	})
}

// TestPlanCacheModeSetting checks where the pool sets plan_cache_mode: on
// connections that prepare named statements (pgx's default mode), not on
// those meant for PgBouncer, and never over the connection string's own.
func TestPlanCacheModeSetting(t *testing.T) {
	url := pgtest.NewDatabase(t)
	for _, c := range []struct{ params, want string }{
		{"", "force_generic_plan"},
		{"&plan_cache_mode=force_custom_plan", "force_custom_plan"},
		{"&default_query_exec_mode=cache_describe", "auto"},
		{"&default_query_exec_mode=exec", "auto"},
	} {
		pool, err := database.Open(context.Background(), url+c.params, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := showPlanCacheMode(t, pool); got != c.want {
			t.Errorf("%q: plan_cache_mode %s, want %s", c.params, got, c.want)
		}
		pool.Close()
	}
}

func showPlanCacheMode(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var mode string
	if err := pool.QueryRow(context.Background(), "SHOW plan_cache_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	return mode
}
