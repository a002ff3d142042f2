package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sophsapp/sophsapp/internal/metrics"
)

// serveLogged serves one request to path through the request-info and
// access-log middleware, with log at level and the access lines in out.
func serveLogged(t testing.TB, level slog.Level, out io.Writer, path string) {
	t.Helper()
	log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: level}))
	h := withRequestInfo(nil)(accessLog(log, out, metrics.New("test", nil))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info(r.Context()).operation = "GetTags"
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "hello")
	})))
	r := httptest.NewRequest(http.MethodGet, "/api/tags", nil)
	r.URL.Path = path
	r.Header.Set("X-Request-ID", "req-1")
	h.ServeHTTP(httptest.NewRecorder(), r)
}

// isSlogTime reports whether v is a time as slog's JSON handler writes a
// UTC one: RFC 3339 with as many fractional digits as it needs.
func isSlogTime(v any) bool {
	s, _ := v.(string)
	at, err := time.Parse(time.RFC3339Nano, s)
	return err == nil && at.Location() == time.UTC && at.Format(time.RFC3339Nano) == s
}

// TestAccessLineIsAnSlogLine checks that the access line, which is not
// written through slog, reads like the service's other lines: the same
// keys first, a UTC time in slog's format, the same JSON types, one line.
func TestAccessLineIsAnSlogLine(t *testing.T) {
	var out bytes.Buffer
	before := time.Now().Add(-time.Millisecond)
	serveLogged(t, slog.LevelInfo, &out, "/api/tags")
	raw := out.String()
	if strings.Count(raw, "\n") != 1 || !strings.HasSuffix(raw, "\n") {
		t.Fatalf("want one line, got %q", raw)
	}
	if !strings.HasPrefix(raw, `{"time":"`) || !strings.Contains(raw, `","level":"INFO","msg":"request","method":"GET",`) {
		t.Errorf("time, level, msg do not come first as in slog's lines: %s", raw)
	}
	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("not JSON: %v: %s", err, raw)
	}

	// The line slog writes for the same record, stamped in UTC as the
	// service's logger stamps every record (app.NewLogger).
	rec := slog.NewRecord(time.Now().UTC(), slog.LevelInfo, "request", 0)
	rec.AddAttrs(slog.String("method", "GET"), slog.String("path", "/api/tags"), slog.String("operation", "GetTags"),
		slog.Int("status", 201), slog.Float64("duration_ms", 0.25), slog.Int64("bytes", 5),
		slog.String("client_ip", "192.0.2.1"), slog.String("scheme", "http"), slog.String("request_id", "req-1"))
	var ref bytes.Buffer
	if err := slog.NewJSONHandler(&ref, nil).Handle(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(ref.Bytes(), &want); err != nil {
		t.Fatal(err)
	}
	if !isSlogTime(want["time"]) {
		t.Fatalf("slog writes a UTC time as %q", want["time"])
	}
	for k, v := range want {
		if reflect.TypeOf(line[k]) != reflect.TypeOf(v) {
			t.Errorf("%s: %T (%v), slog writes %T", k, line[k], line[k], v)
		}
	}
	if len(line) != len(want) {
		t.Errorf("keys: got %v, slog's line has %v", line, want)
	}
	for _, k := range []string{"level", "msg", "method", "path", "operation", "status", "bytes", "client_ip", "scheme", "request_id"} {
		if line[k] != want[k] {
			t.Errorf("%s: got %v, want %v", k, line[k], want[k])
		}
	}
	if !isSlogTime(line["time"]) {
		t.Errorf("time %q is not as slog writes a UTC time", line["time"])
	}
	if at, err := time.Parse(time.RFC3339Nano, line["time"].(string)); err != nil || at.Before(before) || at.After(time.Now()) {
		t.Errorf("time %q (%v) is not the time of the request", line["time"], err)
	}
	if d, _ := line["duration_ms"].(float64); d < 0 || d > 10_000 {
		t.Errorf("duration_ms %v", line["duration_ms"])
	}
}

// TestAccessLineEscapesWhatClientsSend checks that a path with quotes,
// control characters, line breaks and invalid UTF-8 stays one valid JSON
// line, and reads back as slog's lines would (each invalid byte a U+FFFD).
func TestAccessLineEscapesWhatClientsSend(t *testing.T) {
	for _, path := range []string{
		"/api/\"},\"status\":200,\"x\":\"",
		"/api/a\nb\r\n{\"msg\":\"forged\"}",
		"/api/\x00\x01\x1f\x7f\\",
		"/api/\xff\xfe\xc3",
		"/api/</script>\u2028\u2029",
	} {
		var out bytes.Buffer
		serveLogged(t, slog.LevelInfo, &out, path)
		if strings.Count(out.String(), "\n") != 1 || !json.Valid(bytes.TrimSpace(out.Bytes())) {
			t.Errorf("path %q: not one JSON line: %q", path, out.String())
			continue
		}
		var line map[string]any
		json.Unmarshal(out.Bytes(), &line)
		var ref bytes.Buffer
		slog.New(slog.NewJSONHandler(&ref, nil)).Info("request", "path", path)
		var want map[string]any
		json.Unmarshal(ref.Bytes(), &want)
		if line["path"] != want["path"] || !strings.HasPrefix(want["path"].(string), "/api/") {
			t.Errorf("path %q logged as %q, slog writes %q", path, line["path"], want["path"])
		}
		if line["msg"] != "request" || line["status"] != float64(201) {
			t.Errorf("path %q changed other keys: %v", path, line)
		}
	}
}

// TestAccessLineFollowsTheLevel checks that the line is written at info and
// not at warn, where the request is still counted in the metrics.
func TestAccessLineFollowsTheLevel(t *testing.T) {
	var out bytes.Buffer
	serveLogged(t, slog.LevelWarn, &out, "/api/tags")
	if out.Len() != 0 {
		t.Errorf("LOG_LEVEL=warn wrote %q", out.String())
	}
	serveLogged(t, slog.LevelDebug, &out, "/api/tags")
	if out.Len() == 0 {
		t.Error("LOG_LEVEL=debug wrote no access line")
	}
}

// BenchmarkAccessLog prints what the middleware costs per request with the
// line (info) and without it (warn); the difference is the line.
func BenchmarkAccessLog(b *testing.B) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelWarn} {
		b.Run(level.String(), func(b *testing.B) {
			log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: level}))
			h := withRequestInfo(nil)(accessLog(log, io.Discard, metrics.New("test", nil))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				info(r.Context()).operation = "GetTags"
				w.WriteHeader(http.StatusOK)
			})))
			r := httptest.NewRequest(http.MethodGet, "/api/tags", nil)
			r.Header.Set("X-Request-ID", "0123456789abcdef0123456789abcdef")
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, r)
			}
		})
	}
}
