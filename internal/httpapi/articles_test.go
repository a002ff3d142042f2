package httpapi_test

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/internal/apptest"
	"github.com/sophsapp/sophsapp/internal/pgtest"
)

// startWithDB starts the server like apptest.Start and also returns a
// connection to its database, for checks the API cannot make.
func startWithDB(t *testing.T) (*apptest.App, *pgx.Conn) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	a := apptest.StartEnv(t, apptest.Env(url))
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return a, conn
}

// createArticle creates an article titled title with tags as token's
// holder and returns it.
func createArticle(t testing.TB, a *apptest.App, token, title string, tags ...string) api.Article {
	t.Helper()
	in := api.NewArticle{Title: title, Description: "About " + title, Body: "The body of " + title}
	if tags != nil {
		in.TagList = &tags
	}
	resp, err := a.Client.CreateArticleWithResponse(context.Background(), api.CreateArticleJSONRequestBody{Article: in}, withToken(token))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != http.StatusCreated || resp.JSON201 == nil {
		t.Fatalf("create %q: %d %s", title, resp.StatusCode(), resp.Body)
	}
	return resp.JSON201.Article
}

// getArticle fetches slug and returns the status, body and article.
func getArticle(t *testing.T, a *apptest.App, slug string, editors ...api.RequestEditorFn) (int, []byte, *api.Article) {
	t.Helper()
	resp, err := a.Client.GetArticleWithResponse(context.Background(), slug, editors...)
	if err != nil {
		t.Fatal(err)
	}
	if resp.JSON200 == nil {
		return resp.StatusCode(), resp.Body, nil
	}
	return resp.StatusCode(), resp.Body, &resp.JSON200.Article
}

// listArticles gets /api/articles with params and fails unless it is 200.
func listArticles(t *testing.T, a *apptest.App, params api.GetArticlesParams, editors ...api.RequestEditorFn) (api.MultipleArticlesResponse, []byte) {
	t.Helper()
	resp, err := a.Client.GetArticlesWithResponse(context.Background(), &params, editors...)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != http.StatusOK || resp.JSON200 == nil {
		t.Fatalf("list %+v: %d %s", params, resp.StatusCode(), resp.Body)
	}
	return api.MultipleArticlesResponse(*resp.JSON200), resp.Body
}

// slugs returns the slugs of a page, in order.
func slugs(items []api.ArticlePreview) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Slug
	}
	return out
}

// wantPage fails unless page has exactly the slugs want (in order) and
// articlesCount total.
func wantPage(t *testing.T, what string, page api.MultipleArticlesResponse, total int, want ...string) {
	t.Helper()
	if got := slugs(page.Articles); !slices.Equal(got, want) || page.ArticlesCount != total {
		t.Fatalf("%s: slugs %q count %d; want %q count %d", what, got, page.ArticlesCount, want, total)
	}
}

func i32(v int32) *int32 { return &v }

var millis = regexp.MustCompile(`^"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"$`)

// wantMillis fails unless every createdAt/updatedAt in body is ISO 8601
// UTC with exactly three fractional digits.
func wantMillis(t *testing.T, body []byte) {
	t.Helper()
	found := regexp.MustCompile(`"(?:createdAt|updatedAt)":("[^"]*")`).FindAllSubmatch(body, -1)
	if len(found) == 0 {
		t.Fatalf("no timestamps in %s", body)
	}
	for _, m := range found {
		if !millis.Match(m[1]) {
			t.Fatalf("timestamp %s is not ISO 8601 UTC with milliseconds", m[1])
		}
	}
}

