package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/internal/apptest"
	"github.com/sophsapp/sophsapp/internal/pgtest"
)

// get fetches path and returns the status, body and time taken.
func get(t *testing.T, a *apptest.App, path string) (int, string, time.Duration) {
	t.Helper()
	start := time.Now()
	resp, err := a.HTTP.Get(a.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), time.Since(start)
}

// TestDatabaseLoss stops PostgreSQL under the running server: every
// endpoint answers 503 JSON quickly, and all recover by themselves within 5 s
// of PostgreSQL's return.
func TestDatabaseLoss(t *testing.T) {
	cluster, err := pgtest.StartCluster("")
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Remove()
	env := apptest.Env(cluster.URL("postgres"))
	env["MIGRATE_ON_START"] = "true"
	a := apptest.StartEnv(t, env)
	// GET /api/tags comes last: it is answered from memory while the
	// server listens for notifications, and the server finds its
	// listening session lost a moment after PostgreSQL stops.
	paths := []string{"/api/articles", "/api/profiles/nobody", "/api/articles/some-slug/comments", "/api/tags"}
	for _, p := range paths {
		if code, body, _ := get(t, a, p); code >= 500 {
			t.Fatalf("before the outage GET %s: %d %s", p, code, body)
		}
	}

	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, p := range append(paths, "/api/health") {
		code, body, took := get(t, a, p)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, `"unavailable"`) && !strings.Contains(body, `"errors"`) {
			t.Errorf("database down, GET %s: %d %s", p, code, body)
		}
		if took > 2*time.Second {
			t.Errorf("database down, GET %s took %s", p, took)
		}
		t.Logf("database down: GET %s → %d in %s", p, code, took.Round(time.Millisecond))
	}

	if err := cluster.Start(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	for _, p := range append(paths, "/api/health") {
		for {
			code, _, _ := get(t, a, p)
			if code < 500 {
				break
			}
			if time.Since(back) > 5*time.Second {
				t.Fatalf("GET %s still failing 5s after PostgreSQL returned", p)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Logf("recovered %s after PostgreSQL returned", time.Since(back).Round(time.Millisecond))
}

// blockedPath is an anonymous read that needs the tags table: it blocks
// in PostgreSQL while lockTags holds it. (GET /api/tags itself may be
// answered from memory, see internal/httpapi/tags.go.)
const blockedPath = "/api/articles?tag=locked"

// lockTags holds an exclusive lock on the tags table, so blockedPath
// blocks in PostgreSQL until release is called.
func lockTags(t *testing.T, url string) (release func()) {
	t.Helper()
	release, _ = lockTagsFrom(t, url)
	return release
}

// lockTagsFrom is lockTags that also returns the backend pid of the
// session holding the lock.
func lockTagsFrom(t *testing.T, url string) (release func(), pid int) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	pid = int(conn.PgConn().PID())
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE tags IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			_ = tx.Rollback(ctx)
			_ = conn.Close(ctx)
		})
	}
	t.Cleanup(release)
	return release, pid
}

// waitingOnLock counts the server's queries stuck behind lockTags.
func waitingOnLock(t *testing.T, url string) int {
	t.Helper()
	return pgtest.Ints(t, url, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%FROM tags%'`)[0]
}

// TestSlowQueryCancelledWhenClientLeaves checks that a query blocked in
// PostgreSQL is cancelled as soon as its client hangs up.
func TestSlowQueryCancelledWhenClientLeaves(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a := apptest.StartEnv(t, apptest.Env(url))
	lockTags(t, url)

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", a.URL+blockedPath, nil)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("the request finished although its query was blocked")
	}
	deadline := time.Now().Add(2 * time.Second)
	for waitingOnLock(t, url) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the query was still running 2s after its client left")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// appBackends lists the PostgreSQL backends serving the app: every client
// backend of the database but the caller's own and except.
func appBackends(t *testing.T, url string, except ...int) map[int]bool {
	t.Helper()
	pids := pgtest.Ints(t, url, `SELECT pid FROM pg_stat_activity
		WHERE datname = current_database() AND backend_type = 'client backend'
		AND pid <> pg_backend_pid() AND pid <> ALL($1)`, append([]int{}, except...))
	set := map[int]bool{}
	for _, p := range pids {
		set[p] = true
	}
	return set
}

// TestCancelledQueryKeepsItsConnection checks that a query cut short by
// its client hanging up, or by the request deadline, is cancelled inside
// PostgreSQL and its connection kept (and a 499 or 503, never a 500): closing the connection instead (pgx's
// default) makes every client that hangs up cost a PostgreSQL backend, and
// the next request a new connection.
func TestCancelledQueryKeepsItsConnection(t *testing.T) {
	url := pgtest.NewDatabase(t)
	env := apptest.Env(url)
	env["REQUEST_TIMEOUT"] = "700ms"
	a := apptest.StartEnv(t, env)
	if code, body, _ := get(t, a, blockedPath); code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", blockedPath, code, body)
	}
	before := appBackends(t, url)
	if len(before) == 0 {
		t.Fatal("the app holds no connection to PostgreSQL")
	}

	for _, how := range []string{"client hangs up", "deadline"} {
		release, lockPID := lockTagsFrom(t, url)
		if how == "client hangs up" {
			rctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			req, _ := http.NewRequestWithContext(rctx, "GET", a.URL+blockedPath, nil)
			if _, err := http.DefaultClient.Do(req); err == nil {
				t.Fatal("the request finished although its query was blocked")
			}
			cancel()
		} else if code, body, _ := get(t, a, blockedPath); code != http.StatusServiceUnavailable || !strings.Contains(body, `"errors"`) {
			t.Fatalf("blocked query past the deadline: %d %s", code, body)
		}
		apptest.WaitFor(t, "the blocked query to be cancelled", func() bool { return waitingOnLock(t, url) == 0 })
		release()

		if code, body, _ := get(t, a, blockedPath); code != http.StatusOK {
			t.Fatalf("%s, then GET %s: %d %s", how, blockedPath, code, body)
		}
		// The pool may have opened another connection for that request
		// while the cancelled one finished its cancel; the first must
		// still be there.
		after := appBackends(t, url, lockPID)
		for pid := range before {
			if !after[pid] {
				t.Errorf("%s: the app's connection to PostgreSQL (backend %d) was closed; now: %v", how, pid, after)
			}
		}
	}
	if strings.Contains(a.Logs(), `"status":500`) {
		t.Errorf("a cancelled query was answered 500:\n%s", a.Logs())
	}
}

