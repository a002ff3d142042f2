package httpapi

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/sophsapp/sophsapp/internal/metrics"
)

// requestInfo is what the outer middleware learns about a request; inner
// layers fill in the operation.
type requestInfo struct {
	id        string
	clientIP  string
	scheme    string
	operation string
}

type infoKey struct{}

func info(ctx context.Context) *requestInfo {
	if ri, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

// RequestID returns the id of the request ctx belongs to.
func RequestID(ctx context.Context) string { return info(ctx).id }

// validRequestID accepts ids a proxy or client may reasonably send: short,
// printable, and safe to copy into logs and headers.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.:", c)
		if !ok {
			return false
		}
	}
	return true
}

// requestIDHeader is X-Request-ID's canonical form, the key net/http
// stores it under.
const requestIDHeader = "X-Request-Id"

// withRequestInfo assigns the request id (an incoming X-Request-ID when it
// is sane, a new one otherwise), echoes it, and works out the client's
// address and scheme. X-Real-IP and X-Forwarded-Proto are believed only from
// a trusted proxy, so a client cannot choose the address that is logged.
func withRequestInfo(trusted []netip.Prefix) func(http.Handler) http.Handler {
	isTrusted := func(a netip.Addr) bool {
		a = a.Unmap()
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// The header's canonical key, used as is: Get and Set would
			// canonicalize "X-Request-ID" on every request.
			ri := &requestInfo{scheme: "http"}
			if v := r.Header[requestIDHeader]; len(v) > 0 {
				ri.id = v[0]
			}
			if !validRequestID(ri.id) {
				ri.id = rand.Text()
			}
			if r.TLS != nil {
				ri.scheme = "https"
			}
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				host = r.RemoteAddr
			}
			ri.clientIP = host
			if peer, err := netip.ParseAddr(host); err == nil && isTrusted(peer) {
				if real, err := netip.ParseAddr(strings.TrimSpace(r.Header.Get("X-Real-IP"))); err == nil {
					ri.clientIP = real.String()
				}
				if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
					ri.scheme = p
				}
			}
			w.Header()[requestIDHeader] = []string{ri.id}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), infoKey{}, ri)))
		})
	}
}

// statusRecorder remembers the status and size of a response.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	head   bool // a HEAD: the server drops whatever is written
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	if !s.head {
		s.bytes += int64(n)
	}
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// accessLog records every request in m and, while log takes info lines,
// writes one JSON line for it to out. The line has the shape of log's own
// lines (time, level and msg first, the time as slog's JSON handler
// writes it) but is written with zerolog: it is the one line per request,
// and through slog's JSON handler it cost about a tenth of the CPU of the
// cheapest requests (docs/PERFORMANCE.md).
func accessLog(log *slog.Logger, out io.Writer, m *metrics.Metrics) func(http.Handler) http.Handler {
	lines := zerolog.Nop() // no output: every call on it is a no-op
	if out != nil {
		lines = zerolog.New(out)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := &statusRecorder{ResponseWriter: w, head: r.Method == http.MethodHead}
			m.InFlight().Inc()
			defer func() {
				m.InFlight().Dec()
				ri := info(r.Context())
				op := ri.operation
				if op == "" {
					op = metrics.NoOperation
				}
				took := time.Since(start)
				m.Observe(op, r.Method, rec.status, took)
				if !log.Enabled(r.Context(), slog.LevelInfo) {
					return
				}
				var stamp [len(time.RFC3339Nano) + 8]byte
				lines.Log().
					Bytes("time", start.Add(took).UTC().AppendFormat(stamp[:0], time.RFC3339Nano)).
					Str("level", "INFO").
					Str("msg", "request").
					Str("method", r.Method).
					Str("path", r.URL.Path).
					Str("operation", op).
					Int("status", rec.status).
					Float64("duration_ms", float64(took.Microseconds())/1000).
					Int64("bytes", rec.bytes).
					Str("client_ip", ri.clientIP).
					Str("scheme", ri.scheme).
					Str("request_id", ri.id).
					Send()
			}()
			next.ServeHTTP(rec, r)
		})
	}
}

// recoverer turns a panic into a logged stack and a 500 JSON answer, so one
// bad request never takes the process down.
func recoverer(log *slog.Logger, ew errorWriter) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := &statusRecorder{ResponseWriter: w, head: r.Method == http.MethodHead}
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(r.Context(), "panic serving request", "panic", v, "stack", string(debug.Stack()), "request_id", RequestID(r.Context()))
				if rec.status == 0 {
					ew.handle(w, r, errPanicked)
				}
			}()
			next.ServeHTTP(rec, r)
		})
	}
}

// drain makes every answer close its connection once draining is set, so
// that keep-alive clients move to a new connection (to another instance,
// behind a load balancer) before the server stops, instead of sending a
// request on a connection the server is closing as idle: a client that does
// not retry, as Go's own client does, would lose that request.
//
// The flag is read when the answer's header is written, not when the
// request arrives, so an answer that says "draining" always closes.
func drain(draining *atomic.Bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(&drainWriter{ResponseWriter: w, draining: draining}, r)
		})
	}
}

type drainWriter struct {
	http.ResponseWriter
	draining    *atomic.Bool
	wroteHeader bool
}

func (d *drainWriter) WriteHeader(code int) {
	if !d.wroteHeader && d.draining.Load() {
		d.Header().Set("Connection", "close")
	}
	d.wroteHeader = true
	d.ResponseWriter.WriteHeader(code)
}

func (d *drainWriter) Write(b []byte) (int, error) {
	if !d.wroteHeader {
		d.WriteHeader(http.StatusOK)
	}
	return d.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (d *drainWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }

// limits gives every request a deadline. (Body limits depend on the
// operation: validate sets them.)
func limits(timeout time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), timeout)
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}