func TestCreateArticle(t *testing.T) {
	a := apptest.Start(t, nil)
	ctx := context.Background()
	jake := register(t, a, "jake")

	tags := []string{" go ", "db", "go", "Go", "db "}
	resp, err := a.Client.CreateArticleWithResponse(ctx, api.CreateArticleJSONRequestBody{Article: api.NewArticle{
		Title: "Héllo, Wörld!", Description: "greeting", Body: "hi there", TagList: &tags,
	}}, withToken(jake.Token))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != http.StatusCreated || resp.JSON201 == nil {
		t.Fatalf("status %d, body %s", resp.StatusCode(), resp.Body)
	}
	wantMillis(t, resp.Body)
	got := resp.JSON201.Article
	if got.Slug != "héllo-wörld" || got.Title != "Héllo, Wörld!" || got.Description != "greeting" || got.Body != "hi there" {
		t.Fatalf("article %+v", got)
	}
	if want := []string{"Go", "db", "go"}; !slices.Equal(got.TagList, want) {
		t.Fatalf("tagList %q, want %q (trimmed, no repeats, case-sensitive, byte order)", got.TagList, want)
	}
	if got.Favorited || got.FavoritesCount != 0 || !got.CreatedAt.Equal(got.UpdatedAt.Time) || time.Since(got.CreatedAt.Time) > time.Minute {
		t.Fatalf("article %+v", got)
	}
	if got.Author.Username != "jake" || got.Author.Bio != nil || got.Author.Image != nil || got.Author.Following {
		t.Fatalf("author %+v", got.Author)
	}

	// The stored article reads back the same, anonymously too.
	status, body, read := getArticle(t, a, got.Slug)
	if status != http.StatusOK || read == nil {
		t.Fatalf("get: %d %s", status, body)
	}
	if read.Slug != got.Slug || read.Body != got.Body || !slices.Equal(read.TagList, got.TagList) || !read.CreatedAt.Equal(got.CreatedAt.Time) {
		t.Fatalf("read %+v, created %+v", read, got)
	}

	// Without tagList the list is empty, not null.
	plain := createArticle(t, a, jake.Token, "No tags")
	if plain.TagList == nil || len(plain.TagList) != 0 {
		t.Fatalf("tagList %#v, want []", plain.TagList)
	}
}

func TestCreateArticleSameTitleDistinctSlugs(t *testing.T) {
	a := apptest.Start(t, nil)
	jake := register(t, a, "jake")
	bob := register(t, a, "bob")

	seen := map[string]bool{}
	for i, tok := range []string{jake.Token, bob.Token, jake.Token} {
		art := createArticle(t, a, tok, "Same Title")
		if i == 0 && art.Slug != "same-title" {
			t.Fatalf("first slug %q, want same-title", art.Slug)
		}
		if !strings.HasPrefix(art.Slug, "same-title") || seen[art.Slug] {
			t.Fatalf("slug %q repeats or does not come from the title (seen %v)", art.Slug, seen)
		}
		seen[art.Slug] = true
		if status, body, _ := getArticle(t, a, art.Slug); status != http.StatusOK {
			t.Fatalf("get %s: %d %s", art.Slug, status, body)
		}
	}

	// A title that slugs to a fixed route still gets an address of its own.
	feed := createArticle(t, a, jake.Token, "Feed")
	if feed.Slug == "feed" || !strings.HasPrefix(feed.Slug, "feed-") {
		t.Fatalf("slug %q for title Feed", feed.Slug)
	}
	if status, body, got := getArticle(t, a, feed.Slug); status != http.StatusOK || got.Title != "Feed" {
		t.Fatalf("get %s: %d %s", feed.Slug, status, body)
	}
	// A title without letters or digits still has a slug.
	if art := createArticle(t, a, jake.Token, "!!!"); art.Slug != "article" {
		t.Fatalf("slug %q for title !!!", art.Slug)
	}
}

func TestCreateArticleInvalid(t *testing.T) {
	a := apptest.Start(t, nil)
	ctx := context.Background()
	jake := register(t, a, "jake")

	tooMany := make([]string, 21)
	for i := range tooMany {
		tooMany[i] = string(rune('a' + i))
	}
	for name, body := range map[string]string{
		"blank title":    `{"article":{"title":"   ","description":"d","body":"b"}}`,
		"missing title":  `{"article":{"description":"d","body":"b"}}`,
		"blank body":     `{"article":{"title":"t","description":"d","body":""}}`,
		"too many tags":  `{"article":{"title":"t","description":"d","body":"b","tagList":["` + strings.Join(tooMany, `","`) + `"]}}`,
		"blank tag":      `{"article":{"title":"t","description":"d","body":"b","tagList":[" "]}}`,
		"malformed JSON": `{"article":{"title":"t",`,
		"not an object":  `[]`,
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := a.Client.CreateArticleWithBodyWithResponse(ctx, "application/json", strings.NewReader(body), withToken(jake.Token))
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, resp.StatusCode(), resp.Body, http.StatusUnprocessableEntity)
		})
	}

	good := api.CreateArticleJSONRequestBody{Article: api.NewArticle{Title: "t", Description: "d", Body: "b"}}
	resp, err := a.Client.CreateArticleWithResponse(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, resp.StatusCode(), resp.Body, http.StatusUnauthorized)
	resp, err = a.Client.CreateArticleWithResponse(ctx, good, withToken("not-a-token"))
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, resp.StatusCode(), resp.Body, http.StatusUnauthorized)

	// Nothing was stored by the refused requests.
	if page, _ := listArticles(t, a, api.GetArticlesParams{}); page.ArticlesCount != 0 {
		t.Fatalf("%d articles after refused creates", page.ArticlesCount)
	}
}

