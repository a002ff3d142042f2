package httpapi_test

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/internal/apptest"
	"github.com/sophsapp/sophsapp/internal/pgtest"
)

// pgbouncerModes are the pgx query modes that work behind a
// transaction-pooling PgBouncer, the one README recommends first.
var pgbouncerModes = []string{"cache_describe", "exec", "simple_protocol"}

// withQueryMode adds pgx's default_query_exec_mode to a connection URL.
func withQueryMode(url, mode string) string {
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "default_query_exec_mode=" + mode
}

// TestThroughPgBouncer runs the API's main paths (register, log in, write,
// upload, follow, list, feed, favorite, comment) from several users at once across
// two instances that share one PgBouncer in transaction pooling mode with
// two server connections, in each query mode that suits it: every
// transaction may land on a server connection another client used last,
// so any session state the service relied on would show up as errors or
// wrong answers (pgx's default mode fails at the first registrations).
// Both instances migrate at start, directly against PostgreSQL
// (DATABASE_MIGRATE_URL).
func TestThroughPgBouncer(t *testing.T) {
	for _, mode := range pgbouncerModes {
		t.Run(mode, func(t *testing.T) { mainPathsThroughPgBouncer(t, mode) })
	}
}

func mainPathsThroughPgBouncer(t *testing.T, mode string) {
	direct := pgtest.NewDatabase(t)
	bouncer := pgtest.StartPgBouncer(t, direct, pgtest.PgBouncerOptions{PoolSize: 2})
	env := apptest.Env(withQueryMode(bouncer.URL(direct), mode))
	env["MIGRATE_ON_START"] = "true"
	env["DATABASE_MIGRATE_URL"] = direct
	apps := []*apptest.App{apptest.StartEnv(t, env), apptest.StartEnv(t, maps.Clone(env))}
	// Notifications do not pass a transaction-pooling PgBouncer: each
	// instance listens through DATABASE_MIGRATE_URL.
	for _, a := range apps {
		listening(t, a)
		tagsInUse(t, a) // kept: the creates below must drop it
	}
	const users = 8
	name := func(i int) string { return fmt.Sprintf("pooled%d", i%users) }
	// Each user alternates between the instances from one call to the next.
	on := func(i, step int) *api.ClientWithResponses { return apps[(i+step)%2].Client }
	ctx := context.Background()

	tokens := make([]string, users)
	slugs := make([]string, users)
	parallel(t, users, func(i int) error {
		reg, err := on(i, 0).CreateUserWithResponse(ctx, api.CreateUserJSONRequestBody{User: api.NewUser{
			Username: name(i), Email: name(i) + "@example.com", Password: "password-" + name(i),
		}})
		if err := expect(reg, err, http.StatusCreated); err != nil {
			return fmt.Errorf("register: %w", err)
		}
		login, err := on(i, 1).LoginWithResponse(ctx, api.LoginJSONRequestBody{User: api.LoginUser{
			Email: name(i) + "@example.com", Password: "password-" + name(i),
		}})
		if err := expect(login, err, http.StatusOK); err != nil {
			return fmt.Errorf("login: %w", err)
		}
		tokens[i] = login.JSON200.User.Token
		tags := []string{"pooled", name(i)}
		art, err := on(i, 2).CreateArticleWithResponse(ctx, api.CreateArticleJSONRequestBody{Article: api.NewArticle{
			Title: "Pooled by " + name(i), Description: "d", Body: "b", TagList: &tags,
		}}, withToken(tokens[i]))
		if err := expect(art, err, http.StatusCreated); err != nil {
			return fmt.Errorf("create article: %w", err)
		}
		slugs[i] = art.JSON201.Article.Slug
		// An upload is written in chunks in one transaction and read back
		// a chunk at a time, anonymously, by the other instance.
		file := apptest.File{Magic: apptest.PNG, Size: 600 << 10, Seed: uint64(i)}
		up, err := on(i, 3).CreateUploadWithBodyWithResponse(ctx, "application/octet-stream", file.Reader(), withToken(tokens[i]))
		if err := expect(up, err, http.StatusCreated); err != nil {
			return fmt.Errorf("upload: %w", err)
		}
		got, err := apps[i%2].HTTP.Get(apps[i%2].URL + up.JSON201.Upload.Url)
		if err != nil {
			return err
		}
		defer got.Body.Close()
		h := sha256.New()
		if _, err := io.Copy(h, got.Body); err != nil || got.StatusCode != http.StatusOK || hex.EncodeToString(h.Sum(nil)) != file.SHA256() {
			return fmt.Errorf("download of the upload: %d, %v, not the bytes sent", got.StatusCode, err)
		}
		return nil
	})

	// Each user follows, favorites and comments on the next one's article,
	// then reads lists and the feed several times over.
	parallel(t, users, func(i int) error {
		next := (i + 1) % users
		tok := withToken(tokens[i])
		follow, err := on(i, 0).FollowUserByUsernameWithResponse(ctx, name(next), tok)
		if err := expect(follow, err, http.StatusOK); err != nil {
			return fmt.Errorf("follow: %w", err)
		}
		fav, err := on(i, 1).CreateArticleFavoriteWithResponse(ctx, slugs[next], tok)
		if err := expect(fav, err, http.StatusOK); err != nil {
			return fmt.Errorf("favorite: %w", err)
		}
		com, err := on(i, 0).CreateArticleCommentWithResponse(ctx, slugs[next],
			api.CreateArticleCommentJSONRequestBody{Comment: api.NewComment{Body: "from " + name(i)}}, tok)
		if err := expect(com, err, http.StatusOK); err != nil {
			return fmt.Errorf("comment: %w", err)
		}
		for round := range 5 {
			feed, err := on(i, round).GetArticlesFeedWithResponse(ctx, &api.GetArticlesFeedParams{}, tok)
			if err := expect(feed, err, http.StatusOK); err != nil {
				return fmt.Errorf("feed: %w", err)
			}
			if got := feed.JSON200.Articles; len(got) != 1 || got[0].Slug != slugs[next] || !got[0].Author.Following {
				return fmt.Errorf("feed of %s: %s", name(i), feed.Body)
			}
			list, err := on(i, round+1).GetArticlesWithResponse(ctx, &api.GetArticlesParams{}, tok)
			if err := expect(list, err, http.StatusOK); err != nil {
				return fmt.Errorf("list: %w", err)
			}
			if list.JSON200.ArticlesCount != users {
				return fmt.Errorf("list counts %d articles, want %d", list.JSON200.ArticlesCount, users)
			}
			tag := name(next)
			byTag, err := on(i, round).GetArticlesWithResponse(ctx, &api.GetArticlesParams{Tag: &tag})
			if err := expect(byTag, err, http.StatusOK); err != nil {
				return fmt.Errorf("list by tag: %w", err)
			}
			if got := byTag.JSON200.Articles; len(got) != 1 || got[0].Slug != slugs[next] {
				return fmt.Errorf("articles tagged %s: %s", tag, byTag.Body)
			}
			art, err := on(i, round+1).GetArticleWithResponse(ctx, slugs[next], tok)
			if err := expect(art, err, http.StatusOK); err != nil {
				return fmt.Errorf("get article: %w", err)
			}
			if !art.JSON200.Article.Favorited {
				return fmt.Errorf("%s does not see its favorite: %s", name(i), art.Body)
			}
		}
		return nil
	})

	// Every article got one favorite and one comment, whichever instance
	// and server connection wrote them.
	for i := range users {
		art, err := on(i, 0).GetArticleWithResponse(ctx, slugs[i])
		if err := expect(art, err, http.StatusOK); err != nil {
			t.Fatal(err)
		}
		coms, err := on(i, 1).GetArticleCommentsWithResponse(ctx, slugs[i])
		if err := expect(coms, err, http.StatusOK); err != nil {
			t.Fatal(err)
		}
		if art.JSON200.Article.FavoritesCount != 1 || len(coms.JSON200.Comments) != 1 {
			t.Errorf("%s: %d favorites, %d comments; want 1 and 1", slugs[i], art.JSON200.Article.FavoritesCount, len(coms.JSON200.Comments))
		}
	}
	// Each instance's tag list shows every instance's creates.
	wantTags := []string{"pooled"}
	for i := range users {
		wantTags = append(wantTags, name(i))
	}
	for _, a := range apps {
		eventuallyTags(t, a, wantTags...)
	}
	if t.Failed() {
		t.Logf("pgbouncer log:\n%s", bouncer.Log())
	}
}

