package httpapi

import (
	"errors"
	"maps"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRouteIndexMatchesSpecRouter checks that the route index gives the
// answer the spec router (gorillamux) gives, for every path template of the
// spec filled with ordinary and hostile values, every method, and paths
// that match no template; and that it answers ordinary requests itself
// rather than handing them all on.
func TestRouteIndexMatchesSpecRouter(t *testing.T) {
	spec, ix, err := newRouter()
	if err != nil {
		t.Fatal(err)
	}
	slow := ix.spec
	values := []string{"x", "feed", "comments", "follow", "favorite", "uploads", "42", "-1",
		"j%C3%B6rg", "a%2Fb", "%41", "a%20b", "a+b", "a;b", "a=b", "..", ".", "~", "%25", "a%00b", "%E2%80%AE", "ÿ"}
	var paths []string
	for _, tmpl := range spec.Paths.InMatchingOrder() {
		for _, v := range values {
			p := tmpl
			for strings.Contains(p, "{") {
				i, j := strings.Index(p, "{"), strings.Index(p, "}")
				p = p[:i] + v + p[j+1:]
			}
			paths = append(paths, p, p+"/x", strings.TrimSuffix(p, "/"+v))
		}
	}
	paths = append(paths, "/", "/api", "/api/", "/api/x", "/api/articles/a/b/c/d", "/API/tags", "/api/tags/",
		"/api/articles/feed/favorite", "/api/user/uploads/x", "/api//tags", "/api/./tags")
	methods := []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT", "get"}
	answered := 0
	for _, p := range paths {
		for _, m := range methods {
			r := httptest.NewRequest("GET", "http://localhost"+p, nil)
			r.Method = m
			wantRoute, wantParams, wantErr := slow.FindRoute(r)
			if _, _, ok := ix.find(r); ok {
				answered++
			}
			route, params, err := ix.FindRoute(r)
			name := m + " " + p
			switch {
			case !errors.Is(err, wantErr):
				t.Errorf("%s: error %v, the spec router's %v", name, err, wantErr)
			case err != nil:
			case route.Path != wantRoute.Path || route.Method != wantRoute.Method || route.Operation != wantRoute.Operation:
				t.Errorf("%s: route %s %s, the spec router's %s %s", name, route.Method, route.Path, wantRoute.Method, wantRoute.Path)
			case !maps.Equal(params, wantParams) && (len(params) > 0 || len(wantParams) > 0):
				t.Errorf("%s: parameters %v, the spec router's %v", name, params, wantParams)
			}
		}
	}
	// Every ordinary request below is the index's to answer.
	for _, req := range []string{"GET /api/tags", "GET /api/articles", "GET /api/articles/feed", "GET /api/articles/how-to",
		"DELETE /api/articles/how-to/comments/7", "POST /api/profiles/j%C3%B6rg/follow", "PUT /api/user"} {
		m, p, _ := strings.Cut(req, " ")
		r := httptest.NewRequest(m, "http://localhost"+p, nil)
		if _, _, ok := ix.find(r); !ok {
			t.Errorf("%s: handed to the spec router", req)
		}
	}
	if answered == 0 {
		t.Fatal("the index answered nothing")
	}
	t.Logf("%d of %d requests answered by the index", answered, len(paths)*len(methods))
}
