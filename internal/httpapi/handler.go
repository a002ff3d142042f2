// Package httpapi is the HTTP face of sophsapp: the middleware chain, the
// spec validator, and the Server that implements the operations generated
// from api/openapi.yaml.
//
// A request travels: withRequestInfo (id, client address) → accessLog (and
// metrics) → recoverer → drain (Connection: close while draining) →
// withCORS (preflights answered here) → limits (deadline) → the top-level
// dispatch (unclean paths 404, one trailing slash dropped, the API
// reference and the spec, /metrics) → validate (route, 405 with Allow, body
// limit, token, spec) → the generated ServeMux and strict wrapper → a
// (*Server) method → sqlc.
package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sophsapp/sophsapp"
	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/gen/db"
	"github.com/sophsapp/sophsapp/internal/apidocs"
	"github.com/sophsapp/sophsapp/internal/auth"
	"github.com/sophsapp/sophsapp/internal/database"
	"github.com/sophsapp/sophsapp/internal/metrics"
	"github.com/sophsapp/sophsapp/internal/origin"
)

// Deps is what the handler needs from the process.
type Deps struct {
	Pool *pgxpool.Pool
	// Replicas answer anonymous reads when configured; nil means none.
	Replicas *database.Replicas
	Log      *slog.Logger
	// AccessLog takes one JSON line per request, in the shape of Log's
	// lines, while Log takes info lines: normally the writer under Log.
	// nil: none.
	AccessLog      io.Writer
	Tokens         *auth.Tokens
	Version        string
	TrustedProxies []netip.Prefix
	// MaxJSONBytes caps JSON request bodies, MaxUploadBytes the bodies of
	// operations that take anything else (see bodyLimits.bodyRule).
	MaxJSONBytes   int64
	MaxUploadBytes int64
	RequestTimeout time.Duration
	// Uploads are the rules uploaded files follow.
	Uploads UploadSettings
	// Metrics records every request and is served on GET /metrics.
	Metrics *metrics.Metrics
	// AllowedOrigins are the browser origins that may call the API (CORS).
	AllowedOrigins origin.List
	// Draining, once true, makes every answer close its connection and
	// health answer 503 "draining"; nil means never.
	Draining *atomic.Bool
	// Subscribe, when set, subscribes sub to the notifications on a
	// PostgreSQL channel; the handler keeps answers in memory that they
	// say when to drop (tagList). nil: nothing is kept.
	Subscribe func(channel string, sub database.Subscriber) error
}

// NewHandler returns the whole HTTP surface of the service.
func NewHandler(d Deps) (http.Handler, error) {
	spec, router, err := newRouter()
	if err != nil {
		return nil, err
	}
	ew := errorWriter{log: d.Log}
	if d.Draining == nil {
		d.Draining = new(atomic.Bool)
	}
	primary := checkedDB{pool: d.Pool}
	s := &Server{primary: primary, q: db.New(primary), replicas: d.Replicas, log: d.Log, tokens: d.Tokens, version: d.Version,
		uploads: newUploads(d.Uploads, d.Pool.Config().MaxConns), draining: d.Draining}
	s.tags.q = db.New(d.Pool)
	if d.Subscribe != nil {
		if err := d.Subscribe("tags_changed", &s.tags); err != nil {
			return nil, err
		}
	}

	strict := api.NewStrictHandlerWithOptions(s, []api.StrictMiddlewareFunc{uploadBody, settleToken(primary)}, api.StrictHTTPServerOptions{
		RequestErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			ew.handle(w, r, decodeProblem(err))
		},
		ResponseErrorHandlerFunc: ew.handle,
	})
	apiHandler := api.HandlerWithOptions(strict, api.StdHTTPServerOptions{
		BaseRouter: http.NewServeMux(),
		ErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			ew.handle(w, r, paramProblem(err))
		},
	})
	validated := validate(router, d.Tokens, bodyLimits{json: d.MaxJSONBytes, upload: d.MaxUploadBytes}, ew)(apiHandler)
	metricsHandler := d.Metrics.Handler()
	docs, err := apidocs.New(sophsapp.OpenAPI)
	if err != nil {
		return nil, err
	}
	notFound := func(w http.ResponseWriter, r *http.Request) {
		ew.handle(w, r, &NoRouteError{Path: r.URL.Path})
	}
	notAllowed := func(w http.ResponseWriter, r *http.Request) {
		ew.handle(w, r, &MethodError{Method: r.Method, Path: r.URL.Path})
	}
	// The top level is dispatched by hand rather than by a ServeMux, which
	// would answer unclean paths (//, /./, /../) with a text redirect.
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p != path.Clean(p) && p != path.Clean(p)+"/" {
			notFound(w, r)
			return
		}
		r = WithoutTrailingSlash(r)
		p := r.URL.Path
		switch {
		case apidocs.Owns(p):
			docs.ServeHTTP(w, r, notFound, notAllowed)
		case strings.HasPrefix(p, "/api/"):
			validated.ServeHTTP(w, r)
		case p == "/metrics" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			metricsHandler.ServeHTTP(w, r)
		default:
			notFound(w, r)
		}
	})
	h = limits(d.RequestTimeout)(h)
	h = withCORS(d.AllowedOrigins, spec)(h)
	h = drain(d.Draining)(h)
	h = recoverer(d.Log, ew)(h)
	h = accessLog(d.Log, d.AccessLog, d.Metrics)(h)
	h = withRequestInfo(d.TrustedProxies)(h)
	return h, nil
}