// response is what every generated *Response has.
type response interface{ StatusCode() int }

// expect checks a generated client call: no error and the wanted status.
func expect(resp response, err error, want int) error {
	if err != nil {
		return err
	}
	if got := resp.StatusCode(); got != want {
		body := reflect.ValueOf(resp).Elem().FieldByName("Body").Bytes()
		return fmt.Errorf("status %d, want %d: %s", got, want, body)
	}
	return nil
}

// parallel runs fn(0) … fn(n-1) at once and fails t with every error.
func parallel(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkQueryModes measures a page of the article list and a single
// article, anonymous, over HTTP against 1,000 seeded articles, with pgx's
// default mode on a direct connection and with each mode that works behind
// a transaction-pooling PgBouncer, directly and through one. Each of b.N
// rounds sends a batch of requests to every target in turn, so that all
// of them see the same machine (a shared one varies a lot from minute to
// minute); it logs requests per second and the median and 99th percentile
// latency of each. It asserts nothing about time. Run it with
//
//	go test -run '^$' -bench QueryModes -benchtime 10x -v ./internal/httpapi/
func BenchmarkQueryModes(b *testing.B) {
	direct := pgtest.NewDatabase(b)
	seedArticles(b, direct, 1_000)
	bouncer := pgtest.StartPgBouncer(b, direct, pgtest.PgBouncerOptions{PoolSize: 8})
	type series struct {
		name, url string
		took      []time.Duration
		busy      time.Duration // wall time of its batches
	}
	var all []*series
	add := func(target, url string) {
		a := apptest.StartEnv(b, apptest.Env(url))
		all = append(all,
			&series{name: target + " list", url: a.URL + "/api/articles"},
			&series{name: target + " show", url: a.URL + "/api/articles/article-7"})
	}
	add("direct cache_statement (default)", direct)
	for _, mode := range pgbouncerModes {
		add("direct "+mode, withQueryMode(direct, mode))
		add("pgbouncer "+mode, withQueryMode(bouncer.URL(direct), mode))
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	get := func(u string) error {
		resp, err := client.Get(u)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
		}
		return nil
	}
	const workers, batch = 8, 200
	b.ResetTimer()
	for range b.N {
		for _, s := range all {
			var mu sync.Mutex
			var failed error
			var wg sync.WaitGroup
			start := time.Now()
			for range workers {
				wg.Go(func() {
					mine := make([]time.Duration, 0, batch/workers)
					var err error
					for range batch / workers {
						t0 := time.Now()
						err = cmp.Or(err, get(s.url))
						mine = append(mine, time.Since(t0))
					}
					mu.Lock()
					s.took = append(s.took, mine...)
					failed = cmp.Or(failed, err)
					mu.Unlock()
				})
			}
			wg.Wait()
			s.busy += time.Since(start)
			if failed != nil {
				b.Fatalf("%s: %v", s.name, failed)
			}
		}
	}
	b.StopTimer()
	var out strings.Builder
	fmt.Fprintf(&out, "%d rounds of %d requests each, %d at a time\n%-42s %9s %9s %9s\n", b.N, batch, workers, "target", "req/s", "p50 ms", "p99 ms")
	for _, s := range all {
		slices.Sort(s.took)
		fmt.Fprintf(&out, "%-42s %9.0f %9.2f %9.2f\n", s.name, float64(len(s.took))/s.busy.Seconds(),
			float64(s.took[len(s.took)/2].Microseconds())/1000, float64(s.took[len(s.took)*99/100].Microseconds())/1000)
	}
	b.Log("\n" + out.String())
	b.ReportMetric(0, "ns/op")
}
