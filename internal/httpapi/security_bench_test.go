package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sophsapp/sophsapp/gen/db"
	"github.com/sophsapp/sophsapp/internal/apptest"
	"github.com/sophsapp/sophsapp/internal/httpapi"
	"github.com/sophsapp/sophsapp/internal/pgtest"
)

// These benchmarks print figures for docs/SECURITY.md (`make bench`); they
// never pass or fail on them. A measurement takes seconds, so b.Loop runs
// it once or twice.

// memoryPeak samples the process's heap and resident memory until stop is
// called, and returns the peaks in MiB. The resident figure is the whole
// test process: server, clients and the runtime.
func memoryPeak() (stop func() (heapMiB, rssMiB float64)) {
	runtime.GC()
	debug.FreeOSMemory()
	// Reset the kernel's high-water mark of resident memory (VmHWM).
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	var peakHeap, peakRSS atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			heap := sample[0].Value.Uint64() + sample[1].Value.Uint64()
			if heap > peakHeap.Load() {
				peakHeap.Store(heap)
			}
			if rss := procStatusKiB("VmRSS") << 10; rss > peakRSS.Load() {
				peakRSS.Store(rss)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() (float64, float64) {
		close(done)
		<-finished
		rss := max(peakRSS.Load(), procStatusKiB("VmHWM")<<10)
		return float64(peakHeap.Load()) / (1 << 20), float64(rss) / (1 << 20)
	}
}

// procStatusKiB reads a kB field of /proc/self/status; 0 when unknown.
func procStatusKiB(field string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// padTo pads a JSON object with spaces before its final brace to n bytes.
func padTo(doc string, n int) []byte {
	return []byte(doc[:len(doc)-1] + strings.Repeat(" ", n-len(doc)) + "}")
}

// BenchmarkParallelMaxJSONBodies sends, from 20 clients at once, JSON bodies
// of the maximum size (MAX_JSON_BYTES, 1 MiB) shaped to cost the server the
// most, and reports the peak heap and resident memory of the process.
func BenchmarkParallelMaxJSONBodies(b *testing.B) {
	a := apptest.Start(b, map[string]string{"LOG_LEVEL": "error"})
	token := registerB(b, a, "jake")
	const size = 1 << 20
	escaped := strings.Repeat(`\u003c`, 100000/2) + strings.Repeat(`\n`, 100000/2) // 100,000 characters, 6 and 2 bytes each
	shapes := []struct {
		name, method, path string
		body               []byte
	}{
		// Half a million tiny values: refused by the shape check before
		// any generic decoding (which would cost 55 MB per body).
		{"tiny-values", "PUT", "/api/user", padTo(`{"user":{"bio":"x","junk":[`+strings.Repeat("0,", size/2-40)+`0]}}`, size)},
		// 10,000 strings of 100 bytes in a member the update ignores: the
		// most values allowed, all decoded by the validator.
		{"10k-strings", "PUT", "/api/user", padTo(`{"user":{"bio":"x","junk":[`+strings.Repeat(`"`+strings.Repeat("s", 98)+`",`, 9990)+`"s"]}}`, size)},
		// The largest valid article body, escaped, padded to 1 MiB.
		{"largest-article", "POST", "/api/articles", padTo(`{"article":{"title":"t","description":"d","body":"`+escaped+`","tagList":[]}}`, size)},
		// One string of 1 MiB (refused by maxLength after decoding).
		{"one-string", "POST", "/api/users/login", padTo(`{"user":{"email":"a@b.co","password":"`+strings.Repeat("p", size-60)+`"}}`, size)},
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 20}, Timeout: time.Minute}
	for _, shape := range shapes {
		b.Run(shape.name, func(b *testing.B) {
			for b.Loop() {
				stop := memoryPeak()
				start := time.Now()
				statuses := map[int]int{}
				var mu sync.Mutex
				var wg sync.WaitGroup
				const clients, rounds = 20, 3
				for range clients {
					wg.Go(func() {
						for range rounds {
							req, _ := http.NewRequest(shape.method, a.URL+shape.path, bytes.NewReader(shape.body))
							req.Header.Set("Content-Type", "application/json")
							req.Header.Set("Authorization", "Token "+token)
							resp, err := client.Do(req)
							code := -1
							if err == nil {
								_, _ = io.Copy(io.Discard, resp.Body)
								resp.Body.Close()
								code = resp.StatusCode
							}
							mu.Lock()
							statuses[code]++
							mu.Unlock()
						}
					})
				}
				wg.Wait()
				heap, rss := stop()
				b.ReportMetric(heap, "peak-heap-MiB")
				b.ReportMetric(rss, "peak-RSS-MiB")
				b.ReportMetric(float64(clients*rounds)/time.Since(start).Seconds(), "bodies/s")
				b.Logf("%s: %d bytes × %d clients × %d rounds: statuses %v, peak heap %.1f MiB, peak RSS %.1f MiB",
					shape.name, len(shape.body), clients, rounds, statuses, heap, rss)
			}
		})
	}
}

// BenchmarkTagsDuringLoginFlood reports GET /api/tags latency (p50, p99)
// from 4 clients, alone and while 40 clients send wrong logins as fast as
// they can, each from a new address and for a new account (as a botnet
// would, so the throttle never answers for bcrypt). It compares the default
// bound on concurrent password hashing with no bound.
func BenchmarkTagsDuringLoginFlood(b *testing.B) {
	a := apptest.Start(b, map[string]string{"LOG_LEVEL": "error"})
	token := registerB(b, a, "jake")
	for i := range 10 {
		body := fmt.Sprintf(`{"article":{"title":"A %d","description":"d","body":"b","tagList":["t%d","go"]}}`, i, i)
		req, _ := http.NewRequest("POST", a.URL+"/api/articles", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Token "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusCreated {
			b.Fatalf("seed article: %v", err)
		}
		resp.Body.Close()
	}
	const phase = 4 * time.Second
	var seq atomic.Int64
	run := func(name string, flood bool) {
		ctx, cancel := context.WithTimeout(context.Background(), phase)
		defer cancel()
		var wg sync.WaitGroup
		var logins, loginErrors atomic.Int64
		if flood {
			for range 40 {
				wg.Go(func() {
					c := &http.Client{Timeout: time.Minute}
					for ctx.Err() == nil {
						n := seq.Add(1)
						body := fmt.Sprintf(`{"user":{"email":"nobody%d@example.com","password":"wrong-password"}}`, n)
						req, _ := http.NewRequestWithContext(ctx, "POST", a.URL+"/api/users/login", strings.NewReader(body))
						req.Header.Set("Content-Type", "application/json")
						req.Header.Set("X-Real-IP", fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255))
						resp, err := c.Do(req)
						if err != nil {
							continue
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode == http.StatusUnauthorized {
							logins.Add(1)
						} else {
							loginErrors.Add(1)
						}
					}
				})
			}
			time.Sleep(200 * time.Millisecond) // let the flood build up
		}
		var mu sync.Mutex
		var latencies []time.Duration
		var tagErrors atomic.Int64
		var tags sync.WaitGroup
		for range 4 {
			tags.Go(func() {
				c := &http.Client{Timeout: time.Minute}
				for ctx.Err() == nil {
					t0 := time.Now()
					resp, err := c.Get(a.URL + "/api/tags")
					if err != nil {
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						tagErrors.Add(1)
						continue
					}
					mu.Lock()
					latencies = append(latencies, time.Since(t0))
					mu.Unlock()
				}
			})
		}
		tags.Wait()
		wg.Wait()
		slices.Sort(latencies)
		pct := func(p float64) float64 {
			if len(latencies) == 0 {
				return 0
			}
			return float64(latencies[int(float64(len(latencies)-1)*p)].Microseconds()) / 1000
		}
		b.ReportMetric(pct(0.50), name+"-tags-p50-ms")
		b.ReportMetric(pct(0.99), name+"-tags-p99-ms")
		if flood {
			b.ReportMetric(float64(logins.Load())/phase.Seconds(), name+"-wrong-logins/s")
		}
		b.Logf("%s: %d tags requests, p50 %.2f ms, p99 %.2f ms, %d tag errors; %d wrong logins answered 401, %d otherwise",
			name, len(latencies), pct(0.5), pct(0.99), tagErrors.Load(), logins.Load(), loginErrors.Load())
	}
	for b.Loop() {
		run("idle", false)
		run("flood", true)
		restore := httpapi.SetHashSlots(runtime.GOMAXPROCS(0))
		run("flood-numcpu-slots", true)
		restore()
		restore = httpapi.SetHashSlots(1000)
		run("flood-unbounded", true)
		restore()
	}
}

// BenchmarkTokenCheck reports what the revocation check costs an
// authenticated request: the check alone in a round trip of its own (as a
// transaction's request pays it), and GET /api/profiles/{username}
// anonymous and with a token (JWT verification, the check sent with the
// profile's statement, and the following flag).
func BenchmarkTokenCheck(b *testing.B) {
	url := pgtest.NewDatabase(b)
	env := apptest.Env(url)
	env["LOG_LEVEL"] = "error"
	a := apptest.StartEnv(b, env)
	token := registerB(b, a, "jake")
	registerB(b, a, "bob")
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	b.Run("check-alone", func(b *testing.B) {
		q := db.New(pool)
		for b.Loop() {
			if err := q.CheckToken(context.Background(), db.CheckTokenParams{UserID: 1}); err != nil {
				b.Fatal(err)
			}
		}
	})
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	for _, authn := range []bool{false, true} {
		name := map[bool]string{false: "anonymous", true: "with-token"}[authn]
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				req, _ := http.NewRequest("GET", a.URL+"/api/profiles/bob", nil)
				if authn {
					req.Header.Set("Authorization", "Token "+token)
				}
				resp, err := c.Do(req)
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("profile: %v", err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

// registerB registers name (password "password-"+name) and returns its
// token.
func registerB(b *testing.B, a *apptest.App, name string) string {
	b.Helper()
	body := fmt.Sprintf(`{"user":{"username":%q,"email":"%s@example.com","password":"password-%s"}}`, name, name, name)
	resp, err := http.Post(a.URL+"/api/users", "application/json", strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		User struct{ Token string } `json:"user"`
	}
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("register %s: %d", name, resp.StatusCode)
	}
	if err := jsonDecode(resp.Body, &out); err != nil {
		b.Fatal(err)
	}
	return out.User.Token
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
