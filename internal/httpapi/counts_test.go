package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/internal/apptest"
)

// countFilter is one combination of the list's filters; "" is not
// filtering.
type countFilter struct{ author, tag, favorited string }

func (f countFilter) String() string {
	return fmt.Sprintf("author=%q tag=%q favorited=%q", f.author, f.tag, f.favorited)
}

func (f countFilter) params() api.GetArticlesParams {
	p := api.GetArticlesParams{Limit: i32(100)}
	if f.author != "" {
		p.Author = ptr(f.author)
	}
	if f.tag != "" {
		p.Tag = ptr(f.tag)
	}
	if f.favorited != "" {
		p.Favorited = ptr(f.favorited)
	}
	return p
}

// orNull maps "" to SQL NULL.
func orNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// checkCounts compares articlesCount for every single filter (and a few
// combined ones) with the number recounted from the base tables, and every
// counter column with its recount. It fails the test with step in the
// message.
func checkCounts(t *testing.T, a *apptest.App, conn *pgx.Conn, step string) {
	t.Helper()
	ctx := context.Background()
	names := func(query string) []string {
		t.Helper()
		rows, err := conn.Query(ctx, query)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// Names that exist and one that does not, so that a missing row counts
	// 0 rather than failing.
	users := append(names("SELECT username FROM users ORDER BY id"), "nobody")
	tags := append(names("SELECT name FROM tags ORDER BY id"), "no-such-tag")

	filters := []countFilter{{}}
	for _, u := range users {
		filters = append(filters, countFilter{author: u}, countFilter{favorited: u})
	}
	for _, tag := range tags {
		filters = append(filters, countFilter{tag: tag})
		for _, u := range users[:2] {
			filters = append(filters, countFilter{author: u, tag: tag}, countFilter{tag: tag, favorited: u})
		}
	}
	filters = append(filters, countFilter{author: users[0], favorited: users[1]}, countFilter{author: users[1], tag: tags[0], favorited: users[0]})

	for _, f := range filters {
		var want int
		err := conn.QueryRow(ctx, `
			SELECT count(*) FROM articles a
			WHERE ($1::text IS NULL OR a.author_id IN (SELECT u.id FROM users u WHERE u.username = $1))
			  AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM article_tags at JOIN tags t ON t.id = at.tag_id
			                                   WHERE at.article_id = a.id AND t.name = $2))
			  AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM favorites fa JOIN users u ON u.id = fa.user_id
			                                   WHERE fa.article_id = a.id AND u.username = $3))`,
			orNull(f.author), orNull(f.tag), orNull(f.favorited)).Scan(&want)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := listArticles(t, a, f.params())
		if page.ArticlesCount != want || len(page.Articles) != want {
			t.Errorf("%s: %s: articlesCount %d with %d articles listed, want %d", step, f, page.ArticlesCount, len(page.Articles), want)
		}
	}

	// Each counter row against its recount, so that a drift shows even
	// where no filter above happens to look.
	rows, err := conn.Query(ctx, `
		SELECT 'article_totals', c.articles_count, (SELECT count(*) FROM articles) FROM article_totals c
		UNION ALL
		SELECT 'articles of user ' || u.username, u.articles_count,
		       (SELECT count(*) FROM articles a WHERE a.author_id = u.id) FROM users u
		UNION ALL
		SELECT 'favorites of user ' || u.username, uc.favorites_count,
		       (SELECT count(*) FROM favorites f WHERE f.user_id = u.id) FROM users u JOIN user_counts uc ON uc.user_id = u.id
		UNION ALL
		SELECT 'user_counts rows', (SELECT count(*) FROM user_counts), (SELECT count(*) FROM users)
		UNION ALL
		SELECT 'articles of tag ' || t.name, t.articles_count,
		       (SELECT count(*) FROM article_tags at WHERE at.tag_id = t.id) FROM tags t
		UNION ALL
		SELECT 'favorites of article ' || a.slug, a.favorites_count,
		       (SELECT count(*) FROM favorites f WHERE f.article_id = a.id) FROM articles a`)
	if err != nil {
		t.Fatal(err)
	}
	var counter string
	var got, want int64
	n := 0
	_, err = pgx.ForEachRow(rows, []any{&counter, &got, &want}, func() error {
		n++
		if got != want {
			t.Errorf("%s: %s is %d, recounted %d", step, counter, got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 1+2*(len(users)-1) {
		t.Errorf("%s: %d counters checked; article_totals missing?", step, n)
	}

	// The copies schema/0006 keeps for the lists: each article's tag names
	// in byte order, and the article's created_at on its tag links and
	// favorites.
	rows, err = conn.Query(ctx, `
		SELECT 'articles whose tag_list is stale', count(*) FROM articles a
		WHERE a.tag_list IS DISTINCT FROM COALESCE((SELECT array_agg(t.name ORDER BY t.name COLLATE "C")
		                                            FROM article_tags at JOIN tags t ON t.id = at.tag_id
		                                            WHERE at.article_id = a.id), '{}')
		UNION ALL
		SELECT 'tag links with a stale article_created_at', count(*)
		FROM article_tags at JOIN articles a ON a.id = at.article_id WHERE at.article_created_at <> a.created_at
		UNION ALL
		SELECT 'favorites with a stale article_created_at', count(*)
		FROM favorites f JOIN articles a ON a.id = f.article_id WHERE f.article_created_at <> a.created_at`)
	if err != nil {
		t.Fatal(err)
	}
	var stale int64
	_, err = pgx.ForEachRow(rows, []any{&counter, &stale}, func() error {
		if stale != 0 {
			t.Errorf("%s: %d %s", step, stale, counter)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestArticleCountsFollowEveryWrite drives every write path that changes
// what the list counts (creating articles with tags, replacing tags,
// favoriting and unfavoriting, repeated, deleting tagged and favorited
// articles, refused writes, and writes no operation makes: deleting a user,
// moving rows between users or tags, renaming a tag, redating an article),
// by several users, and after each step checks articlesCount for every
// filter against a recount from the base tables, and the counters and the
// lists' copied columns themselves.
func TestArticleCountsFollowEveryWrite(t *testing.T) {
	a, conn := startWithDB(t)
	ctx := context.Background()
	alice, bob, carol := register(t, a, "alice"), register(t, a, "bob"), register(t, a, "carol")
	checkCounts(t, a, conn, "no articles")

	fav := func(token, slug string, undo bool) {
		t.Helper()
		var status int
		if undo {
			resp, err := a.Client.DeleteArticleFavoriteWithResponse(ctx, slug, withToken(token))
			if err != nil {
				t.Fatal(err)
			}
			status = resp.StatusCode()
		} else {
			resp, err := a.Client.CreateArticleFavoriteWithResponse(ctx, slug, withToken(token))
			if err != nil {
				t.Fatal(err)
			}
			status = resp.StatusCode()
		}
		if status != http.StatusOK {
			t.Fatalf("favorite %s (undo %v): %d", slug, undo, status)
		}
	}
	update := func(token, slug string, in api.UpdateArticle) string {
		t.Helper()
		resp, err := a.Client.UpdateArticleWithResponse(ctx, slug, api.UpdateArticleJSONRequestBody{Article: in}, withToken(token))
		if err != nil {
			t.Fatal(err)
		}
		if resp.JSON200 == nil {
			t.Fatalf("update %s: %d %s", slug, resp.StatusCode(), resp.Body)
		}
		return resp.JSON200.Article.Slug
	}
	del := func(token, slug string, want int) {
		t.Helper()
		resp, err := a.Client.DeleteArticleWithResponse(ctx, slug, withToken(token))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode() != want {
			t.Fatalf("delete %s: %d, want %d", slug, resp.StatusCode(), want)
		}
	}
	sql := func(query string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, query, args...); err != nil {
			t.Fatal(err)
		}
	}
	tags := func(names ...string) *[]string {
		if names == nil {
			names = []string{} // an empty list, not null
		}
		return &names
	}

	a1 := createArticle(t, a, alice.Token, "Alice one", "go", "sql").Slug
	a2 := createArticle(t, a, alice.Token, "Alice two", "go").Slug
	b1 := createArticle(t, a, bob.Token, "Bob one", "sql", "rust").Slug
	b2 := createArticle(t, a, bob.Token, "Bob two").Slug
	c1 := createArticle(t, a, carol.Token, "Carol one", "go", "rust", "go", " rust ").Slug
	checkCounts(t, a, conn, "created")

	fav(bob.Token, a1, false)
	fav(bob.Token, a1, false)
	fav(carol.Token, a1, false)
	fav(carol.Token, b1, false)
	fav(alice.Token, b1, false)
	fav(alice.Token, c1, false)
	fav(alice.Token, b2, false)
	checkCounts(t, a, conn, "favorited")

	fav(alice.Token, c1, true)
	fav(alice.Token, c1, true)
	fav(bob.Token, a2, true)
	checkCounts(t, a, conn, "unfavorited")

	a1 = update(alice.Token, a1, api.UpdateArticle{TagList: tags("rust", "new")})
	b1 = update(bob.Token, b1, api.UpdateArticle{TagList: tags()})
	update(carol.Token, c1, api.UpdateArticle{TagList: tags("rust", "go", "sql")})
	a2 = update(alice.Token, a2, api.UpdateArticle{Title: ptr("Alice two, renamed")})
	checkCounts(t, a, conn, "tags replaced")

	// Refused writes change nothing.
	del(bob.Token, a1, http.StatusForbidden)
	del(bob.Token, "no-such-article", http.StatusNotFound)
	checkCounts(t, a, conn, "refused deletes")

	// Tagged and favorited: the cascades take tag links and favorites.
	del(alice.Token, a1, http.StatusNoContent)
	checkCounts(t, a, conn, "deleted a tagged, favorited article")
	del(bob.Token, b1, http.StatusNoContent)
	checkCounts(t, a, conn, "deleted a favorited article")

	c2 := createArticle(t, a, carol.Token, "Carol two", "new", "sql").Slug
	fav(bob.Token, c2, false)
	fav(alice.Token, c2, false)
	fav(bob.Token, a2, false)
	checkCounts(t, a, conn, "created and favorited again")

	// Writes no operation makes today, but a future one or an operator
	// might: the counters must follow them too.
	sql("UPDATE articles SET author_id = (SELECT id FROM users WHERE username = 'bob') WHERE slug = $1", a2)
	sql("UPDATE article_tags SET tag_id = (SELECT id FROM tags WHERE name = 'go') WHERE article_id = (SELECT id FROM articles WHERE slug = $1) AND tag_id = (SELECT id FROM tags WHERE name = 'new')", c2)
	sql("UPDATE favorites SET user_id = (SELECT id FROM users WHERE username = 'carol') WHERE user_id = (SELECT id FROM users WHERE username = 'alice') AND article_id = (SELECT id FROM articles WHERE slug = $1)", c2)
	checkCounts(t, a, conn, "rows moved in SQL")
	sql("UPDATE tags SET name = 'Zig' WHERE name = 'go'")
	sql("UPDATE articles SET created_at = created_at - interval '1 day' WHERE slug = $1", c2)
	sql("UPDATE article_tags SET article_id = (SELECT id FROM articles WHERE slug = $1) WHERE article_id = (SELECT id FROM articles WHERE slug = $2) AND tag_id = (SELECT id FROM tags WHERE name = 'sql')", a2, c2)
	sql("UPDATE favorites SET article_created_at = 'epoch'")
	checkCounts(t, a, conn, "tag renamed, article redated, tag link moved, copies overwritten in SQL")
	fav(carol.Token, a2, false) // an article that outlives carol
	sql("DELETE FROM users WHERE username = 'carol'")
	checkCounts(t, a, conn, "user deleted in SQL")
	sql("INSERT INTO articles (slug, author_id, title, description, body) SELECT 'bulk-' || u.id || '-' || g, u.id, 'Bulk', '', '' FROM users u, generate_series(1, 3) g")
	sql("DELETE FROM articles WHERE slug LIKE 'bulk-%' AND author_id = (SELECT id FROM users WHERE username = 'alice')")
	checkCounts(t, a, conn, "bulk insert and delete in SQL")
	// Favorites written directly are counted per row (schema/0007), also
	// when one statement writes many.
	sql("INSERT INTO favorites (user_id, article_id) SELECT u.id, a.id FROM users u, articles a ON CONFLICT DO NOTHING")
	checkCounts(t, a, conn, "every user favorites every article in SQL")
	sql("DELETE FROM favorites WHERE user_id = (SELECT id FROM users WHERE username = 'alice')")
	checkCounts(t, a, conn, "a user's favorites deleted in SQL")
}
