package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sophsapp/sophsapp/internal/apptest"
	"github.com/sophsapp/sophsapp/internal/pgtest"
)

// Phases of the rolling restart, in order. Each request is counted in the
// phase in which it started.
const (
	phaseSteady = iota
	phaseStop1  // instance 1 drains and stops
	phaseDown1  // instance 1 does not listen
	phaseStart1 // instance 1 starts again, until it answers its health check
	phaseMiddle
	phaseStop2
	phaseDown2
	phaseStart2
	phaseAfter
	nPhases
)

var phaseNames = [nPhases]string{"steady", "stop 1", "down 1", "start 1", "between", "stop 2", "down 2", "start 2", "after"}

// TestRollingRestartBehindNginx runs two instances of the app on one
// database behind the shipped Nginx site with both in its upstream, and
// restarts them one after the other while clients send GET requests
// through Nginx over HTTPS with keep-alive. Each restart is a graceful stop,
// a pause in which nothing listens on the instance's port (so Nginx's
// connections are refused, a harsher case than systemd's socket, which
// keeps accepting), and a fresh start on the same port. Every request must
// succeed: Nginx passes a GET that the stopping or stopped instance could
// not serve to the other one.
func TestRollingRestartBehindNginx(t *testing.T) {
	db := pgtest.NewDatabase(t)
	addr := [2]string{freeAddr(t), freeAddr(t)}
	for addr[1] == addr[0] {
		addr[1] = freeAddr(t)
	}
	start := func(i int) *apptest.App {
		env := apptest.Env(db)
		env["LISTEN_ADDR"] = addr[i]
		env["LOG_LEVEL"] = "warn" // the test's thousands of requests would fill the log
		return apptest.StartEnv(t, env)
	}
	apps := [2]*apptest.App{start(0), start(1)}
	seedArticles(t, apps[0], 3)
	p := startNginx(t, addr[0], addr[1])

	// Clients. Nginx allows each client address 10 requests/s with bursts
	// of 20; every address here sends at most 8/s, so none is ever limited
	// and a 429 is a failure like any other.
	const (
		workers        = 6
		addrsPerWorker = 16
		perAddrGap     = 125 * time.Millisecond // 8 requests/s per address
		maxRequests    = 40000
		maxDuration    = 40 * time.Second
	)
	paths := []string{"/api/articles", "/api/tags", "/api/health", "/api/articles?limit=2&offset=1"}
	var (
		phase    atomic.Int32
		stopLoad = make(chan struct{})
		issued   atomic.Int64
		count    [nPhases]atomic.Int64
		failed   [nPhases]atomic.Int64
		mu       sync.Mutex
		failures []string
		wg       sync.WaitGroup
	)
	loadDeadline := time.Now().Add(maxDuration)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			type source struct {
				c    *http.Client
				next time.Time
			}
			var sources []*source
			for i := range addrsPerWorker {
				sources = append(sources, &source{c: p.client(fmt.Sprintf("127.0.3.%d", 1+w*addrsPerWorker+i), false)})
			}
			defer func() {
				for _, s := range sources {
					s.c.CloseIdleConnections()
				}
			}()
			for n := 0; ; n++ {
				select {
				case <-stopLoad:
					return
				default:
				}
				if issued.Add(1) > maxRequests || time.Now().After(loadDeadline) {
					return
				}
				s := sources[n%len(sources)]
				if d := time.Until(s.next); d > 0 {
					time.Sleep(d)
				}
				s.next = time.Now().Add(perAddrGap)
				ph := phase.Load()
				path := paths[n%len(paths)]
				err := get(s.c, p.httpsURL(path))
				count[ph].Add(1)
				if err != nil {
					failed[ph].Add(1)
					mu.Lock()
					if len(failures) < 20 {
						failures = append(failures, fmt.Sprintf("%s, during %q: %v", path, phaseNames[ph], err))
					}
					mu.Unlock()
				}
			}
		}()
	}
	loadStopped := false
	endLoad := func() {
		if !loadStopped {
			loadStopped = true
			close(stopLoad)
			wg.Wait()
		}
	}
	defer endLoad()

	// settle lets the load run in a phase for a while, so that every phase
	// sees requests.
	settle := func(ph int, d time.Duration) {
		phase.Store(int32(ph))
		time.Sleep(d)
	}
	began := time.Now()
	settle(phaseSteady, 500*time.Millisecond)
	var restartTimes [2]time.Duration
	for i := range apps {
		t0 := time.Now()
		phase.Store(int32(phaseStop1 + 4*i))
		if err := apps[i].Stop(); err != nil {
			t.Fatalf("instance %d: graceful stop: %v", i+1, err)
		}
		settle(phaseDown1+4*i, 300*time.Millisecond)
		phase.Store(int32(phaseStart1 + 4*i))
		apps[i] = start(i)
		apptest.WaitHealthy(t, "http://"+addr[i], 15*time.Second, nil)
		restartTimes[i] = time.Since(t0)
		settle(phaseMiddle+4*i, 500*time.Millisecond)
	}
	endLoad()
	elapsed := time.Since(began)

	var total, totalFailed int64
	var perPhase []string
	for ph := range nPhases {
		n, f := count[ph].Load(), failed[ph].Load()
		total += n
		totalFailed += f
		perPhase = append(perPhase, fmt.Sprintf("%s %d/%d", phaseNames[ph], n-f, n))
	}
	retried, served := nginxUpstreams(t, p, addr, total)
	t.Logf("%d requests in %s (%.0f/s) through Nginx, %d failed; restarts took %s and %s", total, elapsed.Round(time.Millisecond),
		float64(total)/elapsed.Seconds(), totalFailed, restartTimes[0].Round(time.Millisecond), restartTimes[1].Round(time.Millisecond))
	t.Logf("succeeded/sent per phase: %s", strings.Join(perPhase, ", "))
	t.Logf("answered by instance 1: %d, instance 2: %d; passed to the other instance after a failed try: %d", served[0], served[1], retried)

	if totalFailed > 0 {
		t.Errorf("%d of %d requests failed:\n%s", totalFailed, total, strings.Join(failures, "\n"))
	}
	// The test proves something only if requests met each instance while
	// it stopped and while it was down.
	for _, ph := range []int{phaseSteady, phaseStop1, phaseDown1, phaseStart1, phaseStop2, phaseDown2, phaseStart2, phaseAfter} {
		if count[ph].Load() == 0 && ph != phaseStop1 && ph != phaseStop2 {
			t.Errorf("no request during %q: the load is too thin to prove anything", phaseNames[ph])
		}
	}
	if issued.Load() > maxRequests || time.Since(began) > maxDuration {
		t.Errorf("the load stopped at its bound (%d requests, %s) before the restarts ended", maxRequests, maxDuration)
	}
	if retried == 0 {
		t.Error("Nginx never passed a request to the other instance: the restarts were not exercised")
	}
	if served[0] == 0 || served[1] == 0 {
		t.Errorf("requests answered per instance %v: both must serve", served)
	}
}

