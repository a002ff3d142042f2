package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// TestRecovererTurnsPanicInto500 checks that a panicking handler yields a
// 500 in the API's error shape without internals, a logged stack, and a
// handler that keeps serving.
func TestRecovererTurnsPanicInto500(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	calls := 0
	h := recoverer(log, errorWriter{log: log})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if calls == 1 {
			panic("secret internal detail")
		}
		w.WriteHeader(http.StatusNoContent)
	}))

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/tags", nil))
	if rec.Code != http.StatusInternalServerError || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("panic answered %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var body struct {
		Errors struct{ Body []string } `json:"errors"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body.Errors.Body) != 1 {
		t.Fatalf("body %s", rec.Body)
	}
	if strings.Contains(rec.Body.String(), "secret") {
		t.Errorf("panic value leaked to the client: %s", rec.Body)
	}
	if !strings.Contains(logs.String(), "secret internal detail") || !strings.Contains(logs.String(), "middleware_test.go") {
		t.Errorf("panic and stack not logged: %s", logs.String())
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/tags", nil))
	if rec.Code != http.StatusNoContent {
		t.Errorf("after a panic the next request got %d", rec.Code)
	}
}

func TestClassifyHidesInternals(t *testing.T) {
	p := classify(errString("pq: relation \"users\" does not exist"))
	if p.status != http.StatusInternalServerError || strings.Contains(strings.Join(p.msgs, " "), "users") {
		t.Errorf("unknown error classified as %d %v", p.status, p.msgs)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// TestFailedAnswerIsNotAnsweredTwice: when writing an answer fails after
// its status went out (a client or Nginx that dropped the connection, a
// stream that broke off), the error hook sends nothing more (no second
// status, no error body after the first body) and logs no "request
// failed" with a status the client never got: a dropped connection at
// debug level, anything else as a warning.
func TestFailedAnswerIsNotAnsweredTwice(t *testing.T) {
	for _, c := range []struct {
		name    string
		err     error
		warning bool
	}{
		{"client gone", &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}, false},
		{"stream broke off", errString("reading the upload: connection lost"), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&logs, nil))
			ew := errorWriter{log: log}
			h := recoverer(log, ew)(drain(new(atomic.Bool))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusOK)
				io.WriteString(w, `{"articles":[`)
				ew.handle(w, r, c.err)
			})))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/articles", nil))
			if rec.Code != http.StatusOK || rec.Body.String() != `{"articles":[` {
				t.Errorf("answered %d %q; want the 200 and its partial body alone", rec.Code, rec.Body)
			}
			if strings.Contains(logs.String(), "request failed") {
				t.Errorf("logged as a failed request: %s", logs.String())
			}
			if warned := strings.Contains(logs.String(), `"level":"WARN","msg":"answer cut short"`); warned != c.warning {
				t.Errorf("warning logged: %v, want %v: %s", warned, c.warning, logs.String())
			}
		})
	}
}
