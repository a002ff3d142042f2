package deploy_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/sophsapp/sophsapp/internal/apptest"
)

// TestNginxForBrowsers checks, through the shipped site, what a browser
// frontend on another origin depends on: preflights and CORS headers pass
// through from the app unchanged, errors Nginx produces itself are readable
// cross-origin, and the API reference is served compressed with its CSP.
func TestNginxForBrowsers(t *testing.T) {
	const origin = "https://app.example.test"
	a := apptest.Start(t, map[string]string{"CORS_ALLOWED_ORIGINS": origin})
	p := startNginx(t, strings.TrimPrefix(a.URL, "http://"))

	one := func(t *testing.T, r response, name, want string) {
		t.Helper()
		if got := r.Header.Values(name); len(got) != 1 || want != "" && got[0] != want {
			t.Errorf("%s %s → %d: %s %q, want exactly one %q", r.Request.Method, r.Request.URL.Path, r.StatusCode, name, got, want)
		}
	}

	t.Run("preflight passes through", func(t *testing.T) {
		for _, h2 := range []bool{false, true} {
			c := p.client("127.0.0.30", h2)
			r := do(t, c, "OPTIONS", p.httpsURL("/api/articles/"), nil, map[string]string{
				"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type,x-request-id",
			})
			if r.StatusCode != http.StatusNoContent {
				t.Fatalf("preflight: %d %s", r.StatusCode, r.body)
			}
			one(t, r, "Access-Control-Allow-Origin", origin)
			one(t, r, "Access-Control-Allow-Methods", "POST")
			one(t, r, "Access-Control-Allow-Headers", "authorization,content-type,x-request-id")
			one(t, r, "Access-Control-Max-Age", "7200")
			one(t, r, "Strict-Transport-Security", "max-age=63072000")
			r = do(t, c, "OPTIONS", p.httpsURL("/api/articles"), nil, map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
				t.Errorf("preflight from a disallowed origin: Access-Control-Allow-Origin %q", got)
			}
		}
	})

	t.Run("app answers carry the app's CORS headers once", func(t *testing.T) {
		c := p.client("127.0.0.31", false)
		for _, path := range []string{"/api/tags", "/api/user", "/api/nope"} {
			r := do(t, c, "GET", p.httpsURL(path), nil, map[string]string{"Origin": origin})
			one(t, r, "Access-Control-Allow-Origin", origin)
			one(t, r, "X-Request-ID", "")
			if !strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "X-Request-Id") {
				t.Errorf("GET %s: Access-Control-Expose-Headers %q", path, r.Header.Get("Access-Control-Expose-Headers"))
			}
		}
	})

	// What Nginx answers by itself: readable from any origin, in JSON, with
	// the usual headers; Retry-After where a retry helps.
	nginxError := func(t *testing.T, r response, status int, retryAfter string) {
		t.Helper()
		wantJSONError(t, r, status)
		one(t, r, "Access-Control-Allow-Origin", "*")
		one(t, r, "Strict-Transport-Security", "max-age=63072000")
		one(t, r, "X-Request-ID", "")
		if got := r.Header.Get("Access-Control-Expose-Headers"); !strings.Contains(got, "X-Request-ID") || !strings.Contains(got, "Retry-After") {
			t.Errorf("%d: Access-Control-Expose-Headers %q", status, got)
		}
		if got := r.Header.Get("Retry-After"); got != retryAfter {
			t.Errorf("%d: Retry-After %q, want %q", status, got, retryAfter)
		}
	}

	t.Run("Nginx's own errors are readable cross-origin", func(t *testing.T) {
		c := p.client("127.0.0.32", false)
		nginxError(t, do(t, c, "GET", p.httpsURL("/not-the-api"), nil, map[string]string{"Origin": origin}), http.StatusNotFound, "")
		big := &sizedReader{io.LimitReader(zeros{}, maxBody+1<<20), maxBody + 1<<20}
		nginxError(t, do(t, c, "POST", p.httpsURL("/api/users"), big, map[string]string{"Origin": origin, "Content-Type": "application/json"}), http.StatusRequestEntityTooLarge, "")

		burst := p.client("127.0.0.33", true)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var limited []response
		for range 60 {
			wg.Go(func() {
				req, _ := http.NewRequest("GET", p.httpsURL("/api/tags"), nil)
				req.Host = testServerName
				req.Header.Set("Origin", origin)
				resp, err := burst.Do(req)
				if err != nil {
					return
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode == http.StatusTooManyRequests {
					mu.Lock()
					limited = append(limited, response{resp, b})
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(limited) == 0 {
			t.Fatal("60 requests at once were not rate limited")
		}
		nginxError(t, limited[0], http.StatusTooManyRequests, "1")
	})

	t.Run("API reference through Nginx", func(t *testing.T) {
		c := p.client("127.0.0.34", false)
		r := do(t, c, "GET", p.httpsURL("/api/docs"), nil, nil)
		if r.StatusCode != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("/api/docs: %d %q", r.StatusCode, r.Header.Get("Content-Type"))
		}
		if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("/api/docs: CSP %q", csp)
		}
		one(t, r, "Strict-Transport-Security", "max-age=63072000")
		for _, path := range []string{"/api/docs/swagger-ui/swagger-ui-bundle.js", "/api/docs/swagger-ui/swagger-ui.css", "/api/openapi.json", "/api/openapi.yaml"} {
			r := do(t, c, "GET", p.httpsURL(path), nil, map[string]string{"Accept-Encoding": "gzip"})
			if r.StatusCode != http.StatusOK || r.Header.Get("Content-Encoding") != "gzip" {
				t.Errorf("%s: %d, Content-Encoding %q: want it gzipped", path, r.StatusCode, r.Header.Get("Content-Encoding"))
			}
			etag := r.Header.Get("ETag")
			r = do(t, c, "GET", p.httpsURL(path), nil, map[string]string{"Accept-Encoding": "gzip", "If-None-Match": etag})
			if r.StatusCode != http.StatusNotModified {
				t.Errorf("%s with If-None-Match %s: %d", path, etag, r.StatusCode)
			}
		}
	})

	t.Run("upload with a trailing slash takes the upload route", func(t *testing.T) {
		c := p.client("127.0.0.36", false)
		reg := do(t, c, "POST", p.httpsURL("/api/users/"), strings.NewReader(`{"user":{"username":"slash","email":"slash@example.com","password":"password-slash"}}`),
			map[string]string{"Content-Type": "application/json"})
		var u struct{ User struct{ Token string } }
		if reg.StatusCode != http.StatusCreated || json.Unmarshal(reg.body, &u) != nil {
			t.Fatalf("register: %d %s", reg.StatusCode, reg.body)
		}
		// Larger than the JSON API's body limit, within the upload limit.
		f := apptest.File{Magic: apptest.PNG, Size: 3 << 20, Seed: 7}
		r := do(t, c, "POST", p.httpsURL("/api/uploads/"), &sizedReader{f.Reader(), f.Size},
			map[string]string{"Content-Type": "image/png", "Authorization": "Token " + u.User.Token, "Origin": origin})
		if r.StatusCode != http.StatusCreated {
			t.Fatalf("POST /api/uploads/ with 3 MiB: %d %.300s", r.StatusCode, r.body)
		}
		one(t, r, "Access-Control-Allow-Origin", origin)
		if !strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "Location") || r.Header.Get("Location") == "" {
			t.Errorf("Location %q not exposed: %q", r.Header.Get("Location"), r.Header.Get("Access-Control-Expose-Headers"))
		}
	})

	// Last: stops the app.
	t.Run("502 is readable cross-origin", func(t *testing.T) {
		if err := a.Stop(); err != nil {
			t.Fatal(err)
		}
		// /api/user: an anonymous GET /api/tags could still be answered
		// from the site's one-second cache of public reads.
		nginxError(t, do(t, p.client("127.0.0.35", false), "GET", p.httpsURL("/api/user"), nil, map[string]string{"Origin": origin}), http.StatusBadGateway, "1")
	})
}
