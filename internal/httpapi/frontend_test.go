package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/sophsapp/sophsapp"
	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/internal/apptest"
)

// request makes one request through the contract-checking client and returns
// the response with its body read.
func request(t *testing.T, a *apptest.App, method, path, body string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	if body == "" {
		return a.Send(t, method, path, header, nil)
	}
	h := map[string]string{"Content-Type": "application/json"}
	maps.Copy(h, header)
	return a.Send(t, method, path, h, strings.NewReader(body))
}

// sendBytes is send with a raw body; header sets its Content-Type.
func sendBytes(t *testing.T, a *apptest.App, method, path string, body []byte, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	return a.Send(t, method, path, header, bytes.NewReader(body))
}

// specOperation is one operation of api/openapi.yaml.
type specOperation struct {
	method, path, id string
}

// specOperations lists every operation of the spec, so that tests over
// "every route" follow the spec as it grows.
func specOperations(t *testing.T) []specOperation {
	t.Helper()
	spec, err := api.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	var ops []specOperation
	for p, item := range spec.Paths.Map() {
		for m, op := range item.Operations() {
			ops = append(ops, specOperation{method: m, path: p, id: op.OperationID})
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].path+ops[i].method < ops[j].path+ops[j].method })
	if len(ops) < 19 {
		t.Fatalf("the spec has %d operations, expected at least 19", len(ops))
	}
	return ops
}

// specMethods maps each spec path template to its methods.
func specMethods(t *testing.T) map[string][]string {
	m := map[string][]string{}
	for _, op := range specOperations(t) {
		m[op.path] = append(m[op.path], op.method)
	}
	return m
}

// fill replaces the path parameters of a spec path with real values.
func fill(path string, values map[string]string) string {
	for k, v := range values {
		path = strings.ReplaceAll(path, "{"+k+"}", v)
	}
	return path
}

