package httpapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
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
