package app_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sophsapp/sophsapp/internal/app"
	"github.com/sophsapp/sophsapp/internal/apptest"
	"github.com/sophsapp/sophsapp/internal/config"
	"github.com/sophsapp/sophsapp/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestHealthOK(t *testing.T) {
	a := apptest.Start(t, nil)
	resp, err := a.Client.GetHealthWithResponse(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != http.StatusOK || resp.JSON200 == nil {
		t.Fatalf("status %d, body %s", resp.StatusCode(), resp.Body)
	}
	if resp.JSON200.Status != "ok" || resp.JSON200.Database != "ok" {
		t.Errorf("got %+v", *resp.JSON200)
	}
}

// TestHealthDatabaseDown stops the server's own PostgreSQL under it: health
// turns 503 quickly, and back to 200 by itself when PostgreSQL returns.
func TestHealthDatabaseDown(t *testing.T) {
	cluster, err := pgtest.StartCluster("")
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Remove()
	a := apptest.StartEnv(t, apptest.Env(cluster.URL("postgres")))
	health := func() (int, string, time.Duration) {
		start := time.Now()
		resp, err := a.Client.GetHealthWithResponse(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode(), string(resp.Body), time.Since(start)
	}
	if code, body, _ := health(); code != http.StatusOK {
		t.Fatalf("before stop: %d %s", code, body)
	}
	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	code, body, took := health()
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"database":"unavailable"`) {
		t.Fatalf("database stopped: got %d %s", code, body)
	}
	if took > 2*time.Second {
		t.Errorf("health took %s with the database down", took)
	}
	if err := cluster.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _, _ := health()
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("health did not recover within 5s of PostgreSQL's return")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestHealthDatabaseUnreachable points the server at an address where
// nothing listens and at one that never answers: health still answers 503
// within the ping timeout, and other endpoints 503 within the connect
// timeout.
func TestHealthDatabaseUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// A listener that never completes PostgreSQL's handshake: connections
	// are accepted and then hang.
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	for name, url := range map[string]string{
		"refused": "postgres://postgres@127.0.0.1:1/x?sslmode=disable",
		"hanging": "postgres://postgres@" + ln.Addr().String() + "/x?sslmode=disable",
	} {
		t.Run(name, func(t *testing.T) {
			a := apptest.StartEnv(t, apptest.Env(url))
			start := time.Now()
			resp, err := a.Client.GetHealthWithResponse(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode() != http.StatusServiceUnavailable || resp.JSON503 == nil || resp.JSON503.Database != "unavailable" {
				t.Fatalf("got %d %s", resp.StatusCode(), resp.Body)
			}
			if took := time.Since(start); took > 1500*time.Millisecond {
				t.Errorf("health took %s", took)
			}
			// Other endpoints wait at most the 2 s connect timeout.
			code, body, took := get(t, a, "/api/articles")
			if code != http.StatusServiceUnavailable || !strings.Contains(body, `"errors"`) || took > 3*time.Second {
				t.Errorf("GET /api/articles: %d in %s: %s", code, took, body)
			}
			// The log says so from the start, not only through the 503s.
			for deadline := time.Now().Add(30 * time.Second); !strings.Contains(a.Logs(), `"level":"ERROR","msg":"serving without a database`); {
				if time.Now().After(deadline) {
					t.Fatalf("no startup error about the database in the log:\n%s", a.Logs())
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

func TestConfigErrorsNameEachVariable(t *testing.T) {
	var stdout, stderr bytes.Buffer
	env := map[string]string{
		"MAX_JSON_BYTES":       "lots",
		"SHUTDOWN_TIMEOUT":     "soon",
		"LOG_LEVEL":            "chatty",
		"TRUSTED_PROXIES":      "not-an-ip",
		"APP_ENV":              "staging",
		"CORS_ALLOWED_ORIGINS": "https://app.example.com/",
	}
	err := app.Run(context.Background(), []string{"sophsapp", "serve"}, env, &stdout, &stderr)
	if err == nil {
		t.Fatal("serve started with a broken configuration")
	}
	for _, name := range []string{"DATABASE_URL", "MAX_JSON_BYTES", "SHUTDOWN_TIMEOUT", "LOG_LEVEL", "TRUSTED_PROXIES", "APP_ENV", "JWT_SECRET", "CORS_ALLOWED_ORIGINS"} {
		if !strings.Contains(stderr.String(), name) {
			t.Errorf("stderr does not name %s:\n%s", name, stderr.String())
		}
	}
}

// TestConfigErrorsListEachBadVariableOnce: every bad variable is named,
// once, with what it expects and an example, and secrets are not echoed.
func TestConfigErrorsListEachBadVariableOnce(t *testing.T) {
	var stderr bytes.Buffer
	env := map[string]string{
		"DATABASE_URL":   "postgres://sophsapp:hunter2@db.example:99999999/sophsapp",
		"JWT_SECRET":     "short",
		"JWT_TTL":        "soon",
		"MAX_JSON_BYTES": "lots",
		"LISTEN_ADDR":    "localhost",
	}
	if err := app.Run(context.Background(), []string{"sophsapp", "serve"}, env, io.Discard, &stderr); err == nil {
		t.Fatal("serve started with a broken configuration")
	}
	out := stderr.String()
	for name := range env {
		if n := strings.Count(out, "\n  "+name+": "); n != 1 {
			t.Errorf("%s is reported %d times:\n%s", name, n, out)
		}
	}
	for _, line := range strings.Split(out, "\n")[1:] {
		if line != "" && (!strings.Contains(line, ": expected ") || !strings.Contains(line, ", e.g. ")) {
			t.Errorf("no expected form or example in %q", line)
		}
	}
	for _, secret := range []string{"hunter2", "short"} {
		if strings.Contains(out, secret) {
			t.Errorf("the error echoes a secret (%q):\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "DATABASE_URL: expected a PostgreSQL connection string") || !strings.Contains(out, "e.g. postgres://") {
		t.Errorf("DATABASE_URL's message lacks its form and example:\n%s", out)
	}
	if !strings.Contains(out, "JWT_SECRET: expected a random secret of at least 32 bytes") || !strings.Contains(out, "openssl rand") || !strings.Contains(out, "5 bytes") {
		t.Errorf("JWT_SECRET's message:\n%s", out)
	}
}

// TestMigrateNeedsOnlyWhatItUses: migrate reads DATABASE_URL and LOG_LEVEL
// and nothing else, so a missing JWT_SECRET or a serve-only mistake does
// not stop it.
func TestMigrateNeedsOnlyWhatItUses(t *testing.T) {
	env := map[string]string{"DATABASE_URL": pgtest.NewDatabase(t), "SHUTDOWN_TIMEOUT": "soon", "APP_ENV": "staging"}
	var out, stderr bytes.Buffer
	if err := app.Run(context.Background(), []string{"sophsapp", "migrate"}, env, &out, &stderr); err != nil {
		t.Fatalf("migrate: %v\n%s%s", err, out.String(), stderr.String())
	}
	stderr.Reset()
	err := app.Run(context.Background(), []string{"sophsapp", "migrate"}, map[string]string{"LOG_LEVEL": "chatty"}, io.Discard, &stderr)
	if err == nil || !strings.Contains(stderr.String(), "DATABASE_URL") || !strings.Contains(stderr.String(), "LOG_LEVEL") || strings.Contains(stderr.String(), "JWT_SECRET") {
		t.Errorf("migrate without a database: %v\n%s", err, stderr.String())
	}
	// An unreachable database is said to be one.
	stderr.Reset()
	err = app.Run(context.Background(), []string{"sophsapp", "migrate"}, map[string]string{"DATABASE_URL": "postgres://postgres@127.0.0.1:1/x?sslmode=disable"}, io.Discard, &stderr)
	if err == nil || !strings.Contains(stderr.String(), "unreachable") {
		t.Errorf("migrate with an unreachable database: %v\n%s", err, stderr.String())
	}
}

// TestHelp: the help texts go to stdout and succeed; `help serve` lists
// every setting with its default, `help migrate` only its own.
func TestHelp(t *testing.T) {
	run := func(args ...string) string {
		t.Helper()
		var out, stderr bytes.Buffer
		if err := app.Run(context.Background(), append([]string{"sophsapp"}, args...), nil, &out, &stderr); err != nil {
			t.Fatalf("sophsapp %v: %v\n%s", args, err, stderr.String())
		}
		if out.Len() == 0 || stderr.Len() != 0 {
			t.Fatalf("sophsapp %v: stdout %q, stderr %q", args, out.String(), stderr.String())
		}
		return out.String()
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		if out := run(args...); !strings.Contains(out, "serve") || !strings.Contains(out, "migrate") || !strings.Contains(out, "sophsapp help <command>") {
			t.Errorf("sophsapp %v:\n%s", args, out)
		}
	}
	if out := run("--version"); strings.TrimSpace(out) != app.Version() {
		t.Errorf("--version: %q", out)
	}
	serve := run("help", "serve")
	if other := run("serve", "--help"); other != serve {
		t.Errorf("serve --help differs from help serve:\n%s", other)
	}
	for _, v := range config.Vars() {
		def := v.Default
		if def == "" {
			def = "-"
		}
		if !regexp.MustCompile(`(?m)^  ` + v.Name + ` +` + regexp.QuoteMeta(def) + ` +\S`).MatchString(serve) {
			t.Errorf("help serve does not list %s with its default %q and a meaning:\n%s", v.Name, def, serve)
		}
	}
	migrate := run("migrate", "-h")
	if !strings.Contains(migrate, "DATABASE_URL") || !strings.Contains(migrate, "LOG_LEVEL") || strings.Contains(migrate, "JWT_SECRET") {
		t.Errorf("help migrate:\n%s", migrate)
	}
	var stderr bytes.Buffer
	for _, args := range [][]string{{"help", "frobnicate"}, {"serve", "--frobnicate"}, {"serve", "extra"}} {
		if err := app.Run(context.Background(), append([]string{"sophsapp"}, args...), nil, io.Discard, &stderr); !errors.Is(err, app.ErrUsage) {
			t.Errorf("sophsapp %v: %v", args, err)
		}
	}
}

func TestShortJWTSecretRefusedOutsideDevelopment(t *testing.T) {
	env := apptest.Env("postgres://localhost/x")
	env["JWT_SECRET"] = "short"
	var stderr bytes.Buffer
	if err := app.Run(context.Background(), []string{"sophsapp", "serve"}, env, io.Discard, &stderr); err == nil || !strings.Contains(stderr.String(), "JWT_SECRET") {
		t.Fatalf("short secret accepted: %v %s", err, stderr.String())
	}
	env["APP_ENV"] = "development"
	env["JWT_SECRET"] = ""
	env["DATABASE_URL"] = "::not a url::"
	stderr.Reset()
	err := app.Run(context.Background(), []string{"sophsapp", "serve"}, env, io.Discard, &stderr)
	if err == nil || strings.Contains(stderr.String(), "JWT_SECRET") || !strings.Contains(stderr.String(), "DATABASE_URL") {
		t.Fatalf("development mode: %v %s", err, stderr.String())
	}
}

func TestVersionAndUsage(t *testing.T) {
	var out bytes.Buffer
	if err := app.Run(context.Background(), []string{"sophsapp", "version"}, nil, &out, io.Discard); err != nil || strings.TrimSpace(out.String()) == "" {
		t.Fatalf("version: %v %q", err, out.String())
	}
	if err := app.Run(context.Background(), []string{"sophsapp", "frobnicate"}, nil, io.Discard, io.Discard); !errors.Is(err, app.ErrUsage) {
		t.Fatalf("unknown command: %v", err)
	}
}

func TestMigrateCommand(t *testing.T) {
	env := apptest.Env(pgtest.NewDatabase(t))
	var out bytes.Buffer
	if err := app.Run(context.Background(), []string{"sophsapp", "migrate"}, env, &out, io.Discard); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "database is up to date") {
		t.Errorf("output: %s", out.String())
	}
}

func TestErrorsAreJSON(t *testing.T) {
	a := apptest.Start(t, map[string]string{"MAX_JSON_BYTES": "1024"})
	cases := []struct {
		name, method, path string
		body               string
		status             int
		chunked            bool // send the body without a Content-Length
	}{
		{"unknown api route", "GET", "/api/nope", "", http.StatusNotFound, false},
		{"unknown route outside api", "GET", "/index.php", "", http.StatusNotFound, false},
		{"unclean path", "POST", "/api/profiles//follow", "", http.StatusNotFound, false},
		{"dot segments", "GET", "/api/articles/../tags", "", http.StatusNotFound, false},
		{"wrong method", "POST", "/api/health", "", http.StatusMethodNotAllowed, false},
		{"body too large", "POST", "/api/users", strings.Repeat("x", 2048), http.StatusRequestEntityTooLarge, false},
		{"chunked body too large", "POST", "/api/users", `{"user":{"bio":"` + strings.Repeat("x", 2048) + `"}}`, http.StatusRequestEntityTooLarge, true},
		{"malformed JSON", "POST", "/api/users", `{"user":`, http.StatusUnprocessableEntity, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(c.body)
			if c.chunked {
				// A MultiReader hides the length: the body goes chunked
				// and only reading it reveals its size.
				body = io.MultiReader(body)
			}
			req, _ := http.NewRequest(c.method, a.URL+c.path, body)
			req.Header.Set("Content-Type", "application/json")
			resp, err := a.HTTP.Do(req) // the contract transport checks the JSON shape
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
			}
		})
	}
}

func TestRequestIDEcho(t *testing.T) {
	a := apptest.Start(t, nil)
	get := func(id string) string {
		req, _ := http.NewRequest("GET", a.URL+"/api/health", nil)
		if id != "" {
			req.Header.Set("X-Request-ID", id)
		}
		resp, err := a.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("X-Request-ID")
	}
	if got := get("abc-123.def"); got != "abc-123.def" {
		t.Errorf("incoming id not echoed: %q", got)
	}
	first, second := get(""), get("")
	if first == "" || first == second {
		t.Errorf("generated ids %q, %q", first, second)
	}
	if got := get("bad id\twith spaces"); got == "" || strings.ContainsAny(got, " \t") {
		t.Errorf("unsafe id was not replaced: %q", got)
	}
	line := a.RequestLog(t, "abc-123.def")
	for _, k := range []string{"time", "method", "path", "status", "duration_ms", "bytes", "client_ip", "request_id"} {
		if _, ok := line[k]; !ok {
			t.Errorf("access log lacks %q: %v", k, line)
		}
	}
	if ts, _ := line["time"].(string); !strings.HasSuffix(ts, "Z") {
		t.Errorf("timestamp %q is not UTC", ts)
	}
}

func TestClientIPFromTrustedProxyOnly(t *testing.T) {
	for name, c := range map[string]struct {
		trusted, wantIP, wantScheme string
	}{
		"loopback proxy trusted": {"127.0.0.1/32,::1/128", "203.0.113.7", "https"},
		"peer not trusted":       {"10.0.0.0/8", "127.0.0.1", "http"},
	} {
		t.Run(name, func(t *testing.T) {
			a := apptest.Start(t, map[string]string{"TRUSTED_PROXIES": c.trusted})
			req, _ := http.NewRequest("GET", a.URL+"/api/health", nil)
			req.Header.Set("X-Real-IP", "203.0.113.7")
			req.Header.Set("X-Forwarded-Proto", "https")
			req.Header.Set("X-Request-ID", "ip-check")
			resp, err := a.HTTP.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			line := a.RequestLog(t, "ip-check")
			if line["client_ip"] != c.wantIP || line["scheme"] != c.wantScheme {
				t.Errorf("logged client_ip=%v scheme=%v, want %s %s", line["client_ip"], line["scheme"], c.wantIP, c.wantScheme)
			}
		})
	}
}

// waitInFlight polls /metrics until at least n requests are in flight, or
// fails after 30 s.
func waitInFlight(t *testing.T, base string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "sophsapp_http_requests_in_flight "); ok {
					if f, err := strconv.ParseFloat(v, 64); err == nil && f >= float64(n) {
						return
					}
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d requests in flight after 30s (%v)", n, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGracefulShutdownFinishesInFlight sends half a request body, asks the
// server to stop, checks that new connections are refused while the
// accepted request is still answered, and that Serve then returns cleanly.
func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	a := apptest.Start(t, nil)
	addr := strings.TrimPrefix(a.URL, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"user":{"email":"","password":""}}`
	head := "POST /api/users/login HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	if _, err := io.WriteString(conn, head+body[:10]); err != nil {
		t.Fatal(err)
	}
	// Wait until the handler is reading the body: the in-flight gauge
	// counts this request and the scrape that asks. (A fixed sleep was not
	// enough on a busy machine: the connection was not even accepted yet.)
	waitInFlight(t, a.URL, 2)
	stopped := make(chan error, 1)
	go func() { stopped <- a.Stop() }()
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-stopped:
		t.Fatalf("server stopped with a request in flight: %v", err)
	default:
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("a new connection was accepted during shutdown")
	}
	if _, err := io.WriteString(conn, body[10:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request got no answer: %v", err)
	}
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(got), "email can't be blank") {
		t.Errorf("in-flight request: %d %s", resp.StatusCode, got)
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop after the in-flight request finished")
	}
}

// TestDotEnv checks that ./.env fills in variables the environment lacks
// and that the environment wins where both set one.
func TestDotEnv(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.WriteFile(".env", []byte("# local settings\nLOG_LEVEL=chatty\nSHUTDOWN_TIMEOUT=soon\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	env := map[string]string{"SHUTDOWN_TIMEOUT": "5s"}
	if err := app.Run(context.Background(), []string{"sophsapp", "serve"}, env, io.Discard, &stderr); err == nil {
		t.Fatal("a broken .env was accepted")
	}
	if !strings.Contains(stderr.String(), "LOG_LEVEL") {
		t.Errorf("LOG_LEVEL from .env was not read:\n%s", stderr.String())
	}
	if strings.Contains(stderr.String(), "SHUTDOWN_TIMEOUT") {
		t.Errorf(".env overrode the environment's SHUTDOWN_TIMEOUT:\n%s", stderr.String())
	}
}