func TestCORSPreflight(t *testing.T) {
	const app = "https://app.example.test"
	a := apptest.Start(t, map[string]string{"CORS_ALLOWED_ORIGINS": app + ",http://localhost:*"})

	preflight := func(origin, method, headers, path string) (*http.Response, []byte) {
		h := map[string]string{"Origin": origin, "Access-Control-Request-Method": method}
		if headers != "" {
			h["Access-Control-Request-Headers"] = headers
		}
		return request(t, a, http.MethodOptions, path, "", h)
	}

	// Answered before routing, auth and spec validation: a path with an
	// invalid parameter and an operation that needs a token both get 204.
	for _, c := range []struct{ method, path string }{
		{"POST", "/api/articles"},
		{"PUT", "/api/user"},
		{"DELETE", "/api/articles/some-slug/comments/not-a-number"},
		{"POST", "/api/articles/"},
	} {
		resp, body := preflight(app, c.method, "authorization,content-type,x-request-id", c.path)
		h := resp.Header
		if resp.StatusCode != http.StatusNoContent || len(body) != 0 {
			t.Errorf("preflight %s %s: %d %s", c.method, c.path, resp.StatusCode, body)
		}
		if got := h.Get("Access-Control-Allow-Origin"); got != app {
			t.Errorf("preflight %s %s: Access-Control-Allow-Origin %q", c.method, c.path, got)
		}
		if got := h.Get("Access-Control-Allow-Methods"); got != c.method {
			t.Errorf("preflight %s: Access-Control-Allow-Methods %q", c.method, got)
		}
		if got := strings.ToLower(h.Get("Access-Control-Allow-Headers")); got != "authorization,content-type,x-request-id" {
			t.Errorf("Access-Control-Allow-Headers %q", got)
		}
		if got := h.Get("Access-Control-Max-Age"); got != "7200" {
			t.Errorf("Access-Control-Max-Age %q", got)
		}
		if got := h.Get("Access-Control-Allow-Credentials"); got != "" {
			t.Errorf("Access-Control-Allow-Credentials %q: credentials must stay off", got)
		}
		if !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
			t.Errorf("preflight Vary %q", h.Values("Vary"))
		}
	}
	// Request headers in any case, order or spacing, or on several lines,
	// are the same request headers (browsers send them lowercase and
	// sorted; tools and proxies may not).
	for _, headers := range []string{"Content-Type, Authorization", "X-Request-ID,content-type,CONTENT-TYPE", " authorization "} {
		if resp, _ := preflight(app, "POST", headers, "/api/articles"); resp.Header.Get("Access-Control-Allow-Origin") != app {
			t.Errorf("preflight with Access-Control-Request-Headers %q refused", headers)
		}
	}
	// Every method the spec uses is allowed.
	for _, m := range []string{"GET", "POST", "PUT", "DELETE"} {
		if resp, _ := preflight("http://localhost:4200", m, "", "/api/articles"); resp.Header.Get("Access-Control-Allow-Methods") != m {
			t.Errorf("preflight %s refused", m)
		}
	}
	// Refused: another origin, a header the API does not take, a method it
	// does not use.
	for _, c := range []struct{ origin, method, headers string }{
		{"https://evil.example", "POST", "content-type"},
		{"https://app.example.test.evil.example", "POST", "content-type"},
		{"http://localhost:99999", "POST", "content-type"},
		{app, "POST", "content-type,x-custom"},
		{app, "PATCH", "content-type"},
	} {
		resp, _ := preflight(c.origin, c.method, c.headers, "/api/articles")
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("preflight from %s %s [%s] allowed: %q", c.origin, c.method, c.headers, got)
		}
	}

	// Actual requests: allowed origins can read answers, errors included,
	// and the headers a frontend needs.
	for _, c := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/api/tags", "", http.StatusOK},
		{"POST", "/api/articles", `{"article":{}}`, http.StatusUnauthorized},
		{"GET", "/api/nope", "", http.StatusNotFound},
		{"DELETE", "/api/tags", "", http.StatusMethodNotAllowed},
		{"POST", "/api/users", `{"user":{}}`, http.StatusUnprocessableEntity},
	} {
		resp, body := request(t, a, c.method, c.path, c.body, map[string]string{"Origin": app})
		h := resp.Header
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: %d %s", c.method, c.path, resp.StatusCode, body)
		}
		if got := h.Get("Access-Control-Allow-Origin"); got != app {
			t.Errorf("%s %s: Access-Control-Allow-Origin %q", c.method, c.path, got)
		}
		exposed := strings.Split(h.Get("Access-Control-Expose-Headers"), ", ")
		for _, want := range []string{"X-Request-Id", "Retry-After", "Etag", "Location", "Allow", "Content-Disposition", "Content-Range"} {
			if !slices.Contains(exposed, want) {
				t.Errorf("%s %s: Access-Control-Expose-Headers %q lacks %s", c.method, c.path, exposed, want)
			}
		}
		if !slices.Contains(h.Values("Vary"), "Origin") {
			t.Errorf("%s %s: Vary %q", c.method, c.path, h.Values("Vary"))
		}
		if h.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%s %s: credentials allowed", c.method, c.path)
		}
	}
	resp, _ := request(t, a, "GET", "/api/tags", "", map[string]string{"Origin": "https://evil.example"})
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" || !slices.Contains(resp.Header.Values("Vary"), "Origin") {
		t.Errorf("disallowed origin: Access-Control-Allow-Origin %q, Vary %q", got, resp.Header.Values("Vary"))
	}
	// Same-origin and non-browser clients send no Origin and see no CORS
	// headers at all.
	resp, _ = request(t, a, "GET", "/api/tags", "", nil)
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("no Origin: Access-Control-Allow-Origin %q", got)
	}
}

