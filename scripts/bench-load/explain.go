package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sophsapp/sophsapp/gen/db"
)

// explainRuns is how often each statement runs before its plan is kept:
// PostgreSQL switches a prepared statement to its cached generic plan
// from the sixth execution on, and the server's connections run the
// statements long past that.
const explainRuns = 8

// explain writes the plan of each list statement, as the server runs it
// (the generated code, prepared and cached by pgx), to plans-NAME.txt:
// auto_explain sends the plan of every execution to the client as a
// notice, with EXPLAIN (ANALYZE, BUFFERS) detail, and the last one is kept.
func (b *bench) explain(ctx context.Context, url, name string, f *facts) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return err
	}
	var last string
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { last = n.Message }
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, s := range []string{
		`LOAD 'auto_explain'`,
		`SET auto_explain.log_min_duration = 0`,
		`SET auto_explain.log_analyze = on`,
		`SET auto_explain.log_buffers = on`,
		`SET auto_explain.log_timing = on`,
		`SET auto_explain.log_level = notice`,
		`SET client_min_messages = notice`,
	} {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	q := db.New(conn)
	viewer := int64(1)
	const limit = 20
	variants := []struct {
		title string
		run   func() error
	}{
		{"GET /api/articles (ListArticles)", func() error {
			_, err := q.ListArticles(ctx, db.ListArticlesParams{PageLimit: limit})
			return err
		}},
		{"GET /api/articles signed in (ListArticles with the viewer's flags)", func() error {
			_, err := q.ListArticles(ctx, db.ListArticlesParams{ViewerID: &viewer, PageLimit: limit})
			return err
		}},
		{fmt.Sprintf("GET /api/articles?tag=%s (ListArticlesByTag)", f.tag), func() error {
			_, err := q.ListArticlesByTag(ctx, db.ListArticlesByTagParams{Tag: f.tag, PageLimit: limit})
			return err
		}},
		{fmt.Sprintf("GET /api/articles?author=%s (ListArticlesByAuthor)", f.author), func() error {
			_, err := q.ListArticlesByAuthor(ctx, db.ListArticlesByAuthorParams{Author: f.author, PageLimit: limit})
			return err
		}},
		{fmt.Sprintf("GET /api/articles?favorited=%s (ListArticlesByFavoriter)", f.favorited), func() error {
			_, err := q.ListArticlesByFavoriter(ctx, db.ListArticlesByFavoriterParams{Favorited: f.favorited, PageLimit: limit})
			return err
		}},
		{fmt.Sprintf("GET /api/articles?tag=%s&author=%s (ListArticlesByAuthorAndTag)", f.tag, f.author), func() error {
			_, err := q.ListArticlesByAuthorAndTag(ctx, db.ListArticlesByAuthorAndTagParams{Author: f.author, Tag: f.tag, PageLimit: limit})
			return err
		}},
		{fmt.Sprintf("GET /api/articles?favorited=%s&tag=%s (ListArticlesByFavoriterFiltered)", f.favorited, f.tag), func() error {
			_, err := q.ListArticlesByFavoriterFiltered(ctx, db.ListArticlesByFavoriterFilteredParams{Favorited: f.favorited, Tag: &f.tag, PageLimit: limit})
			return err
		}},
		{fmt.Sprintf("GET /api/articles?offset=%d (ListArticles, deep)", f.offset), func() error {
			_, err := q.ListArticles(ctx, db.ListArticlesParams{PageLimit: limit, PageOffset: int32(f.offset)})
			return err
		}},
		{"GET /api/articles/feed (ListFeedArticles)", func() error {
			_, err := q.ListFeedArticles(ctx, db.ListFeedArticlesParams{FollowerID: viewer, ViewerID: &viewer, PageLimit: limit})
			return err
		}},
	}
	var out strings.Builder
	for _, v := range variants {
		for range explainRuns {
			last = ""
			if err := v.run(); err != nil {
				return fmt.Errorf("%s: %w", v.title, err)
			}
		}
		// The notice is "duration: ... plan:", the statement's text, then
		// the plan, whose first line is the only one not indented.
		plan := dropQueryText(last)
		fmt.Fprintf(&out, "## %s\n\n%s\n\n", v.title, strings.TrimSpace(plan))
	}
	file := filepath.Join(b.out, "plans-"+name+".txt")
	if err := os.WriteFile(file, []byte(out.String()), 0o644); err != nil {
		return err
	}
	b.logf("%s: plans of the list statements in %s", name, file)
	return nil
}

// dropQueryText keeps the plan of an auto_explain notice: from its first
// line, the only one that is not indented.
func dropQueryText(plan string) string {
	lines := strings.Split(plan, "\n")
	for i := 1; i < len(lines); i++ {
		if l := lines[i]; l != "" && l[0] != ' ' && strings.Contains(l, "(actual time=") {
			return strings.Join(lines[i:], "\n")
		}
	}
	return plan
}
