package httpapi_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sophsapp/sophsapp/gen/db"
	"github.com/sophsapp/sophsapp/internal/pgtest"
)

// TestListQueriesUseGenericPlans proves that the list statements and the
// single article are planned once per connection, not on every call:
// after PostgreSQL's five custom plans, each execution reuses the cached
// generic plan, for anonymous readers and viewers alike, for the first
// page and a later one. A statement whose parameters let a custom plan
// look cheaper (a LIMIT $1 the planner can read, a NULL viewer it can fold
// away) gets a custom plan every time and fails here.
func TestListQueriesUseGenericPlans(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Enough rows that a plan for the actual values would look cheaper
	// than the generic plan: the tag, the author and the favoriter each
	// have thousands of articles, and a page is 20 of them.
	_, err = conn.Exec(ctx, `
		INSERT INTO users (username, email, password_hash)
		SELECT 'user' || g, 'user' || g || '@example.com', 'x' FROM generate_series(1, 50) g;
		INSERT INTO articles (slug, author_id, title, description, body, created_at)
		SELECT 'article-' || g, CASE WHEN g % 2 = 0 THEN 2 ELSE 1 + g % 50 END, 'Article ' || g, 'd', 'b',
		       now() - g * interval '1 minute'
		FROM generate_series(1, 5000) g;
		INSERT INTO tags (name) VALUES ('go'), ('sql');
		INSERT INTO article_tags (article_id, tag_id, position) SELECT id, 1 + id % 2, 1 FROM articles;
		INSERT INTO favorites (user_id, article_id) SELECT 3, id FROM articles WHERE id % 3 = 0;
		INSERT INTO follows (follower_id, followee_id) SELECT 1, g FROM generate_series(2, 6) g;
		ANALYZE`)
	if err != nil {
		t.Fatal(err)
	}
	q := db.New(conn)
	viewer := int64(1)
	const runs = 12
	for i := range runs {
		v := &viewer
		if i%2 == 0 {
			v = nil
		}
		offset := int32(i % 3 * 20)
		for name, run := range map[string]func() error{
			"ListArticles": func() error {
				_, err := q.ListArticles(ctx, db.ListArticlesParams{ViewerID: v, PageLimit: 20, PageOffset: offset})
				return err
			},
			"ListArticlesByTag": func() error {
				_, err := q.ListArticlesByTag(ctx, db.ListArticlesByTagParams{Tag: "go", ViewerID: v, PageLimit: 20, PageOffset: offset})
				return err
			},
			"ListArticlesByAuthor": func() error {
				_, err := q.ListArticlesByAuthor(ctx, db.ListArticlesByAuthorParams{Author: "user2", ViewerID: v, PageLimit: 20, PageOffset: offset})
				return err
			},
			"ListArticlesByFavoriter": func() error {
				_, err := q.ListArticlesByFavoriter(ctx, db.ListArticlesByFavoriterParams{Favorited: "user3", ViewerID: v, PageLimit: 20, PageOffset: offset})
				return err
			},
			"ListArticlesByFavoriterFiltered": func() error {
				author := "user2"
				if i%2 == 0 {
					author = ""
				}
				_, err := q.ListArticlesByFavoriterFiltered(ctx, db.ListArticlesByFavoriterFilteredParams{
					Favorited: "user3", Author: orNull(author), Tag: ptr("go"), ViewerID: v, PageLimit: 20, PageOffset: offset,
				})
				return err
			},
			"ListArticlesByAuthorAndTag": func() error {
				_, err := q.ListArticlesByAuthorAndTag(ctx, db.ListArticlesByAuthorAndTagParams{Author: "user2", Tag: "go", ViewerID: v, PageLimit: 20, PageOffset: offset})
				return err
			},
			"ListFeedArticles": func() error {
				_, err := q.ListFeedArticles(ctx, db.ListFeedArticlesParams{FollowerID: 1, ViewerID: &viewer, PageLimit: 20, PageOffset: offset})
				return err
			},
			"GetArticleBySlug": func() error {
				_, err := q.GetArticleBySlug(ctx, db.GetArticleBySlugParams{Slug: fmt.Sprintf("article-%d", 1+i), ViewerID: v})
				return err
			},
		} {
			if err := run(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
	rows, err := conn.Query(ctx, `SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements`)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for rows.Next() {
		var statement string
		var generic, custom int64
		if err := rows.Scan(&statement, &generic, &custom); err != nil {
			t.Fatal(err)
		}
		name, ok := strings.CutPrefix(statement, "-- name: ")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, " ")
		seen[name] = true
		// PostgreSQL makes five custom plans before it compares; every
		// later execution must take the generic one.
		if generic != runs-5 || custom != 5 {
			t.Errorf("%s: %d generic and %d custom plans in %d executions; want %d generic", name, generic, custom, runs, runs-5)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 8 {
		t.Errorf("found the prepared statements of %v, want 8", seen)
	}
}

// TestListTablesVacuumEarly checks what keeps the lists' index-only
// scans off the heap (schema/0011, docs/PERFORMANCE.md, "Visibility"):
//
//   - the tables they read are vacuumed after 1 % of inserts and 2 % of
//     changed rows, not PostgreSQL's 20 %;
//   - a favorite's counter update stays on its article's page (a HOT
//     update), also on pages the inserts filled: otherwise it moves the
//     row, and the dead line pointer it leaves behind keeps the page from
//     being marked visible by any vacuum that skips the indexes, as
//     vacuum does when few pages have one.
func TestListTablesVacuumEarly(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, table := range []string{"articles", "article_tags", "favorites"} {
		var opts []string
		if err := conn.QueryRow(ctx, `SELECT coalesce(reloptions, '{}') FROM pg_class WHERE oid = $1::regclass`, table).Scan(&opts); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"autovacuum_vacuum_insert_scale_factor=0.01", "autovacuum_vacuum_scale_factor=0.02"} {
			if !slices.Contains(opts, want) {
				t.Errorf("%s: storage parameters %q lack %s", table, opts, want)
			}
		}
	}

	// Articles of a realistic size. Inserts fill each page as far as the
	// table's fill factor lets them, whether one row or many at a time.
	_, err = conn.Exec(ctx, `
		INSERT INTO users (username, email, password_hash)
		SELECT 'user' || g, 'user' || g || '@example.com', 'x' FROM generate_series(1, 40) g;
		INSERT INTO articles (slug, author_id, title, description, body)
		SELECT 'article-' || g, 1 + g % 40, 'Article ' || g, 'About article ' || g, repeat('Some words of a body. ', 25)
		FROM generate_series(1, 2000) g`)
	if err != nil {
		t.Fatal(err)
	}
	// One favorite for the first article of every page, in one
	// transaction, which counts its own updates as it goes.
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	var favorited int
	err = tx.QueryRow(ctx, `
		WITH firsts AS (
			SELECT DISTINCT ON ((ctid::text::point)[0]) id FROM articles ORDER BY (ctid::text::point)[0], id
		), fav AS (
			INSERT INTO favorites (user_id, article_id) SELECT 1, id FROM firsts RETURNING 1
		)
		SELECT count(*) FROM fav`).Scan(&favorited)
	if err != nil {
		t.Fatal(err)
	}
	var updated, hot int
	err = tx.QueryRow(ctx, `SELECT pg_stat_get_xact_tuples_updated('articles'::regclass), pg_stat_get_xact_tuples_hot_updated('articles'::regclass)`).Scan(&updated, &hot)
	if err != nil {
		t.Fatal(err)
	}
	if favorited < 20 || updated != favorited || hot != updated {
		t.Errorf("favorited the first article of %d pages: %d counter updates, %d of them on the article's own page (HOT), want all", favorited, updated, hot)
	}
}