func TestCORSOriginSettings(t *testing.T) {
	cases := []struct {
		name     string
		env      map[string]string
		allowed  map[string]string // origin → expected Access-Control-Allow-Origin
		disallow []string
	}{
		{
			name:     "production without CORS_ALLOWED_ORIGINS allows none",
			env:      map[string]string{},
			disallow: []string{"http://localhost:3000", "http://127.0.0.1:5173", "https://app.example.com"},
		},
		{
			name: "development allows local dev servers on any port",
			env:  map[string]string{"APP_ENV": "development"},
			allowed: map[string]string{
				"http://localhost:3000":  "http://localhost:3000",
				"http://localhost:4200":  "http://localhost:4200",
				"http://127.0.0.1:5173":  "http://127.0.0.1:5173",
				"http://127.0.0.1:65535": "http://127.0.0.1:65535",
			},
			disallow: []string{"https://localhost:3000", "http://localhost:3000.evil.example", "http://localhost:0", "https://app.example.com", "null"},
		},
		{
			name:     "a list",
			env:      map[string]string{"CORS_ALLOWED_ORIGINS": "https://app.example.com, https://*.preview.example.com"},
			allowed:  map[string]string{"https://app.example.com": "https://app.example.com", "https://pr-12.preview.example.com": "https://pr-12.preview.example.com"},
			disallow: []string{"http://app.example.com", "https://preview.example.com", "http://localhost:3000"},
		},
		{
			name:    "any origin",
			env:     map[string]string{"CORS_ALLOWED_ORIGINS": "*"},
			allowed: map[string]string{"https://anything.example": "*", "http://localhost:3000": "*", "null": "*"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := apptest.Start(t, c.env)
			for origin, want := range c.allowed {
				resp, _ := request(t, a, "GET", "/api/tags", "", map[string]string{"Origin": origin})
				if got := resp.Header.Get("Access-Control-Allow-Origin"); got != want {
					t.Errorf("GET from %s: Access-Control-Allow-Origin %q, want %q", origin, got, want)
				}
				resp, _ = request(t, a, "OPTIONS", "/api/articles", "", map[string]string{
					"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type",
				})
				if got := resp.Header.Get("Access-Control-Allow-Origin"); resp.StatusCode != http.StatusNoContent || got != want {
					t.Errorf("preflight from %s: %d, Access-Control-Allow-Origin %q, want %q", origin, resp.StatusCode, got, want)
				}
			}
			for _, origin := range c.disallow {
				resp, _ := request(t, a, "GET", "/api/tags", "", map[string]string{"Origin": origin})
				if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
					t.Errorf("GET from %s: Access-Control-Allow-Origin %q, want none", origin, got)
				}
				resp, _ = request(t, a, "OPTIONS", "/api/articles", "", map[string]string{"Origin": origin, "Access-Control-Request-Method": "POST"})
				if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
					t.Errorf("preflight from %s: Access-Control-Allow-Origin %q, want none", origin, got)
				}
			}
		})
	}
}

// TestTrailingSlashEveryRoute sends every operation of the spec with one
// trailing slash and checks, in the access log, that it reached that
// operation; unclean paths stay 404.
func TestTrailingSlashEveryRoute(t *testing.T) {
	a := apptest.Start(t, nil)
	jake := register(t, a, "jake")
	register(t, a, "bob")
	art := createArticle(t, a, jake.Token, "Trailing slashes", "x")
	c := comment(t, a, art.Slug, "first", withToken(jake.Token))
	commentValues := map[string]string{"username": "bob", "slug": art.Slug, "id": strconv.FormatInt(c.JSON200.Comment.Id, 10)}
	png := apptest.File{Magic: apptest.PNG, Size: 4096, Seed: 1}
	uploadValues := map[string]string{"id": mustUpload(t, a, jake.Token, png).Id.String()}

	bodies := map[string]string{
		"CreateUser":           `{"user":{"username":"carol","email":"carol@example.com","password":"password-carol"}}`,
		"Login":                `{"user":{"email":"jake@example.com","password":"password-jake"}}`,
		"UpdateCurrentUser":    `{"user":{"bio":"slash"}}`,
		"CreateArticle":        `{"article":{"title":"Another","description":"d","body":"b"}}`,
		"UpdateArticle":        `{"article":{"body":"new body"}}`,
		"CreateArticleComment": `{"comment":{"body":"second"}}`,
	}
	raw := map[string]io.Reader{"CreateUpload": apptest.File{Magic: apptest.PNG, Size: 4096, Seed: 2}.Reader()}
	// Deletions last, so that every other operation finds its article.
	ops := specOperations(t)
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].method != "DELETE" && ops[j].method == "DELETE" })
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].id == "DeleteArticleComment" && ops[j].id == "DeleteArticle" })
	for _, op := range ops {
		values := commentValues
		if strings.HasPrefix(op.path, "/api/uploads/") {
			values = uploadValues
		}
		path := fill(op.path, values) + "/"
		id := "slash-" + op.id
		header := map[string]string{"Authorization": "Token " + jake.Token, "X-Request-ID": id}
		var resp *http.Response
		var body []byte
		if r, ok := raw[op.id]; ok {
			b, _ := io.ReadAll(r)
			header["Content-Type"] = "application/octet-stream"
			resp, body = sendBytes(t, a, op.method, path, b, header)
		} else {
			resp, body = request(t, a, op.method, path, bodies[op.id], header)
		}
		if resp.StatusCode >= 400 {
			t.Errorf("%s %s: %d %s", op.method, path, resp.StatusCode, body)
		}
		if got := a.RequestLog(t, id)["operation"]; got != op.id {
			t.Errorf("%s %s reached operation %q, want %q", op.method, path, got, op.id)
		}
	}

	for _, p := range []string{"/api/tags//", "//api/tags", "/api//tags", "/api/./tags", "/api/x/../tags", "/api/tags/.", "/api/tags/./"} {
		resp, body := request(t, a, "GET", p, "", nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d %s, want 404", p, resp.StatusCode, body)
		}
	}
	// The reference and the spec take a trailing slash too.
	for _, p := range []string{"/api/docs/", "/api/openapi.json/", "/api/openapi.yaml/"} {
		if resp, body := request(t, a, "GET", p, "", nil); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d %.200s", p, resp.StatusCode, body)
		}
	}
}