// TestRequestDeadline checks that REQUEST_TIMEOUT bounds a request whose
// query is blocked: 503 JSON on time, and the query is cancelled.
func TestRequestDeadline(t *testing.T) {
	url := pgtest.NewDatabase(t)
	env := apptest.Env(url)
	env["REQUEST_TIMEOUT"] = "700ms"
	a := apptest.StartEnv(t, env)
	lockTags(t, url)
	code, body, took := get(t, a, blockedPath)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"errors"`) {
		t.Fatalf("blocked query past the deadline: %d %s", code, body)
	}
	if took > 2*time.Second {
		t.Errorf("answered after %s with a 700ms deadline", took)
	}
	if n := waitingOnLock(t, url); n != 0 {
		t.Errorf("%d queries still waiting after the deadline", n)
	}
}

// TestGracefulStopUnderLoad stops the server while clients send a steady
// stream of requests, some of them held in flight by a lock: every request
// the server accepted must succeed, and Serve must return cleanly within
// SHUTDOWN_TIMEOUT. Requests sent after the listener closed are refused at
// connect, which is how a client (or Nginx) knows to go elsewhere.
func TestGracefulStopUnderLoad(t *testing.T) {
	url := pgtest.NewDatabase(t)
	env := apptest.Env(url)
	env["SHUTDOWN_TIMEOUT"] = "5s"
	a := apptest.StartEnv(t, env)

	load := apptest.StartLoad([]string{a.URL + blockedPath}, 8, 5000)
	time.Sleep(500 * time.Millisecond)
	// Hold the next requests inside the server while it is told to stop.
	release := lockTags(t, url)
	time.Sleep(200 * time.Millisecond)
	stopStart := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- a.Stop() }()
	time.Sleep(300 * time.Millisecond)
	release()
	var stopErr error
	select {
	case stopErr = <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop")
	}
	took := time.Since(stopStart)
	time.Sleep(100 * time.Millisecond)
	res := load.Stop()

	t.Logf("graceful stop under load: %d succeeded, %d refused after close, %d failed; stop took %s",
		res.OK, res.Refused, res.Failed, took.Round(time.Millisecond))
	if stopErr != nil {
		t.Errorf("Serve returned %v", stopErr)
	}
	for _, f := range res.Failures {
		t.Errorf("failure: %s", f)
	}
	if res.OK == 0 || res.Refused == 0 {
		t.Errorf("the load did not straddle the stop (ok=%d refused=%d)", res.OK, res.Refused)
	}
	if took > 5*time.Second {
		t.Errorf("stop took %s, beyond SHUTDOWN_TIMEOUT", took)
	}
}

func TestMetrics(t *testing.T) {
	a := apptest.Start(t, nil)
	for range 2 {
		get(t, a, "/api/health")
	}
	get(t, a, "/api/no-such-thing")
	code, body, _ := get(t, a, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", code)
	}
	for _, want := range []string{
		`sophsapp_http_requests_total{method="GET",operation="GetHealth",status="200"} 2`,
		`sophsapp_http_requests_total{method="other",operation="none",status="404"} 1`,
		`sophsapp_http_request_duration_seconds_bucket{operation="GetHealth",status="200",le="+Inf"} 2`,
		`sophsapp_http_requests_in_flight 1`, // the scrape itself
		`sophsapp_db_pool_total_connections `,
		`sophsapp_db_pool_acquired_connections `,
		`sophsapp_db_pool_idle_connections `,
		`sophsapp_db_pool_acquire_waits_total `,
		`sophsapp_db_pool_acquire_wait_seconds_total `,
		`sophsapp_build_info{version="dev"} 1`,
		`go_build_info{`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestDrainLosesNoAcceptedRequest stops the server under load from clients
// that never retry (raw keep-alive connections, as wrk makes). Every
// request on a connection the server accepted must get a complete answer:
// during the drain each answer closes its connection, so no client sends a
// request on a connection the server is about to close as idle, and health
// says "draining". Connections still in the listen backlog when the
// listener closes are reset by the kernel; the server never accepted them,
// so they are counted apart (Serve's documentation says what covers them).
func TestDrainLosesNoAcceptedRequest(t *testing.T) {
	const drain = 3 * time.Second
	env := apptest.Env(pgtest.NewDatabase(t))
	env["SHUTDOWN_DRAIN"] = drain.String()
	env["LOG_LEVEL"] = "warn" // thousands of requests
	a := apptest.StartEnv(t, env)
	// Opened before the stop, to ask for health during the drain.
	probe, err := net.Dial("tcp", a.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	probeReader := bufio.NewReader(probe)
	health := func() (*http.Response, api.Health) {
		t.Helper()
		_ = probe.SetDeadline(time.Now().Add(15 * time.Second))
		if _, err := io.WriteString(probe, "GET /api/health HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(probeReader, nil)
		if err != nil {
			t.Fatalf("health: %v", err)
		}
		defer resp.Body.Close()
		var h api.Health
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
			t.Fatalf("health: %v", err)
		}
		return resp, h
	}
	// Healthy before the stop (the first ping may time out on a busy
	// machine while the pool connects).
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, h := health()
		if resp.StatusCode == http.StatusOK && !resp.Close && h.Status == api.HealthStatusOk {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("health before the stop: %d %+v close=%v", resp.StatusCode, h, resp.Close)
		}
		time.Sleep(50 * time.Millisecond)
	}

	load := apptest.StartRawLoad(a.Addr, "/api/tags", 16)
	for deadline := time.Now().Add(30 * time.Second); load.Succeeded() < 200; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d requests answered in 30s", load.Succeeded())
		}
		time.Sleep(10 * time.Millisecond)
	}
	closedBefore := load.Closed()
	stopStart := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- a.Stop() }()

	// The drain starts as soon as Serve sees the stop: health turns 503
	// "draining" and closes its connection.
	for {
		resp, h := health()
		if resp.StatusCode == http.StatusOK {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		if resp.StatusCode != http.StatusServiceUnavailable || h.Status != api.HealthStatusDraining || h.Database != api.HealthDatabaseOk || !resp.Close {
			t.Errorf("health while draining: %d %+v, Connection: close %v", resp.StatusCode, h, resp.Close)
		}
		break
	}

	var stopErr error
	select {
	case stopErr = <-stopped:
	case <-time.After(time.Minute):
		t.Fatal("the server did not stop")
	}
	took := time.Since(stopStart)
	// The load meets the closed listener.
	for deadline := time.Now().Add(10 * time.Second); load.Refused() == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	res := load.Stop()

	var lost, backlog []apptest.RawFailure
	for _, f := range res.Failures {
		if a.Accepted(f.Local) {
			lost = append(lost, f)
		} else {
			backlog = append(backlog, f)
		}
	}
	t.Logf("drain of %s under raw keep-alive load: %d answered, %d non-2xx, %d connections closed by the server during the drain; "+
		"%d failed on accepted connections, %d reset in the listen backlog, %d refused after the listener closed; stop took %s",
		drain, res.OK, res.Non2xx, res.Closed-closedBefore, len(lost), len(backlog), res.Refused, took.Round(time.Millisecond))
	if stopErr != nil {
		t.Errorf("Serve returned %v", stopErr)
	}
	for _, f := range lost {
		t.Errorf("request %d on connection %s, which the server accepted, failed: %s", f.Nth, f.Local, f.Err)
	}
	if res.Non2xx != 0 {
		t.Errorf("%d answers were not 2xx: %v", res.Non2xx, res.Statuses)
	}
	if res.Closed == closedBefore {
		t.Error("no connection was closed by the server during the drain")
	}
	if res.Refused == 0 {
		t.Error("the load did not go on past the stop")
	}
	if took < drain {
		t.Errorf("the server stopped after %s, before the drain of %s was over", took, drain)
	}
}

// TestUnmatchedOperationLabel: a request that matches no operation has the
// same operation label in the access log as in the metrics.
func TestUnmatchedOperationLabel(t *testing.T) {
	a := apptest.Start(t, nil)
	req, _ := http.NewRequest("GET", a.URL+"/api/no-such-thing", nil)
	req.Header.Set("X-Request-ID", "unmatched-1")
	resp, err := a.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	line := a.RequestLog(t, "unmatched-1")
	if line["operation"] != "none" {
		t.Errorf("access log operation %q, want the metrics' \"none\"", line["operation"])
	}
	if _, body, _ := get(t, a, "/metrics"); !strings.Contains(body, `operation="none",status="404"`) {
		t.Error("the metrics do not count the request under operation \"none\"")
	}
}
