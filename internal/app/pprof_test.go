package app_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/sophsapp/sophsapp/internal/app"
	"github.com/sophsapp/sophsapp/internal/apptest"
)

// TestPprofOnItsOwnLoopbackListener: PPROF_ADDR serves the profiler on a
// listener of its own; the API's listener never answers it, and an address
// that is not loopback is refused at startup.
func TestPprofOnItsOwnLoopbackListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	a := apptest.Start(t, map[string]string{"PPROF_ADDR": addr})
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	// The API's listener answers once Serve runs, and the profiler's is
	// opened before that.
	if code, body := get(a.URL + "/api/health"); code != http.StatusOK {
		t.Fatalf("health: %d %s", code, body)
	}
	if code, body := get("http://" + addr + "/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Fatalf("profiler on PPROF_ADDR: %d %.200s", code, body)
	}
	if code, body := get(a.URL + "/debug/pprof/"); code != http.StatusNotFound {
		t.Fatalf("the API's listener answers the profiler: %d %.200s", code, body)
	}

	for _, bad := range []string{"0.0.0.0:6060", ":6060", "192.0.2.1:6060", "example.com:6060", "127.0.0.1"} {
		env := apptest.Env("postgres://localhost/x")
		env["PPROF_ADDR"] = bad
		var stderr bytes.Buffer
		if err := app.Run(context.Background(), []string{"sophsapp", "serve"}, env, io.Discard, &stderr); err == nil || !strings.Contains(stderr.String(), "PPROF_ADDR") {
			t.Errorf("PPROF_ADDR=%s accepted: %v %s", bad, err, stderr.String())
		}
	}
}