// TestMethodNotAllowedListsAllow checks every path of the spec: a method it
// lacks is a 405 whose Allow lists the path's methods, and a plain OPTIONS
// answers the same list.
func TestMethodNotAllowedListsAllow(t *testing.T) {
	a := apptest.Start(t, nil)
	order := map[string]int{"GET": 0, "HEAD": 1, "POST": 2, "PUT": 3, "PATCH": 4, "DELETE": 5}
	for template, methods := range specMethods(t) {
		path := fill(template, map[string]string{"username": "someone", "slug": "some-slug", "id": "1"})
		if slices.Contains(methods, "GET") && !slices.Contains(methods, "HEAD") {
			methods = append(methods, "HEAD") // every GET answers HEAD too
		}
		sort.Slice(methods, func(i, j int) bool { return order[methods[i]] < order[methods[j]] })
		want := strings.Join(append(methods, "OPTIONS"), ", ")
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			if slices.Contains(methods, m) {
				continue
			}
			resp, body := request(t, a, m, path, "", nil)
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d %s, want 405", m, path, resp.StatusCode, body)
			}
			if got := resp.Header.Get("Allow"); got != want {
				t.Errorf("%s %s: Allow %q, want %q", m, path, got, want)
			}
		}
		for _, p := range []string{path, path + "/"} {
			resp, body := request(t, a, "OPTIONS", p, "", nil)
			if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Allow") != want || len(body) != 0 {
				t.Errorf("OPTIONS %s: %d Allow %q %s, want 204 Allow %q", p, resp.StatusCode, resp.Header.Get("Allow"), body, want)
			}
		}
	}
	for _, p := range []string{"/api/docs", "/api/openapi.json", "/api/docs/swagger-ui/swagger-ui.css"} {
		resp, _ := request(t, a, "POST", p, "", nil)
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD, OPTIONS" {
			t.Errorf("POST %s: %d Allow %q", p, resp.StatusCode, resp.Header.Get("Allow"))
		}
		resp, _ = request(t, a, "OPTIONS", p, "", nil)
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Allow") != "GET, HEAD, OPTIONS" {
			t.Errorf("OPTIONS %s: %d Allow %q", p, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
}