// get sends a GET and fails unless the answer is 2xx JSON, read in full.
func get(c *http.Client, url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	req.Host = testServerName
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("status %d, reading body: %w", resp.StatusCode, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("status %d: %.200s", resp.StatusCode, body)
	}
	if !json.Valid(body) {
		return fmt.Errorf("status %d, body not JSON: %.200s", resp.StatusCode, body)
	}
	return nil
}

// nginxUpstreams reads Nginx's access log, once it holds want lines (it
// waits at most accessLogWait): how many requests each instance answered,
// and how many were passed on after a failed try (their upstream field
// lists more than one address).
func nginxUpstreams(t *testing.T, p *proxy, addr [2]string, want int64) (retried int, served [2]int) {
	t.Helper()
	var lines [][]byte
	for deadline := time.Now().Add(accessLogWait); ; time.Sleep(50 * time.Millisecond) {
		b, err := os.ReadFile(p.accessLog)
		if err != nil {
			t.Fatal(err)
		}
		lines = bytes.Split(b, []byte("\n"))
		if int64(bytes.Count(b, []byte(`"upstream":"`))) >= want || time.Now().After(deadline) {
			break
		}
	}
	for _, line := range lines {
		var m struct{ Upstream string }
		if json.Unmarshal(line, &m) != nil || m.Upstream == "" {
			continue
		}
		tries := strings.Split(m.Upstream, ", ")
		if len(tries) > 1 {
			retried++
		}
		for i, a := range addr {
			if tries[len(tries)-1] == a {
				served[i]++
			}
		}
	}
	return retried, served
}

// seedArticles creates a user and n articles through instance a, so that
// the lists under load are not empty.
func seedArticles(t *testing.T, a *apptest.App, n int) {
	t.Helper()
	post := func(path, token, body string) []byte {
		headers := map[string]string{"Content-Type": "application/json"}
		if token != "" {
			headers["Authorization"] = "Token " + token
		}
		resp, b := a.Send(t, "POST", path, headers, strings.NewReader(body))
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: status %d: %s", path, resp.StatusCode, b)
		}
		return b
	}
	var u struct{ User struct{ Token string } }
	if err := json.Unmarshal(post("/api/users", "", `{"user":{"username":"roller","email":"roller@example.test","password":"roller-password-1"}}`), &u); err != nil || u.User.Token == "" {
		t.Fatalf("register: %v", err)
	}
	for i := range n {
		post("/api/articles", u.User.Token, fmt.Sprintf(`{"article":{"title":"Rolling %d","description":"d","body":"b","tagList":["roll","t%d"]}}`, i, i))
	}
}
