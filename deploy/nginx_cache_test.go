package deploy_test

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sophsapp/sophsapp/internal/apptest"
)

// TestNginxKeepsAnonymousReads checks the shipped site's one-second cache
// of anonymous public reads in front of the real app: which answers it
// keeps, that a signed-in reader always reaches the app and sees a write at
// once, that an anonymous reader sees it within the cache's lifetime, and
// that a kept answer still gets its own request id and the CORS headers of
// its own origin.
func TestNginxKeepsAnonymousReads(t *testing.T) {
	const originA, originB = "https://a.example.test", "https://b.example.test"
	a := apptest.Start(t, map[string]string{"CORS_ALLOWED_ORIGINS": originA + "," + originB})
	p := startNginx(t, strings.TrimPrefix(a.URL, "http://"))

	// The writer works on the app directly; the readers go through Nginx.
	send := func(method, path, token, body string) []byte {
		t.Helper()
		h := map[string]string{"Content-Type": "application/json"}
		if token != "" {
			h["Authorization"] = "Token " + token
		}
		resp, b := a.Send(t, method, path, h, strings.NewReader(body))
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		return b
	}
	var u struct {
		User struct{ Token, Username string }
	}
	if err := json.Unmarshal(send("POST", "/api/users", "", `{"user":{"username":"cached","email":"cached@example.test","password":"cached-password-1"}}`), &u); err != nil {
		t.Fatal(err)
	}
	token := u.User.Token
	var art struct{ Article struct{ Slug string } }
	if err := json.Unmarshal(send("POST", "/api/articles", token, `{"article":{"title":"Kept","description":"d","body":"b","tagList":["first"]}}`), &art); err != nil {
		t.Fatal(err)
	}
	slug := art.Article.Slug
	send("POST", "/api/articles/"+slug+"/comments", token, `{"comment":{"body":"hello"}}`)

	n := 0
	// get sends a request through Nginx from its own client address (each
	// address has its own rate limit) and returns the answer and the
	// request's id.
	get := func(method, path string, header map[string]string) (response, string) {
		t.Helper()
		n++
		id := fmt.Sprintf("kept-%d", n)
		h := map[string]string{"X-Request-ID": id}
		for k, v := range header {
			h[k] = v
		}
		r := do(t, p.client(fmt.Sprintf("127.0.%d.%d", 1+n/200, 1+n%200), false), method, p.httpsURL(path), nil, h)
		if ids := r.Header.Values("X-Request-ID"); len(ids) != 1 || ids[0] != id {
			t.Errorf("%s %s: X-Request-ID %q, want exactly [%s]", method, path, ids, id)
		}
		return r, id
	}
	// cache is the cache status Nginx logged for a request.
	cache := func(id string) string {
		t.Helper()
		s, _ := p.accessLogLine(t, id)["cache"].(string)
		return s
	}
	reached := func(id string) bool {
		for _, l := range a.LogLines() {
			if l["request_id"] == id {
				return true
			}
		}
		return false
	}

	t.Run("public reads are kept", func(t *testing.T) {
		paths := []string{"/api/tags", "/api/articles?limit=5", "/api/articles?tag=first", "/api/articles/" + slug,
			"/api/articles/" + slug + "/comments", "/api/profiles/" + u.User.Username}
		var ids [][2]string
		for _, path := range paths {
			first, id1 := get("GET", path, nil)
			second, id2 := get("GET", path, nil)
			if first.StatusCode != http.StatusOK || second.StatusCode != http.StatusOK || string(first.body) != string(second.body) {
				t.Errorf("%s: %d %s, then %d %s", path, first.StatusCode, first.body, second.StatusCode, second.body)
			}
			ids = append(ids, [2]string{id1, id2})
		}
		for i, id := range ids {
			if s1, s2 := cache(id[0]), cache(id[1]); s1 != "MISS" || s2 != "HIT" {
				t.Errorf("%s: cache %q then %q, want MISS then HIT", paths[i], s1, s2)
			}
			assertNotProxied(t, a, id[1])
		}
	})

	t.Run("everything else reaches the app", func(t *testing.T) {
		for _, c := range []struct {
			method, path, token string
		}{
			{"GET", "/api/tags", token},             // signed in
			{"GET", "/api/articles?limit=5", token}, // signed in: favorited, following
			{"GET", "/api/tags", "not-a-token"},
			{"GET", "/api/user", ""},
			{"GET", "/api/articles/feed", ""},
			{"GET", "/api/articles/no-such-article", ""}, // only 200s are kept
			{"GET", "/api/openapi.json", ""},             // not a public read
			{"GET", "/api/tags/", ""},
			{"HEAD", "/api/tags", ""}, // passed on as a HEAD
			{"OPTIONS", "/api/tags", ""},
		} {
			h := map[string]string{}
			if c.token != "" {
				h["Authorization"] = "Token " + c.token
			}
			req, _ := http.NewRequest(c.method, a.URL+c.path, nil)
			for k, v := range h {
				req.Header.Set(k, v)
			}
			direct, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			direct.Body.Close()
			for range 2 {
				r, id := get(c.method, c.path, h)
				if r.StatusCode != direct.StatusCode {
					t.Errorf("%s %s: %d through Nginx, %d direct", c.method, c.path, r.StatusCode, direct.StatusCode)
				}
				apptest.WaitFor(t, fmt.Sprintf("%s %s (token %q) in the app's log", c.method, c.path, c.token), func() bool { return reached(id) })
			}
		}
	})

	t.Run("a signed-in answer never reaches an anonymous reader", func(t *testing.T) {
		send("POST", "/api/articles/"+slug+"/favorite", token, "")
		favorited := func(body []byte) bool { return strings.Contains(string(body), `"favorited":true`) }
		signedIn := map[string]string{"Authorization": "Token " + token}
		// Anonymous first (kept), then signed in, then anonymous again.
		for i, h := range []map[string]string{nil, signedIn, nil, signedIn} {
			r, _ := get("GET", "/api/articles?limit=3", h)
			if r.StatusCode != http.StatusOK || favorited(r.body) != (h != nil) {
				t.Errorf("request %d (signed in: %v): %d %s", i, h != nil, r.StatusCode, r.body)
			}
		}
		// Two Authorization headers, one of them empty: refused by Nginx,
		// never taken for an anonymous request.
		for _, hs := range [][2]string{{"", "Token " + token}, {"Token " + token, ""}} {
			c, err := tls.Dial("tcp", p.httpsAddr, &tls.Config{RootCAs: p.roots, ServerName: testServerName})
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(c, "GET /api/articles?limit=3 HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nAuthorization: %s\r\nConnection: close\r\n\r\n", testServerName, hs[0], hs[1])
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			c.Close()
			if resp.StatusCode != http.StatusBadRequest || favorited(body) {
				t.Errorf("two Authorization headers: %d %s", resp.StatusCode, body)
			}
		}
	})

	t.Run("each origin gets its own CORS headers", func(t *testing.T) {
		for _, origin := range []string{originA, originA, originB, "", originB, ""} {
			var h map[string]string
			if origin != "" {
				h = map[string]string{"Origin": origin}
			}
			r, _ := get("GET", "/api/tags?cors", h)
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != origin {
				t.Errorf("Origin %q: Access-Control-Allow-Origin %q", origin, got)
			}
		}
	})

	t.Run("a write shows at once signed in, and within the cache's lifetime anonymously", func(t *testing.T) {
		has := func(body []byte, tag string) bool {
			var tags struct{ Tags []string }
			if err := json.Unmarshal(body, &tags); err != nil {
				t.Fatalf("tags: %v: %s", err, body)
			}
			return slices.Contains(tags.Tags, tag)
		}
		if r, _ := get("GET", "/api/tags", nil); !has(r.body, "first") {
			t.Fatalf("tags %s", r.body)
		}
		send("POST", "/api/articles", token, `{"article":{"title":"Later","description":"d","body":"b","tagList":["second"]}}`)
		written := time.Now()
		if r, _ := get("GET", "/api/tags", map[string]string{"Authorization": "Token " + token}); !has(r.body, "second") {
			t.Errorf("signed in, right after the write: %s", r.body)
		}
		// Nginx counts whole seconds: an answer kept for "1s" is served
		// for up to two.
		for {
			r, _ := get("GET", "/api/tags", nil)
			if has(r.body, "second") {
				t.Logf("anonymous readers saw the write after %v", time.Since(written).Round(time.Millisecond))
				break
			}
			if time.Since(written) > 5*time.Second {
				t.Fatalf("anonymous readers still get the tags from before the write %v later: %s", time.Since(written), r.body)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}