// TestHeadAnswersAsGet checks HEAD on every path of the spec that has a
// GET and no HEAD of its own, signed in and not, and on the error answers a
// GET can get: the same status and headers as the GET, no body, and the
// GET's operation with 0 bytes in the access log.
func TestHeadAnswersAsGet(t *testing.T) {
	a := apptest.Start(t, nil)
	jake := register(t, a, "jake")
	art := createArticle(t, a, jake.Token, "Heads up", "news")
	values := map[string]string{"username": jake.Username, "slug": art.Slug, "id": "1"}
	signedIn := map[string]string{"Authorization": "Token " + jake.Token}
	type check struct {
		path   string
		header map[string]string
	}
	checks := []check{
		{"/api/articles?limit=abc", nil},                             // 422
		{"/api/articles/no-such-article", nil},                       // 404
		{"/api/user", nil},                                           // 401
		{"/api/user", map[string]string{"Authorization": "Token x"}}, // 401
		{"/api/tags/", nil},                                          // one trailing slash
		{"/api/articles?limit=2&tag=news", signedIn},                 // a query, signed in
	}
	gets := 0
	for template, methods := range specMethods(t) {
		if !slices.Contains(methods, "GET") || slices.Contains(methods, "HEAD") {
			continue
		}
		gets++
		p := fill(template, values)
		checks = append(checks, check{p, nil}, check{p, signedIn})
	}
	if gets < 8 {
		t.Fatalf("%d paths with a GET in the spec, expected at least 8", gets)
	}
	statuses := map[int]int{}
	for i, c := range checks {
		get, getBody := request(t, a, "GET", c.path, "", c.header)
		h := map[string]string{"X-Request-ID": fmt.Sprintf("head-%d", i)}
		maps.Copy(h, c.header)
		head, headBody := request(t, a, "HEAD", c.path, "", h)
		statuses[head.StatusCode]++
		name := fmt.Sprintf("HEAD %s (signed in: %v)", c.path, c.header != nil)
		if head.StatusCode != get.StatusCode || len(headBody) != 0 {
			t.Errorf("%s: %d with %d bytes; GET: %d", name, head.StatusCode, len(headBody), get.StatusCode)
		}
		for _, k := range []string{"Content-Type", "Content-Length", "Cache-Control", "Vary", "WWW-Authenticate"} {
			if got, want := head.Header.Values(k), get.Header.Values(k); !slices.Equal(got, want) {
				t.Errorf("%s: %s %q; GET: %q", name, k, got, want)
			}
		}
		if cl := get.Header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(getBody)) {
			t.Errorf("GET %s: Content-Length %s for %d bytes", c.path, cl, len(getBody))
		}
	}
	for _, code := range []int{http.StatusOK, http.StatusUnauthorized, http.StatusNotFound, http.StatusUnprocessableEntity} {
		if statuses[code] == 0 {
			t.Errorf("no HEAD answered %d (answers: %v): the checks miss a case", code, statuses)
		}
	}
	apptest.WaitFor(t, "the HEADs in the access log", func() bool {
		for _, l := range a.LogLines() {
			if l["request_id"] == "head-4" {
				if l["method"] != "HEAD" || l["operation"] != "GetTags" || l["status"] != float64(http.StatusOK) || l["bytes"] != float64(0) {
					t.Errorf("access log of HEAD /api/tags/: %v", l)
				}
				return true
			}
		}
		return false
	})
}

