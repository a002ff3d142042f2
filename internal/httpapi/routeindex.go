package httpapi

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/sophsapp/sophsapp/gen/api"
)

// routeIndex finds the spec's route for a request with one tree lookup
// (an http.ServeMux holding the spec's path templates) rather than
// gorillamux's regular expressions, tried template by template: on the
// cheapest requests (one article, the tags) that search cost as much as
// the rest of the validation together.
//
// It answers only what it answers exactly as the spec router does, and
// hands everything else to it: HEAD (which the mux would match to GET),
// paths whose escaping is not canonical (r.URL.RawPath set), paths no
// template matches, and methods a matched template lacks (the 405 with its
// Allow list). Parameters are taken from the escaped path, as gorillamux
// (UseEncodedPath) gives them to kin-openapi. TestRouteIndexMatchesSpecRouter
// compares the two on every template, method and hostile path.
type routeIndex struct {
	mux  *http.ServeMux
	spec routers.Router
	// files are the operations that answer with files (sendsFiles),
	// decided once rather than per request.
	files map[*openapi3.Operation]bool
}

var _ routers.Router = (*routeIndex)(nil)

// newRouter returns the embedded spec and the router over it: the route
// index in front of gorillamux. Routes match on the path alone, whatever
// the Host header.
func newRouter() (*openapi3.T, *routeIndex, error) {
	spec, err := api.GetSpec()
	if err != nil {
		return nil, nil, fmt.Errorf("load embedded spec: %w", err)
	}
	spec.Servers = nil
	specRouter, err := gorillamux.NewRouter(spec)
	if err != nil {
		return nil, nil, fmt.Errorf("build router: %w", err)
	}
	ix, err := newRouteIndex(spec, specRouter)
	if err != nil {
		return nil, nil, fmt.Errorf("build route index: %w", err)
	}
	return spec, ix, nil
}

// indexedPath is one path template of the spec. It is the mux's handler
// only to be found: it never serves.
type indexedPath struct {
	route routers.Route // Method and Operation are filled in per request
	names []string      // the template's parameters
	pos   []int         // the path segment each parameter is
}

func (*indexedPath) ServeHTTP(http.ResponseWriter, *http.Request) {}

// newRouteIndex indexes doc's paths in front of spec, a router over doc.
func newRouteIndex(doc *openapi3.T, spec routers.Router) (*routeIndex, error) {
	ix := &routeIndex{mux: http.NewServeMux(), spec: spec, files: map[*openapi3.Operation]bool{}}
	for _, tmpl := range doc.Paths.InMatchingOrder() {
		p := &indexedPath{route: routers.Route{Spec: doc, Path: tmpl, PathItem: doc.Paths.Value(tmpl)}}
		for _, op := range p.route.PathItem.Operations() {
			ix.files[op] = sendsFiles(op)
		}
		for i, seg := range strings.Split(tmpl, "/") {
			if name, ok := strings.CutPrefix(seg, "{"); ok {
				p.names = append(p.names, strings.TrimSuffix(name, "}"))
				p.pos = append(p.pos, i)
			}
		}
		if err := registerPattern(ix.mux, tmpl, p); err != nil {
			return nil, err
		}
	}
	return ix, nil
}

// registerPattern is mux.Handle, with its panic on a bad or conflicting
// pattern turned into an error.
func registerPattern(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &routers.RouteError{Reason: "path template " + pattern + " cannot be indexed"}
		}
	}()
	mux.Handle(pattern, h)
	return nil
}

// FindRoute implements routers.Router.
func (ix *routeIndex) FindRoute(r *http.Request) (*routers.Route, map[string]string, error) {
	if route, params, ok := ix.find(r); ok {
		return route, params, nil
	}
	return ix.spec.FindRoute(r)
}

// find is the index's own answer, when it has one.
func (ix *routeIndex) find(r *http.Request) (*routers.Route, map[string]string, bool) {
	if r.Method == http.MethodHead || r.URL.RawPath != "" {
		return nil, nil, false
	}
	h, _ := ix.mux.Handler(r)
	p, ok := h.(*indexedPath)
	if !ok {
		return nil, nil, false
	}
	op := p.route.PathItem.GetOperation(r.Method)
	if op == nil {
		return nil, nil, false
	}
	route := p.route
	route.Method, route.Operation = r.Method, op
	var params map[string]string
	if len(p.names) > 0 {
		params = make(map[string]string, len(p.names))
		path, seg := r.URL.EscapedPath(), 0
		for i, name := range p.names {
			for ; seg < p.pos[i]; seg++ {
				path = path[strings.IndexByte(path, '/')+1:]
			}
			value, _, _ := strings.Cut(path, "/")
			params[name] = value
		}
	}
	return &route, params, true
}
