package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/routers"
)

// methodOrder is the order of the methods in an Allow header.
var methodOrder = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// allowedMethods returns the Allow header of the spec path r is on: the
// path's methods in methodOrder, then OPTIONS, which every API path
// answers.
func allowedMethods(router routers.Router, r *http.Request) string {
	var allow []string
	probe := r.WithContext(r.Context())
	for _, m := range methodOrder {
		probe.Method = m
		if _, _, err := FindRoute(router, probe); err == nil {
			allow = append(allow, m)
		}
	}
	return strings.Join(append(allow, http.MethodOptions), ", ")
}

// FindRoute is router.FindRoute, plus HEAD on every path that has a GET
// and no HEAD operation of its own: the GET's operation answers it, with
// the GET's parameters, security and headers, and the server sends no body
// (RFC 9110, section 9.3.2: HEAD is GET without the content). A client that
// checks a URL with HEAD (an uptime monitor, curl -I, a link checker) then
// gets what a GET would get, not a 405.
func FindRoute(router routers.Router, r *http.Request) (*routers.Route, map[string]string, error) {
	route, params, err := router.FindRoute(r)
	if r.Method != http.MethodHead || !errors.Is(err, routers.ErrMethodNotAllowed) {
		return route, params, err
	}
	get := r.WithContext(r.Context())
	get.Method = http.MethodGet
	if route, params, getErr := router.FindRoute(get); getErr == nil {
		return route, params, nil
	}
	return nil, nil, err
}

// WithoutTrailingSlash returns r with one trailing slash removed from its
// path, so that "/api/articles/" is the same route as "/api/articles" for
// every operation. An escaped slash (%2F) at the end belongs to the last
// path segment and stays.
func WithoutTrailingSlash(r *http.Request) *http.Request {
	p := r.URL.Path
	if len(p) < 2 || !strings.HasSuffix(p, "/") || !strings.HasSuffix(r.URL.EscapedPath(), "/") {
		return r
	}
	u := *r.URL
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = strings.TrimSuffix(u.RawPath, "/")
	stripped := r.WithContext(r.Context())
	stripped.URL = &u
	return stripped
}