// TestUpdateUserBlankPasswordKeepsIt covers settings forms that always send
// the password field: "" and null change nothing else than the other
// fields, and a real new password is still validated.
func TestUpdateUserBlankPasswordKeepsIt(t *testing.T) {
	a := apptest.Start(t, nil)
	jake := register(t, a, "jake")
	auth := map[string]string{"Authorization": "Token " + jake.Token}
	login := func(password string) int {
		resp, _ := request(t, a, "POST", "/api/users/login", fmt.Sprintf(`{"user":{"email":"jake@example.com","password":%q}}`, password), nil)
		return resp.StatusCode
	}

	for _, body := range []string{
		`{"user":{"password":"","bio":"I like to skateboard","image":"https://i.example/j.png"}}`,
		`{"user":{"password":null,"bio":"I like to skateboard","image":"https://i.example/j.png"}}`,
		`{"user":{"password":""}}`,
	} {
		resp, got := request(t, a, "PUT", "/api/user", body, auth)
		var u api.UserResponse
		if resp.StatusCode != http.StatusOK || json.Unmarshal(got, &u) != nil || u.User.Bio == nil || *u.User.Bio != "I like to skateboard" {
			t.Fatalf("PUT %s: %d %s", body, resp.StatusCode, got)
		}
		if status := login("password-jake"); status != http.StatusOK {
			t.Fatalf("after PUT %s the old password gets %d", body, status)
		}
	}
	// The generated client sends "" the same way.
	resp, err := a.Client.UpdateCurrentUserWithResponse(context.Background(), api.UpdateCurrentUserJSONRequestBody{User: api.UpdateUser{Password: ptr("")}}, withToken(jake.Token))
	if err != nil || resp.StatusCode() != http.StatusOK {
		t.Fatalf("client PUT password \"\": %v %d", err, resp.StatusCode())
	}

	for _, short := range []string{"short", " ", "1234567"} {
		resp, got := request(t, a, "PUT", "/api/user", fmt.Sprintf(`{"user":{"password":%q}}`, short), auth)
		if resp.StatusCode != http.StatusUnprocessableEntity || !bytes.Contains(got, []byte("password must be 8 to 72 characters")) {
			t.Errorf("PUT password %q: %d %s", short, resp.StatusCode, got)
		}
	}
	if resp, got := request(t, a, "PUT", "/api/user", `{"user":{"password":"a-new-password"}}`, auth); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT a new password: %d %s", resp.StatusCode, got)
	}
	if login("password-jake") != http.StatusUnauthorized || login("a-new-password") != http.StatusOK {
		t.Fatal("the new password did not replace the old one")
	}
}

// TestTagListSorted checks that tagList is in byte order wherever an
// article appears: creation, single article, list, feed, after an update.
func TestTagListSorted(t *testing.T) {
	a := apptest.Start(t, nil)
	jake := register(t, a, "jake")
	bob := register(t, a, "bob")
	if resp, err := a.Client.FollowUserByUsernameWithResponse(context.Background(), "jake", withToken(bob.Token)); err != nil || resp.StatusCode() != http.StatusOK {
		t.Fatalf("follow: %v", err)
	}

	created := createArticle(t, a, jake.Token, "How to train your dragon", "training", "dragons", "äpfel", "Zebra", "apple", "dragons")
	want := []string{"Zebra", "apple", "dragons", "training", "äpfel"}
	check := func(where string, got []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: tagList %q, want %q", where, got, want)
		}
	}
	check("create", created.TagList)
	_, _, single := getArticle(t, a, created.Slug)
	check("single article", single.TagList)
	list, _ := listArticles(t, a, api.GetArticlesParams{})
	check("list", list.Articles[0].TagList)
	filtered, _ := listArticles(t, a, api.GetArticlesParams{Tag: ptr("dragons")})
	check("list by tag", filtered.Articles[0].TagList)
	feed, err := a.Client.GetArticlesFeedWithResponse(context.Background(), nil, withToken(bob.Token))
	if err != nil || feed.JSON200 == nil || len(feed.JSON200.Articles) != 1 {
		t.Fatalf("feed: %v", err)
	}
	check("feed", feed.JSON200.Articles[0].TagList)
	fav, err := a.Client.CreateArticleFavoriteWithResponse(context.Background(), created.Slug, withToken(bob.Token))
	if err != nil || fav.JSON200 == nil {
		t.Fatalf("favorite: %v", err)
	}
	check("favorite", fav.JSON200.Article.TagList)

	want = []string{"b", "c", "ä"}
	upd, err := a.Client.UpdateArticleWithResponse(context.Background(), created.Slug,
		api.UpdateArticleJSONRequestBody{Article: api.UpdateArticle{TagList: &[]string{"ä", "c", "b"}}}, withToken(jake.Token))
	if err != nil || upd.JSON200 == nil {
		t.Fatalf("update: %v", err)
	}
	check("update", upd.JSON200.Article.TagList)
	list, _ = listArticles(t, a, api.GetArticlesParams{})
	check("list after update", list.Articles[0].TagList)
}