func TestGetArticle(t *testing.T) {
	a := apptest.Start(t, nil)
	jake := register(t, a, "jake")
	art := createArticle(t, a, jake.Token, "Readable")

	status, body, _ := getArticle(t, a, "no-such-article")
	wantError(t, status, body, http.StatusNotFound)
	status, body, _ = getArticle(t, a, art.Slug, withToken("not-a-token"))
	wantError(t, status, body, http.StatusUnauthorized)
	if status, body, got := getArticle(t, a, art.Slug, withToken(jake.Token)); status != http.StatusOK || got.Favorited || got.Author.Following {
		t.Fatalf("get as author: %d %s", status, body)
	}
}

func TestUpdateArticle(t *testing.T) {
	a := apptest.Start(t, nil)
	ctx := context.Background()
	jake := register(t, a, "jake")
	bob := register(t, a, "bob")
	art := createArticle(t, a, jake.Token, "Old Title", "a", "b")
	time.Sleep(5 * time.Millisecond) // so that updatedAt can differ at millisecond precision

	update := func(slug string, u api.UpdateArticle, editors ...api.RequestEditorFn) *api.UpdateArticleResponse {
		t.Helper()
		resp, err := a.Client.UpdateArticleWithResponse(ctx, slug, api.UpdateArticleJSONRequestBody{Article: u}, editors...)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	resp := update(art.Slug, api.UpdateArticle{Title: ptr("New Title")}, withToken(jake.Token))
	if resp.StatusCode() != http.StatusOK || resp.JSON200 == nil {
		t.Fatalf("update: %d %s", resp.StatusCode(), resp.Body)
	}
	wantMillis(t, resp.Body)
	got := resp.JSON200.Article
	if got.Slug != "new-title" || got.Title != "New Title" || got.Body != art.Body || got.Description != art.Description || !slices.Equal(got.TagList, art.TagList) {
		t.Fatalf("updated %+v, was %+v", got, art)
	}
	if !got.CreatedAt.Equal(art.CreatedAt.Time) || !got.UpdatedAt.After(art.UpdatedAt.Time) {
		t.Fatalf("createdAt %v → %v, updatedAt %v → %v", art.CreatedAt, got.CreatedAt, art.UpdatedAt, got.UpdatedAt)
	}
	status, body, _ := getArticle(t, a, art.Slug)
	wantError(t, status, body, http.StatusNotFound)
	if status, body, read := getArticle(t, a, "new-title"); status != http.StatusOK || read.Title != "New Title" {
		t.Fatalf("get new slug: %d %s", status, body)
	}

	// tagList replaces the tags; other fields stay; the slug stays with the title.
	resp = update("new-title", api.UpdateArticle{Body: ptr("new body"), TagList: &[]string{"c", "a"}}, withToken(jake.Token))
	if resp.StatusCode() != http.StatusOK || resp.JSON200.Article.Slug != "new-title" || resp.JSON200.Article.Body != "new body" ||
		!slices.Equal(resp.JSON200.Article.TagList, []string{"a", "c"}) || resp.JSON200.Article.Title != "New Title" {
		t.Fatalf("update tags: %d %s", resp.StatusCode(), resp.Body)
	}
	// A new title and new tags at once: the tags follow the article to its
	// new slug.
	resp = update("new-title", api.UpdateArticle{Title: ptr("Newer Title"), TagList: &[]string{"d"}}, withToken(jake.Token))
	if resp.StatusCode() != http.StatusOK || resp.JSON200.Article.Slug != "newer-title" || !slices.Equal(resp.JSON200.Article.TagList, []string{"d"}) {
		t.Fatalf("update title and tags: %d %s", resp.StatusCode(), resp.Body)
	}
	if page, _ := listArticles(t, a, api.GetArticlesParams{Tag: ptr("d")}); page.ArticlesCount != 1 || len(page.Articles) != 1 || page.Articles[0].Slug != "newer-title" {
		t.Fatalf("list by the new tag: %+v", page)
	}
	resp = update("newer-title", api.UpdateArticle{Title: ptr("New Title")}, withToken(jake.Token))
	if resp.StatusCode() != http.StatusOK || resp.JSON200.Article.Slug != "new-title" {
		t.Fatalf("title back: %d %s", resp.StatusCode(), resp.Body)
	}
	// An empty tagList removes them all.
	resp = update("new-title", api.UpdateArticle{TagList: &[]string{}}, withToken(jake.Token))
	if resp.StatusCode() != http.StatusOK || len(resp.JSON200.Article.TagList) != 0 {
		t.Fatalf("clear tags: %d %s", resp.StatusCode(), resp.Body)
	}
	// A title taken by another article's slug gets a distinct slug.
	createArticle(t, a, bob.Token, "Taken")
	resp = update("new-title", api.UpdateArticle{Title: ptr("Taken")}, withToken(jake.Token))
	if resp.StatusCode() != http.StatusOK || !strings.HasPrefix(resp.JSON200.Article.Slug, "taken-") {
		t.Fatalf("update to a taken title: %d %s", resp.StatusCode(), resp.Body)
	}
	slug := resp.JSON200.Article.Slug

	r := update(slug, api.UpdateArticle{Title: ptr("Bob's now")}, withToken(bob.Token))
	wantError(t, r.StatusCode(), r.Body, http.StatusForbidden)
	r = update("no-such-article", api.UpdateArticle{Title: ptr("x")}, withToken(jake.Token))
	wantError(t, r.StatusCode(), r.Body, http.StatusNotFound)
	r = update(slug, api.UpdateArticle{Title: ptr("x")})
	wantError(t, r.StatusCode(), r.Body, http.StatusUnauthorized)
	r = update(slug, api.UpdateArticle{Title: ptr(" ")}, withToken(jake.Token))
	wantError(t, r.StatusCode(), r.Body, http.StatusUnprocessableEntity)
	if status, body, read := getArticle(t, a, slug); status != http.StatusOK || read.Title != "Taken" {
		t.Fatalf("after refused updates: %d %s", status, body)
	}
}

func TestDeleteArticle(t *testing.T) {
	a, conn := startWithDB(t)
	ctx := context.Background()
	jake := register(t, a, "jake")
	bob := register(t, a, "bob")
	art := createArticle(t, a, jake.Token, "Doomed", "lonely", "shared")
	keep := createArticle(t, a, jake.Token, "Kept", "shared")
	if _, err := a.Client.CreateArticleFavoriteWithResponse(ctx, art.Slug, withToken(bob.Token)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Client.CreateArticleFavoriteWithResponse(ctx, keep.Slug, withToken(bob.Token)); err != nil {
		t.Fatal(err)
	}
	comment, err := a.Client.CreateArticleCommentWithResponse(ctx, art.Slug, api.CreateArticleCommentJSONRequestBody{Comment: api.NewComment{Body: "first"}}, withToken(bob.Token))
	if err != nil || comment.StatusCode() != http.StatusOK {
		t.Fatalf("comment: %v %s", err, comment.Body)
	}

	del := func(slug string, editors ...api.RequestEditorFn) *api.DeleteArticleResponse {
		t.Helper()
		resp, err := a.Client.DeleteArticleWithResponse(ctx, slug, editors...)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	r := del(art.Slug, withToken(bob.Token))
	wantError(t, r.StatusCode(), r.Body, http.StatusForbidden)
	r = del(art.Slug)
	wantError(t, r.StatusCode(), r.Body, http.StatusUnauthorized)
	if status, _, _ := getArticle(t, a, art.Slug); status != http.StatusOK {
		t.Fatalf("article gone after refused deletes: %d", status)
	}

	if r = del(art.Slug, withToken(jake.Token)); r.StatusCode() != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.StatusCode(), r.Body)
	}
	status, body, _ := getArticle(t, a, art.Slug)
	wantError(t, status, body, http.StatusNotFound)
	r = del(art.Slug, withToken(jake.Token))
	wantError(t, r.StatusCode(), r.Body, http.StatusNotFound)

	// Its comments, favorites and tag links went with it; the other
	// article's did not.
	var comments, favorites, links int
	err = conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM comments), (SELECT count(*) FROM favorites), (SELECT count(*) FROM article_tags)`).Scan(&comments, &favorites, &links)
	if err != nil {
		t.Fatal(err)
	}
	if comments != 0 || favorites != 1 || links != 1 {
		t.Fatalf("after delete: %d comments, %d favorites, %d tag links; want 0, 1, 1", comments, favorites, links)
	}
	page, _ := listArticles(t, a, api.GetArticlesParams{Favorited: ptr("bob")})
	wantPage(t, "favorited by bob", page, 1, keep.Slug)
	tags, err := a.Client.GetTagsWithResponse(ctx)
	if err != nil || tags.JSON200 == nil {
		t.Fatalf("tags: %v", err)
	}
	if !slices.Equal(tags.JSON200.Tags, []string{"shared"}) {
		t.Fatalf("tags %q after delete, want only shared", tags.JSON200.Tags)
	}
}

func TestListArticles(t *testing.T) {
	a := apptest.Start(t, nil)
	ctx := context.Background()
	jake := register(t, a, "jake")
	bob := register(t, a, "bob")
	// Oldest first: a1 (go, db), b1 (db), a2 (go), b2.
	a1 := createArticle(t, a, jake.Token, "A one", "go", "db")
	b1 := createArticle(t, a, bob.Token, "B one", "db")
	a2 := createArticle(t, a, jake.Token, "A two", "go")
	b2 := createArticle(t, a, bob.Token, "B two")
	for _, slug := range []string{a1.Slug, b1.Slug} {
		if resp, err := a.Client.CreateArticleFavoriteWithResponse(ctx, slug, withToken(bob.Token)); err != nil || resp.StatusCode() != http.StatusOK {
			t.Fatalf("favorite %s: %v", slug, err)
		}
	}
	if resp, err := a.Client.FollowUserByUsernameWithResponse(ctx, "bob", withToken(jake.Token)); err != nil || resp.StatusCode() != http.StatusOK {
		t.Fatalf("follow: %v", err)
	}

	all, body := listArticles(t, a, api.GetArticlesParams{})
	wantPage(t, "all", all, 4, b2.Slug, a2.Slug, b1.Slug, a1.Slug)
	if strings.Contains(string(body), `"body"`) {
		t.Fatalf("list items carry a body: %s", body)
	}
	wantMillis(t, body)
	for _, it := range all.Articles {
		if it.Favorited || it.Author.Following {
			t.Fatalf("anonymous sees flags set: %+v", it)
		}
	}
	if got := all.Articles[3]; !slices.Equal(got.TagList, []string{"db", "go"}) || got.FavoritesCount != 1 || got.Author.Username != "jake" {
		t.Fatalf("a1 in the list: %+v", got)
	}

	for name, c := range map[string]struct {
		params api.GetArticlesParams
		total  int
		want   []string
	}{
		"tag":                  {api.GetArticlesParams{Tag: ptr("go")}, 2, []string{a2.Slug, a1.Slug}},
		"author":               {api.GetArticlesParams{Author: ptr("bob")}, 2, []string{b2.Slug, b1.Slug}},
		"favorited":            {api.GetArticlesParams{Favorited: ptr("bob")}, 2, []string{b1.Slug, a1.Slug}},
		"tag and author":       {api.GetArticlesParams{Tag: ptr("db"), Author: ptr("jake")}, 1, []string{a1.Slug}},
		"tag and favorited":    {api.GetArticlesParams{Tag: ptr("db"), Favorited: ptr("bob")}, 2, []string{b1.Slug, a1.Slug}},
		"author and favorited": {api.GetArticlesParams{Author: ptr("bob"), Favorited: ptr("bob")}, 1, []string{b1.Slug}},
		"all three":            {api.GetArticlesParams{Tag: ptr("go"), Author: ptr("jake"), Favorited: ptr("bob")}, 1, []string{a1.Slug}},
		"unknown tag":          {api.GetArticlesParams{Tag: ptr("nope")}, 0, []string{}},
		"unknown author":       {api.GetArticlesParams{Author: ptr("nobody")}, 0, []string{}},
		"favorited by nobody":  {api.GetArticlesParams{Favorited: ptr("jake")}, 0, []string{}},
		"limit":                {api.GetArticlesParams{Limit: i32(2)}, 4, []string{b2.Slug, a2.Slug}},
		"limit and offset":     {api.GetArticlesParams{Limit: i32(2), Offset: i32(1)}, 4, []string{a2.Slug, b1.Slug}},
		"offset past the end":  {api.GetArticlesParams{Offset: i32(10)}, 4, []string{}},
		"filtered page":        {api.GetArticlesParams{Tag: ptr("db"), Limit: i32(1), Offset: i32(1)}, 2, []string{a1.Slug}},
	} {
		t.Run(name, func(t *testing.T) {
			page, _ := listArticles(t, a, c.params)
			wantPage(t, name, page, c.total, c.want...)
		})
	}

	// The flags are the viewer's.
	asJake, _ := listArticles(t, a, api.GetArticlesParams{}, withToken(jake.Token))
	asBob, _ := listArticles(t, a, api.GetArticlesParams{}, withToken(bob.Token))
	for i := range asJake.Articles {
		j, b := asJake.Articles[i], asBob.Articles[i]
		if j.Favorited || j.Author.Following != (j.Author.Username == "bob") {
			t.Fatalf("as jake: %+v", j)
		}
		if b.Favorited != (b.Slug == a1.Slug || b.Slug == b1.Slug) || b.Author.Following {
			t.Fatalf("as bob: %+v", b)
		}
	}

	resp, err := a.Client.GetArticlesWithResponse(ctx, &api.GetArticlesParams{}, withToken("not-a-token"))
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, resp.StatusCode(), resp.Body, http.StatusUnauthorized)
	resp, err = a.Client.GetArticlesWithResponse(ctx, &api.GetArticlesParams{Limit: i32(101)})
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, resp.StatusCode(), resp.Body, http.StatusUnprocessableEntity)
}

func TestListArticlesDefaultLimit(t *testing.T) {
	a, conn := startWithDB(t)
	jake := register(t, a, "jake")
	// 25 articles, one second apart, newest last.
	_, err := conn.Exec(context.Background(), `
		INSERT INTO articles (slug, author_id, title, description, body, created_at, updated_at)
		SELECT 'seeded-' || g, u.id, 'Seeded ' || g, 'd', 'b', now() - (100 - g) * interval '1 second', now() - (100 - g) * interval '1 second'
		FROM generate_series(1, 25) g, users u WHERE u.username = 'jake'`)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := listArticles(t, a, api.GetArticlesParams{}, withToken(jake.Token))
	if len(page.Articles) != 20 || page.ArticlesCount != 25 || page.Articles[0].Slug != "seeded-25" || page.Articles[19].Slug != "seeded-6" {
		t.Fatalf("default page: %d items, count %d, first %s", len(page.Articles), page.ArticlesCount, page.Articles[0].Slug)
	}
}

func TestFeed(t *testing.T) {
	a := apptest.Start(t, nil)
	ctx := context.Background()
	jake := register(t, a, "jake")
	bob := register(t, a, "bob")
	carol := register(t, a, "carol")
	b1 := createArticle(t, a, bob.Token, "Bob one")
	createArticle(t, a, carol.Token, "Carol one")
	createArticle(t, a, jake.Token, "Jake one")
	b2 := createArticle(t, a, bob.Token, "Bob two")

	feed := func(token string, params api.GetArticlesFeedParams) *api.GetArticlesFeedResponse {
		t.Helper()
		resp, err := a.Client.GetArticlesFeedWithResponse(ctx, &params, withToken(token))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	// Following nobody: an empty feed.
	if resp := feed(jake.Token, api.GetArticlesFeedParams{}); resp.JSON200 == nil || len(resp.JSON200.Articles) != 0 || resp.JSON200.ArticlesCount != 0 {
		t.Fatalf("empty feed: %d %s", resp.StatusCode(), resp.Body)
	}
	if resp, err := a.Client.FollowUserByUsernameWithResponse(ctx, "bob", withToken(jake.Token)); err != nil || resp.StatusCode() != http.StatusOK {
		t.Fatalf("follow: %v", err)
	}
	resp := feed(jake.Token, api.GetArticlesFeedParams{})
	if resp.JSON200 == nil {
		t.Fatalf("feed: %d %s", resp.StatusCode(), resp.Body)
	}
	wantPage(t, "feed", api.MultipleArticlesResponse(*resp.JSON200), 2, b2.Slug, b1.Slug)
	if strings.Contains(string(resp.Body), `"body"`) {
		t.Fatalf("feed items carry a body: %s", resp.Body)
	}
	for _, it := range resp.JSON200.Articles {
		if !it.Author.Following {
			t.Fatalf("feed item by an author not followed: %+v", it)
		}
	}
	resp = feed(jake.Token, api.GetArticlesFeedParams{Limit: i32(1), Offset: i32(1)})
	wantPage(t, "feed page", api.MultipleArticlesResponse(*resp.JSON200), 2, b1.Slug)
	resp = feed(jake.Token, api.GetArticlesFeedParams{Offset: i32(5)})
	wantPage(t, "feed past the end", api.MultipleArticlesResponse(*resp.JSON200), 2)
	// Carol follows nobody: her feed is still empty.
	resp = feed(carol.Token, api.GetArticlesFeedParams{})
	wantPage(t, "carol's feed", api.MultipleArticlesResponse(*resp.JSON200), 0)

	noToken, err := a.Client.GetArticlesFeedWithResponse(ctx, &api.GetArticlesFeedParams{})
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, noToken.StatusCode(), noToken.Body, http.StatusUnauthorized)
	resp = feed("not-a-token", api.GetArticlesFeedParams{})
	wantError(t, resp.StatusCode(), resp.Body, http.StatusUnauthorized)
}

func TestFavoriteArticle(t *testing.T) {
	a := apptest.Start(t, nil)
	ctx := context.Background()
	jake := register(t, a, "jake")
	bob := register(t, a, "bob")
	art := createArticle(t, a, jake.Token, "Likeable")

	fav := func(token string, unfavorite bool) (int, []byte, *api.Article) {
		t.Helper()
		var (
			status int
			body   []byte
			ok     *api.SingleArticleOK
		)
		if unfavorite {
			resp, err := a.Client.DeleteArticleFavoriteWithResponse(ctx, art.Slug, withToken(token))
			if err != nil {
				t.Fatal(err)
			}
			status, body, ok = resp.StatusCode(), resp.Body, resp.JSON200
		} else {
			resp, err := a.Client.CreateArticleFavoriteWithResponse(ctx, art.Slug, withToken(token))
			if err != nil {
				t.Fatal(err)
			}
			status, body, ok = resp.StatusCode(), resp.Body, resp.JSON200
		}
		if ok == nil {
			return status, body, nil
		}
		return status, body, &ok.Article
	}
	for _, step := range []struct {
		token      string
		unfavorite bool
		favorited  bool
		count      int
	}{
		{bob.Token, false, true, 1},
		{bob.Token, false, true, 1}, // again: no change
		{jake.Token, false, true, 2},
		{bob.Token, true, false, 1},
		{bob.Token, true, false, 1}, // again: no change
		{jake.Token, true, false, 0},
		{jake.Token, true, false, 0},
	} {
		status, body, got := fav(step.token, step.unfavorite)
		if status != http.StatusOK || got.Favorited != step.favorited || got.FavoritesCount != step.count {
			t.Fatalf("step %+v: %d %s", step, status, body)
		}
	}
	status, body, read := getArticle(t, a, art.Slug)
	if status != http.StatusOK || read.FavoritesCount != 0 {
		t.Fatalf("after: %d %s", status, body)
	}

	resp, err := a.Client.CreateArticleFavoriteWithResponse(ctx, "no-such-article", withToken(bob.Token))
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, resp.StatusCode(), resp.Body, http.StatusNotFound)
	del, err := a.Client.DeleteArticleFavoriteWithResponse(ctx, "no-such-article", withToken(bob.Token))
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, del.StatusCode(), del.Body, http.StatusNotFound)
	resp, err = a.Client.CreateArticleFavoriteWithResponse(ctx, art.Slug)
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, resp.StatusCode(), resp.Body, http.StatusUnauthorized)
}
