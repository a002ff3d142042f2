package httpapi_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/internal/apptest"
	"github.com/sophsapp/sophsapp/internal/auth"
	"github.com/sophsapp/sophsapp/internal/pgtest"
)

// statementCounter sits between the server and PostgreSQL and counts the
// statements the server executes: each Execute message of the extended
// protocol and each simple Query, except pgx's liveness ping. It also
// counts the round trips that execute something: each Sync after an
// Execute, and each simple Query (not the Sync after preparing a
// statement, which happens on a connection's first use of it).
type statementCounter struct {
	ln     net.Listener
	target string
	n      atomic.Int64
	trips  atomic.Int64
	wg     sync.WaitGroup
}

// startStatementCounter proxies to the server of databaseURL and returns
// the counter and the URL that goes through it.
func startStatementCounter(t *testing.T, databaseURL string) (*statementCounter, string) {
	t.Helper()
	u, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &statementCounter{ln: ln, target: u.Host}
	go c.serve()
	t.Cleanup(func() { ln.Close(); c.wg.Wait() })
	u.Host = ln.Addr().String()
	return c, u.String()
}

func (c *statementCounter) serve() {
	for {
		client, err := c.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", c.target)
		if err != nil {
			client.Close()
			continue
		}
		c.wg.Add(2)
		go func() {
			defer c.wg.Done()
			io.Copy(client, server)
			client.Close()
		}()
		go func() {
			defer c.wg.Done()
			c.forward(server, client)
			server.Close()
		}()
	}
}

// forward copies the client's messages to the server, counting statements
// before passing them on, so a count read after a response includes every
// statement that produced it.
func (c *statementCounter) forward(server io.Writer, client io.Reader) {
	r := bufio.NewReader(client)
	var hdr [5]byte
	// Untyped messages first: an SSL or GSS encryption request (refused
	// with sslmode=disable), then the startup message.
	for {
		if _, err := io.ReadFull(r, hdr[:4]); err != nil {
			return
		}
		msg := make([]byte, binary.BigEndian.Uint32(hdr[:4])-4)
		if _, err := io.ReadFull(r, msg); err != nil {
			return
		}
		if _, err := server.Write(append(hdr[:4:4], msg...)); err != nil {
			return
		}
		if code := binary.BigEndian.Uint32(msg[:4]); code != 80877103 && code != 80877104 {
			break
		}
	}
	executed := false
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		msg := make([]byte, binary.BigEndian.Uint32(hdr[1:])-4)
		if _, err := io.ReadFull(r, msg); err != nil {
			return
		}
		switch hdr[0] {
		case 'E':
			c.n.Add(1)
			executed = true
		case 'S':
			if executed {
				c.trips.Add(1)
			}
			executed = false
		case 'Q':
			if string(msg) != "-- ping\x00" {
				c.n.Add(1)
				c.trips.Add(1)
			}
		}
		if _, err := server.Write(append(hdr[:], msg...)); err != nil {
			return
		}
	}
}

// TestListArticlesIsOneStatement proves there is no query per listed
// article: a page of 20 articles (with tags, favorites, follows and a
// viewer) costs the server exactly as many statements as a page of 1, and
// that is one, besides the token check every authenticated request makes,
// which travels in the same round trip. A favorite or an unfavorite is one
// round trip too: the check, the write and the read of the article; so is
// creating an article.
func TestListArticlesIsOneStatement(t *testing.T) {
	databaseURL := pgtest.NewDatabase(t)
	counter, proxied := startStatementCounter(t, databaseURL)
	a := apptest.StartEnv(t, apptest.Env(proxied))
	ctx := context.Background()
	jake := register(t, a, "jake")
	bob := register(t, a, "bob")
	for i := range 20 {
		art := createArticle(t, a, bob.Token, fmt.Sprintf("Article %d", i), "go", fmt.Sprintf("tag%d", i))
		if resp, err := a.Client.CreateArticleFavoriteWithResponse(ctx, art.Slug, withToken(jake.Token)); err != nil || resp.StatusCode() != http.StatusOK {
			t.Fatalf("favorite: %v", err)
		}
	}
	if resp, err := a.Client.FollowUserByUsernameWithResponse(ctx, "bob", withToken(jake.Token)); err != nil || resp.StatusCode() != http.StatusOK {
		t.Fatalf("follow: %v", err)
	}

	statements := func(list func() int) (n, trips int64) {
		t.Helper()
		before, tripsBefore := counter.n.Load(), counter.trips.Load()
		if got := list(); got != 20 && got != 1 {
			t.Fatalf("page of %d articles", got)
		}
		return counter.n.Load() - before, counter.trips.Load() - tripsBefore
	}
	list := func(limit int32, params api.GetArticlesParams) func() int {
		return func() int {
			params.Limit = &limit
			page, _ := listArticles(t, a, params, withToken(jake.Token))
			return len(page.Articles)
		}
	}
	feed := func(limit int32) func() int {
		return func() int {
			resp, err := a.Client.GetArticlesFeedWithResponse(ctx, &api.GetArticlesFeedParams{Limit: &limit}, withToken(jake.Token))
			if err != nil || resp.JSON200 == nil {
				t.Fatalf("feed: %v", err)
			}
			return len(resp.JSON200.Articles)
		}
	}
	for name, c := range map[string]struct{ one, twenty func() int }{
		"list":     {list(1, api.GetArticlesParams{}), list(20, api.GetArticlesParams{})},
		"filtered": {list(1, api.GetArticlesParams{Tag: ptr("go"), Favorited: ptr("jake")}), list(20, api.GetArticlesParams{Tag: ptr("go"), Favorited: ptr("jake")})},
		"feed":     {feed(1), feed(20)},
	} {
		// Each request is authenticated: one statement checks the token
		// (a primary-key lookup), one answers the page.
		one, oneTrips := statements(c.one)
		twenty, twentyTrips := statements(c.twenty)
		if one != 2 || twenty != 2 {
			t.Errorf("%s: %d statements for 1 article, %d for 20; want 2 and 2 (token check and page)", name, one, twenty)
		}
		if oneTrips != 1 || twentyTrips != 1 {
			t.Errorf("%s: %d round trips for 1 article, %d for 20; want 1 and 1", name, oneTrips, twentyTrips)
		}
	}
	slug := createArticle(t, a, bob.Token, "Favorite me").Slug
	for _, add := range []bool{true, false, true, false} {
		n, trips := statements(func() int {
			var status int
			if add {
				resp, err := a.Client.CreateArticleFavoriteWithResponse(ctx, slug, withToken(jake.Token))
				if err != nil || resp.JSON200 == nil || !resp.JSON200.Article.Favorited {
					t.Fatalf("favorite: %v", err)
				}
				status = resp.StatusCode()
			} else {
				resp, err := a.Client.DeleteArticleFavoriteWithResponse(ctx, slug, withToken(jake.Token))
				if err != nil || resp.JSON200 == nil || resp.JSON200.Article.Favorited {
					t.Fatalf("unfavorite: %v", err)
				}
				status = resp.StatusCode()
			}
			return map[bool]int{true: 1}[status == http.StatusOK]
		})
		if n != 3 || trips != 1 {
			t.Errorf("favorite %v: %d statements in %d round trips; want 3 (token check, write, read) in 1", add, n, trips)
		}
	}
	// Creating an article holds the counters' row locks (the total, its
	// tags') until it commits: it must not wait on the client in between.
	for i, tags := range [][]string{{"go", "one-trip"}, nil} {
		n, trips := statements(func() int {
			createArticle(t, a, bob.Token, fmt.Sprintf("One trip %d", i), tags...)
			return 1
		})
		want := map[bool]int64{true: 5, false: 3}[len(tags) > 0]
		if n != want || trips != 1 {
			t.Errorf("create with tags %q: %d statements in %d round trips; want %d (token check, insert, [tags, links,] read) in 1", tags, n, trips, want)
		}
	}
}

