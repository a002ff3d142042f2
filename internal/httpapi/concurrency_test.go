package httpapi_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"

	"github.com/sophsapp/sophsapp/gen/api"
)

// TestConcurrentWritesKeepCountsAndNeverFail runs writers in parallel on
// overlapping tags and articles: creates with tags in varying order, tag
// replacements, favorites and unfavorites, deletes. No request may fail
// with a 5xx (a deadlock or serialization failure would), and afterwards
// every counter must match its recount.
func TestConcurrentWritesKeepCountsAndNeverFail(t *testing.T) {
	a, conn := startWithDB(t)
	users := []api.User{register(t, a, "ann"), register(t, a, "bob"), register(t, a, "cyd")}
	tagPool := []string{"go", "sql", "http", "ops", "test"}

	var mu sync.Mutex
	var slugs []string
	failures := map[string]int{}
	fail := func(what string, status int, body []byte) {
		mu.Lock()
		defer mu.Unlock()
		failures[fmt.Sprintf("%s: %d %.200s", what, status, body)]++
	}
	randomTags := func(r *rand.Rand) *[]string {
		tags := append([]string(nil), tagPool...)
		r.Shuffle(len(tags), func(i, j int) { tags[i], tags[j] = tags[j], tags[i] })
		tags = tags[:r.IntN(len(tags)+1)]
		return &tags
	}
	pick := func(r *rand.Rand) string {
		mu.Lock()
		defer mu.Unlock()
		if len(slugs) == 0 {
			return "none"
		}
		return slugs[r.IntN(len(slugs))]
	}

	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			u := users[w%len(users)]
			tok := withToken(u.Token)
			for i := range 30 { // at most 100 articles: checkCounts lists one page
				switch op := r.IntN(5); op {
				case 0, 1:
					resp, err := a.Client.CreateArticleWithResponse(ctx, api.CreateArticleJSONRequestBody{Article: api.NewArticle{
						Title: fmt.Sprintf("Shared title %d", i%3), Description: "d", Body: "b", TagList: randomTags(r),
					}}, tok)
					if err != nil || resp.StatusCode() != http.StatusCreated {
						fail("create", resp.StatusCode(), resp.Body)
						continue
					}
					mu.Lock()
					slugs = append(slugs, resp.JSON201.Article.Slug)
					mu.Unlock()
				case 2:
					resp, err := a.Client.UpdateArticleWithResponse(ctx, pick(r), api.UpdateArticleJSONRequestBody{Article: api.UpdateArticle{TagList: randomTags(r)}}, tok)
					if err != nil || resp.StatusCode() >= 500 {
						fail("update", resp.StatusCode(), resp.Body)
					}
				case 3:
					slug := pick(r)
					resp, err := a.Client.CreateArticleFavoriteWithResponse(ctx, slug, tok)
					if err != nil || resp.StatusCode() >= 500 {
						fail("favorite", resp.StatusCode(), resp.Body)
					}
					if r.IntN(2) == 0 {
						resp, err := a.Client.DeleteArticleFavoriteWithResponse(ctx, slug, tok)
						if err != nil || resp.StatusCode() >= 500 {
							fail("unfavorite", resp.StatusCode(), resp.Body)
						}
					}
				case 4:
					resp, err := a.Client.DeleteArticleWithResponse(ctx, pick(r), tok)
					if err != nil || resp.StatusCode() >= 500 {
						fail("delete", resp.StatusCode(), resp.Body)
					}
				}
			}
		}()
	}
	wg.Wait()
	for f, n := range failures {
		t.Errorf("%d× %s", n, f)
	}
	checkCounts(t, a, conn, "after concurrent writes")
}
