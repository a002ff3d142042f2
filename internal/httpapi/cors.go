package httpapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/rs/cors"

	"github.com/sophsapp/sophsapp/internal/origin"
)

// corsMaxAge is how long a browser may reuse a preflight's answer (seconds).
// Chromium caps it at 7200. Narrowing CORS_ALLOWED_ORIGINS still takes
// effect at once: every actual response is checked for
// Access-Control-Allow-Origin, cached preflight or not.
const corsMaxAge = 7200

// corsRequestHeaders are the non-safelisted request headers a browser page
// may send.
var corsRequestHeaders = []string{"Authorization", "Content-Type", "X-Request-ID"}

// corsExposedHeaders are the response headers a page's script may read
// beyond the safelisted ones: the request id (for bug reports), Retry-After
// (503, 429), ETag, Location (a new upload), Allow, and an upload's
// Content-Disposition (its file name) and Content-Range (a range request).
var corsExposedHeaders = []string{"X-Request-ID", "Retry-After", "ETag", "Location", "Allow", "Content-Disposition", "Content-Range"}

// withCORS answers preflights (OPTIONS with Access-Control-Request-Method)
// itself, before the deadline, routing, token and spec checks, and adds
// Access-Control-Allow-Origin and Vary: Origin to every other response for
// an allowed origin. Credentials stay off: the API authenticates with the
// Authorization header, never a cookie. The allowed methods are the ones
// the spec uses.
func withCORS(allowed origin.List, spec *openapi3.T) func(http.Handler) http.Handler {
	opts := cors.Options{
		AllowedMethods:   specMethods(spec),
		AllowedHeaders:   corsRequestHeaders,
		ExposedHeaders:   corsExposedHeaders,
		MaxAge:           corsMaxAge,
		AllowCredentials: false,
	}
	if allowed.Any() {
		opts.AllowedOrigins = []string{"*"}
	} else {
		opts.AllowOriginFunc = allowed.Allows
	}
	c := cors.New(opts)
	return func(next http.Handler) http.Handler {
		h := c.Handler(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				normalizeRequestHeaders(r.Header)
			}
			h.ServeHTTP(w, r)
		})
	}
}

// normalizeRequestHeaders rewrites a preflight's Access-Control-Request-Headers
// as browsers send it (the Fetch standard: lowercase, sorted, no repeats,
// one comma-separated line), which is the only form rs/cors accepts since
// v1.11. Tools and proxies that send "Content-Type, Authorization" would
// otherwise see their preflight refused without a word.
func normalizeRequestHeaders(h http.Header) {
	lines := h.Values("Access-Control-Request-Headers")
	if len(lines) == 0 {
		return
	}
	var names []string
	for _, line := range lines {
		for _, name := range strings.Split(line, ",") {
			if name = strings.ToLower(strings.TrimSpace(name)); name != "" {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	h.Set("Access-Control-Request-Headers", strings.Join(slices.Compact(names), ","))
}

// specMethods returns every method the spec uses, sorted.
func specMethods(spec *openapi3.T) []string {
	var methods []string
	for _, item := range spec.Paths.Map() {
		for m := range item.Operations() {
			if m = strings.ToUpper(m); !slices.Contains(methods, m) {
				methods = append(methods, m)
			}
		}
	}
	slices.Sort(methods)
	return methods
}