// TestAPIReferenceAndSpec checks the served spec (both forms, with ETags
// and 304s) and the reference page with every file it loads.
func TestAPIReferenceAndSpec(t *testing.T) {
	a := apptest.Start(t, nil)

	resp, yamlBody := request(t, a, "GET", "/api/openapi.yaml", "", nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/yaml; charset=utf-8" || !bytes.Equal(yamlBody, sophsapp.OpenAPI) {
		t.Fatalf("GET /api/openapi.yaml: %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(yamlBody))
	}
	resp, jsonBody := request(t, a, "GET", "/api/openapi.json", "", nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("GET /api/openapi.json: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	fromJSON, err := openapi3.NewLoader().LoadFromData(jsonBody)
	if err != nil {
		t.Fatalf("/api/openapi.json does not load: %v", err)
	}
	if err := fromJSON.Validate(context.Background()); err != nil {
		t.Fatalf("/api/openapi.json is not a valid OpenAPI document: %v", err)
	}
	var ids []string
	for _, item := range fromJSON.Paths.Map() {
		for _, op := range item.Operations() {
			ids = append(ids, op.OperationID)
		}
	}
	var want []string
	for _, op := range specOperations(t) {
		want = append(want, op.id)
	}
	slices.Sort(ids)
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("/api/openapi.json operations %q, want %q", ids, want)
	}

	resp, page := request(t, a, "GET", "/api/docs", "", nil)
	h := resp.Header
	if resp.StatusCode != http.StatusOK || h.Get("Content-Type") != "text/html; charset=utf-8" || !bytes.Contains(page, []byte(`id="swagger-ui"`)) {
		t.Fatalf("GET /api/docs: %d %q %.300s", resp.StatusCode, h.Get("Content-Type"), page)
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" {
		t.Errorf("headers %v", h)
	}
	// Every file the page refers to is served, with a type the browser
	// accepts under nosniff.
	refs := regexp.MustCompile(`(?:src|href)="(/api/[^"]+)"`).FindAllSubmatch(page, -1)
	if len(refs) < 4 {
		t.Fatalf("the page refers to %d files", len(refs))
	}
	for _, ref := range refs {
		u := string(ref[1])
		resp, body := request(t, a, "GET", u, "", nil)
		ct := resp.Header.Get("Content-Type")
		if resp.StatusCode != http.StatusOK || len(body) == 0 || resp.Header.Get("ETag") == "" {
			t.Errorf("GET %s: %d, %d bytes, ETag %q", u, resp.StatusCode, len(body), resp.Header.Get("ETag"))
		}
		wantType := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".png": "image/png", ".json": "application/json; charset=utf-8", ".yaml": "application/yaml; charset=utf-8"}
		p, _, _ := strings.Cut(u, "?")
		if want := wantType[path.Ext(p)]; ct != want {
			t.Errorf("%s: Content-Type %q, want %q", u, ct, want)
		}
	}

	// ETags: a revalidation with a matching If-None-Match is a 304
	// without a body; a stale one gets the document.
	for _, p := range []string{"/api/openapi.yaml", "/api/openapi.json", "/api/docs", "/api/docs/swagger-ui/swagger-ui-bundle.js"} {
		resp, _ := request(t, a, "GET", p, "", nil)
		etag := resp.Header.Get("ETag")
		if !strings.HasPrefix(etag, `"`) || len(etag) < 10 || resp.Header.Get("Cache-Control") == "" {
			t.Errorf("%s: ETag %q Cache-Control %q", p, etag, resp.Header.Get("Cache-Control"))
		}
		resp, body := request(t, a, "GET", p, "", map[string]string{"If-None-Match": etag})
		if resp.StatusCode != http.StatusNotModified || len(body) != 0 || resp.Header.Get("ETag") != etag {
			t.Errorf("%s If-None-Match %s: %d, %d bytes", p, etag, resp.StatusCode, len(body))
		}
		resp, body = request(t, a, "GET", p, "", map[string]string{"If-None-Match": `"stale"`})
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("%s stale If-None-Match: %d", p, resp.StatusCode)
		}
		resp, body = request(t, a, "HEAD", p, "", nil)
		if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.Header.Get("ETag") != etag {
			t.Errorf("HEAD %s: %d, %d bytes", p, resp.StatusCode, len(body))
		}
	}
	for _, p := range []string{"/api/docs/nope.js", "/api/docs/swagger-ui", "/api/openapi.yml"} {
		if resp, body := request(t, a, "GET", p, "", nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d %.100s, want 404", p, resp.StatusCode, body)
		}
	}
}