// seedArticles fills the database at databaseURL with users, articles,
// tags, favorites and follows, as generate_series makes them.
func seedArticles(b *testing.B, databaseURL string, articles int) {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, fmt.Sprintf(`
		INSERT INTO users (username, email, password_hash)
		SELECT 'user' || g, 'user' || g || '@example.com', 'x' FROM generate_series(1, 200) g;
		INSERT INTO articles (slug, author_id, title, description, body, created_at, updated_at)
		SELECT 'article-' || g, 1 + g %% 200, 'Article ' || g, 'About article ' || g, repeat('Body. ', 100),
		       now() - g * interval '1 minute', now() - g * interval '1 minute'
		FROM generate_series(1, %d) g;
		INSERT INTO tags (name) SELECT 'tag' || g FROM generate_series(1, 50) g;
		INSERT INTO article_tags (article_id, tag_id, position)
		SELECT a.id, t.id, t.id FROM articles a JOIN tags t ON t.id <= 1 + a.id %% 4 OR t.id = 5 + a.id %% 45;
		INSERT INTO favorites (user_id, article_id)
		SELECT u.id, a.id FROM users u JOIN articles a ON (a.id + u.id) %% 50 = 0;
		UPDATE articles a SET favorites_count = (SELECT count(*) FROM favorites f WHERE f.article_id = a.id);
		INSERT INTO follows (follower_id, followee_id)
		SELECT u.id, f.id FROM users u JOIN users f ON f.id <> u.id AND (f.id + u.id) %% 10 = 0;
		ANALYZE;`, articles))
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkListArticles measures GET /api/articles (a page of 20 with a
// viewer) through HTTP against 10,000 seeded articles. It reports
// requests per second; it asserts nothing about time.
func BenchmarkListArticles(b *testing.B) {
	databaseURL := pgtest.NewDatabase(b)
	seedArticles(b, databaseURL, 10_000)
	a := apptest.StartEnv(b, apptest.Env(databaseURL))
	token, err := auth.NewTokens([]byte(apptest.TestJWTSecret), time.Hour).Issue(1)
	if err != nil {
		b.Fatal(err)
	}
	// A plain client: the contract check of a.Client would be most of what
	// is measured.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	for name, query := range map[string]string{
		"all":       "",
		"tag":       "?tag=tag7",
		"author":    "?author=user3",
		"favorited": "?favorited=user3",
		"feed":      "feed",
	} {
		b.Run(name, func(b *testing.B) {
			u := a.URL + "/api/articles" + query
			if query == "feed" {
				u = a.URL + "/api/articles/feed"
			}
			get := func() error {
				req, _ := http.NewRequest(http.MethodGet, u, nil)
				req.Header.Set("Authorization", "Token "+token)
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("status %d", resp.StatusCode)
				}
				return nil
			}
			if err := get(); err != nil {
				b.Fatal(err)
			}
			var failed atomic.Pointer[error]
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := get(); err != nil {
						failed.CompareAndSwap(nil, &err)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			if err := failed.Load(); err != nil && !errors.Is(*err, context.Canceled) {
				b.Fatal(*err)
			}
		})
	}
}
