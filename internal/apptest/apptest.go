// Package apptest starts the real service for tests: the sophsapp server
// on a loopback port, over a fresh PostgreSQL database, with a generated
// client whose every response is checked against api/openapi.yaml.
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/internal/apidocs"
	"github.com/sophsapp/sophsapp/internal/app"
	"github.com/sophsapp/sophsapp/internal/config"
	"github.com/sophsapp/sophsapp/internal/httpapi"
	"github.com/sophsapp/sophsapp/internal/pgtest"
)

// TestJWTSecret signs tokens in tests.
const TestJWTSecret = "test-secret-test-secret-test-secret-0123"

// Env returns a complete test environment for databaseURL. It disables
// the drain before shutdown (SHUTDOWN_DRAIN=0), which would add seconds to
// every test; tests of the drain set it.
func Env(databaseURL string) map[string]string {
	return map[string]string{
		"DATABASE_URL":     databaseURL,
		"LISTEN_ADDR":      "127.0.0.1:0",
		"JWT_SECRET":       TestJWTSecret,
		"LOG_LEVEL":        "debug",
		"SHUTDOWN_DRAIN":   "0",
		"SHUTDOWN_TIMEOUT": "10s",
	}
}

// App is a running server.
type App struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:43121.
	URL string
	// Addr is the address the server listens on, e.g. 127.0.0.1:43121.
	Addr string
	// Client is the generated client; every response it receives is
	// validated against the spec and a mismatch fails the test.
	Client *api.ClientWithResponses
	// HTTP is a plain client with the same contract check.
	HTTP *http.Client

	ln     *trackingListener
	cancel context.CancelFunc
	done   chan error
	logs   *SyncBuffer
	once   sync.Once
	err    error
}

// Start runs the server on a fresh database, with overrides applied to Env.
func Start(t testing.TB, overrides map[string]string) *App {
	t.Helper()
	env := Env(pgtest.NewDatabase(t))
	maps.Copy(env, overrides)
	return StartEnv(t, env)
}

// StartEnv runs the server with exactly env; it is stopped when the test
// ends.
func StartEnv(t testing.TB, env map[string]string) *App {
	t.Helper()
	cfg, err := config.Load(env)
	if err != nil {
		t.Fatalf("apptest: %v", err)
	}
	tcp, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		t.Fatalf("apptest: listen: %v", err)
	}
	ln := &trackingListener{Listener: tcp, accepted: map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	a := &App{URL: "http://" + ln.Addr().String(), Addr: ln.Addr().String(), ln: ln, cancel: cancel, done: make(chan error, 1), logs: &SyncBuffer{}}
	go func() { a.done <- app.Serve(ctx, cfg, ln, a.logs) }()
	t.Cleanup(func() {
		if err := a.Stop(); err != nil {
			t.Errorf("apptest: server stopped with error: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", a.logs.String())
		}
	})
	a.HTTP = &http.Client{Transport: NewContractTransport(t, http.DefaultTransport), Timeout: 30 * time.Second}
	a.Client, err = api.NewClientWithResponses(a.URL, api.WithHTTPClient(a.HTTP))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// Stop shuts the server down gracefully and returns Serve's result.
func (a *App) Stop() error {
	a.once.Do(func() {
		a.cancel()
		select {
		case a.err = <-a.done:
		case <-time.After(30 * time.Second):
			a.err = errors.New("server did not stop within 30s")
		}
	})
	return a.err
}

// Accepted reports whether the server accepted a connection from the
// client address addr (host:port), as opposed to one that never got past
// the listen backlog.
func (a *App) Accepted(addr string) bool { return a.ln.wasAccepted(addr) }

// trackingListener remembers the client address of every connection the
// server accepted.
type trackingListener struct {
	net.Listener
	mu       sync.Mutex
	accepted map[string]bool
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.accepted[c.RemoteAddr().String()] = true
		l.mu.Unlock()
	}
	return c, err
}

func (l *trackingListener) wasAccepted(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.accepted[addr]
}

// LogLines returns the JSON log lines written so far.
func (a *App) LogLines() []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(a.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// RequestLog returns the access-log line of the request with id, waiting
// briefly since the line is written after the response.
func (a *App) RequestLog(t testing.TB, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		for _, l := range a.LogLines() {
			if l["msg"] == "request" && l["request_id"] == id {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access log line for request %s", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Logs returns everything the server has logged.
func (a *App) Logs() string { return a.logs.String() }

// contractTransport checks every response against the spec: an operation's
// response must match what the spec declares for its status, and anything
// else (unknown route, wrong method) must still be the JSON error shape.
type contractTransport struct {
	t      testing.TB
	next   http.RoundTripper
	router routers.Router
}

// NewContractTransport wraps next so that every response is validated
// against api/openapi.yaml with kin-openapi; a mismatch fails t.
func NewContractTransport(t testing.TB, next http.RoundTripper) http.RoundTripper {
	spec, err := api.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	spec.Servers = nil
	router, err := gorillamux.NewRouter(spec)
	if err != nil {
		t.Fatal(err)
	}
	return &contractTransport{t: t, next: next, router: router}
}

func (c *contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err := c.check(req, resp, body); err != nil {
		c.t.Errorf("contract: %s %s → %d: %v\nbody: %.500s", req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
	return resp, nil
}

func (c *contractTransport) check(req *http.Request, resp *http.Response, body []byte) error {
	// One trailing slash names the same operation, as the server sees it.
	req = httpapi.WithoutTrailingSlash(req)
	route, params, err := httpapi.FindRoute(c.router, req)
	if req.Method == http.MethodHead {
		// The answer to a HEAD has no body; its status and headers are
		// those of the operation (HEAD's own, or the GET's).
		if len(body) > 0 {
			return fmt.Errorf("HEAD answered with a body of %d bytes", len(body))
		}
		if err != nil || resp.StatusCode == http.StatusMethodNotAllowed {
			return nil
		}
	} else if err != nil || resp.StatusCode == http.StatusMethodNotAllowed {
		if resp.StatusCode < 400 && outsideContract(req) {
			return nil
		}
		return checkErrorShape(resp, body)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, ExcludeResponseBody: req.Method == http.MethodHead},
	}
	return openapi3filter.ValidateResponse(req.Context(), in)
}

// outsideContract reports whether a successful answer to req is none of
// the spec's operations: anything outside /api/ (e.g. /metrics), the API
// reference and the spec itself, and OPTIONS (CORS preflights and Allow).
func outsideContract(req *http.Request) bool {
	p := req.URL.Path
	return !strings.HasPrefix(p, "/api/") || req.Method == http.MethodOptions || apidocs.Owns(p)
}

func checkErrorShape(resp *http.Response, body []byte) error {
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("error response has Content-Type %q, want application/json", ct)
	}
	var e api.GenericErrorModel
	if err := json.Unmarshal(body, &e); err != nil || len(e.Errors.Body) == 0 {
		return fmt.Errorf("error response is not {\"errors\":{\"body\":[...]}}")
	}
	return nil
}
