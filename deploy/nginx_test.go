package deploy_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sophsapp/sophsapp/internal/apptest"
)

// maxBody is the app's MAX_JSON_BYTES default and Nginx's
// client_max_body_size 1m.
const maxBody = 1 << 20

// TestNginxInFrontOfApp runs the shipped site in a private Nginx in front of
// the real app and its PostgreSQL. Each subtest connects from its own
// loopback address, so the per-address rate limit of one cannot affect
// another, and the app's log shows which address Nginx reported.
func TestNginxInFrontOfApp(t *testing.T) {
	a := apptest.Start(t, nil)
	p := startNginx(t, strings.TrimPrefix(a.URL, "http://"))

	t.Run("health over HTTPS", func(t *testing.T) {
		for _, h2 := range []bool{false, true} {
			r := do(t, p.client("127.0.0.10", h2), "GET", p.httpsURL("/api/health"), nil, nil)
			if r.StatusCode != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("status %d %q: %s", r.StatusCode, r.Header.Get("Content-Type"), r.body)
			}
			var h struct{ Status, Database string }
			if err := json.Unmarshal(r.body, &h); err != nil || h.Status != "ok" || h.Database != "ok" {
				t.Errorf("body %s", r.body)
			}
			if want := map[bool]int{false: 1, true: 2}[h2]; r.ProtoMajor != want {
				t.Errorf("protocol %s, want HTTP/%d", r.Proto, want)
			}
			if got := r.Header.Get("Strict-Transport-Security"); got != "max-age=63072000" {
				t.Errorf("HSTS %q", got)
			}
			if ids := r.Header.Values("X-Request-ID"); len(ids) != 1 || ids[0] == "" {
				t.Errorf("X-Request-ID %q, want exactly one", ids)
			}
			if s := r.Header.Get("Server"); s != "nginx" {
				t.Errorf("Server %q: the version should not be disclosed", s)
			}
		}
	})

	t.Run("TLS profile", func(t *testing.T) {
		handshake := func(cfg *tls.Config) error {
			cfg.RootCAs, cfg.ServerName = p.roots, testServerName
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", p.httpsAddr, cfg)
			if err == nil {
				c.Close()
			}
			return err
		}
		if err := handshake(&tls.Config{MinVersion: tls.VersionTLS13}); err != nil {
			t.Errorf("TLS 1.3: %v", err)
		}
		if err := handshake(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305}}); err != nil {
			t.Errorf("TLS 1.2 with ECDHE-ECDSA-CHACHA20-POLY1305: %v", err)
		}
		if err := handshake(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}); err == nil {
			t.Error("TLS 1.2 with a CBC suite was accepted")
		}
		if err := handshake(&tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}); err == nil {
			t.Error("TLS 1.1 was accepted")
		}
	})

	t.Run("plain HTTP redirects every host to HTTPS", func(t *testing.T) {
		c := p.client("127.0.0.11", false)
		for _, host := range []string{testServerName, "other.example", "127.0.0.1", "127.0.0.1:80"} {
			for _, method := range []string{"GET", "POST"} {
				id := "plain-http-" + method + "-" + strings.ReplaceAll(host, ":", ".")
				r := do(t, c, method, p.httpURL("/api/articles?limit=1&offset=2"), strings.NewReader("{}"), map[string]string{"Host": host, "X-Request-ID": id})
				if r.StatusCode != http.StatusPermanentRedirect {
					t.Errorf("%s Host %s: status %d, want 308", method, host, r.StatusCode)
				}
				if loc, want := r.Header.Get("Location"), "https://"+testServerName+"/api/articles?limit=1&offset=2"; loc != want {
					t.Errorf("%s Host %s: Location %q, want %q", method, host, loc, want)
				}
				assertNotProxied(t, a, id)
			}
		}
	})

	t.Run("ACME challenge over plain HTTP", func(t *testing.T) {
		token := "tok-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		content := token + ".thumbprint"
		writeFile(t, filepath.Join(p.webroot, ".well-known", "acme-challenge", token), content)
		c := p.client("127.0.0.12", false)
		for _, host := range []string{testServerName, "other.example"} {
			r := do(t, c, "GET", p.httpURL("/.well-known/acme-challenge/"+token), nil, map[string]string{"Host": host})
			if r.StatusCode != http.StatusOK || string(r.body) != content {
				t.Errorf("Host %s: status %d body %q, want 200 %q", host, r.StatusCode, r.body, content)
			}
		}
		r := do(t, c, "GET", p.httpURL("/.well-known/acme-challenge/missing"), nil, map[string]string{"Host": testServerName})
		if r.StatusCode != http.StatusNotFound {
			t.Errorf("missing token: status %d, want 404", r.StatusCode)
		}
	})

	t.Run("app sees the client address and https", func(t *testing.T) {
		r := do(t, p.client("127.0.0.13", false), "GET", p.httpsURL("/api/health"), nil, map[string]string{"X-Request-ID": "deploy-client-ip"})
		if r.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", r.StatusCode, r.body)
		}
		line := a.RequestLog(t, "deploy-client-ip")
		if line["client_ip"] != "127.0.0.13" || line["scheme"] != "https" {
			t.Errorf("app logged client_ip=%v scheme=%v, want 127.0.0.13 https", line["client_ip"], line["scheme"])
		}
	})

	t.Run("client-sent forwarding headers are not believed", func(t *testing.T) {
		r := do(t, p.client("127.0.0.14", true), "GET", p.httpsURL("/api/health"), nil, map[string]string{
			"X-Request-ID":      "deploy-spoof",
			"X-Real-IP":         "203.0.113.9",
			"X-Forwarded-For":   "203.0.113.10",
			"X-Forwarded-Proto": "http",
		})
		if r.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", r.StatusCode, r.body)
		}
		line := a.RequestLog(t, "deploy-spoof")
		if line["client_ip"] != "127.0.0.14" || line["scheme"] != "https" {
			t.Errorf("app logged client_ip=%v scheme=%v, want 127.0.0.14 https", line["client_ip"], line["scheme"])
		}
	})

	t.Run("one request id in both logs", func(t *testing.T) {
		c := p.client("127.0.0.15", false)
		// No id, and an id the app would refuse: Nginx makes one up.
		for _, sent := range []string{"", "not a valid id!"} {
			h := map[string]string{}
			if sent != "" {
				h["X-Request-ID"] = sent
			}
			r := do(t, c, "GET", p.httpsURL("/api/health"), nil, h)
			id := r.Header.Get("X-Request-ID")
			if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
				t.Fatalf("sent %q: response X-Request-ID %q, want Nginx's $request_id", sent, id)
			}
			appLine := a.RequestLog(t, id)
			if appLine["status"] != float64(200) {
				t.Errorf("app log: %v", appLine)
			}
			ngx := p.accessLogLine(t, id)
			if ngx["status"] != float64(200) || ngx["client_ip"] != "127.0.0.15" || ngx["uri"] != "/api/health" || ngx["nginx_request_id"] != id {
				t.Errorf("nginx log: %v", ngx)
			}
			if urt, _ := ngx["upstream_response_time"].(string); urt == "" || urt == "-" {
				t.Errorf("nginx log has no upstream_response_time: %v", ngx)
			} else if _, err := strconv.ParseFloat(urt, 64); err != nil {
				t.Errorf("upstream_response_time %q", urt)
			}
		}
		// A sane client id is kept end to end.
		r := do(t, c, "GET", p.httpsURL("/api/health"), nil, map[string]string{"X-Request-ID": "client-id-1:a_b.c"})
		if got := r.Header.Get("X-Request-ID"); got != "client-id-1:a_b.c" {
			t.Errorf("response X-Request-ID %q", got)
		}
		a.RequestLog(t, "client-id-1:a_b.c")
		p.accessLogLine(t, "client-id-1:a_b.c")
	})

	t.Run("only /api/ reaches the app", func(t *testing.T) {
		c := p.client("127.0.0.16", false)
		paths := []string{"/metrics", "/", "/api", "/index.html", "/.env", "/api/../metrics", "/api/%2e%2e/metrics", "/_errors/502.json"}
		for i, path := range paths {
			id := "not-proxied-" + strconv.Itoa(i)
			r := do(t, c, "GET", p.httpsURL(path), nil, map[string]string{"X-Request-ID": id})
			wantJSONError(t, r, http.StatusNotFound)
			assertNotProxied(t, a, id)
		}
	})

	t.Run("JSON body over 1 MiB is 413 JSON", func(t *testing.T) {
		c := p.client("127.0.0.17", false) // HTTP/1.1: see the site's note on HTTP/2
		for _, chunked := range []bool{false, true} {
			id := "too-large-chunked-" + strconv.FormatBool(chunked)
			body := io.Reader(io.LimitReader(zeros{}, maxBody+1))
			if !chunked {
				body = &sizedReader{body, maxBody + 1}
			}
			r := do(t, c, "POST", p.httpsURL("/api/users"), body, map[string]string{"X-Request-ID": id, "Content-Type": "application/json"})
			wantJSONError(t, r, http.StatusRequestEntityTooLarge)
			assertNotProxied(t, a, id)
		}
		// A body at the limit goes through (the app answers: not JSON).
		r := do(t, c, "POST", p.httpsURL("/api/users"), &sizedReader{io.LimitReader(zeros{}, maxBody), maxBody}, map[string]string{"X-Request-ID": "small-body", "Content-Type": "application/json"})
		if r.StatusCode == http.StatusRequestEntityTooLarge || r.StatusCode >= 500 {
			t.Errorf("1 MiB body: status %d %s", r.StatusCode, r.body)
		}
		a.RequestLog(t, "small-body")
	})

	t.Run("burst is rate limited per client, health exempt", func(t *testing.T) {
		c := p.client("127.0.0.18", true) // one HTTP/2 connection: the burst arrives at once
		const n = 80
		statuses := make([]response, n)
		var wg sync.WaitGroup
		start := time.Now()
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				resp, err := c.Get(p.httpsURL("/api/tags"))
				if err != nil {
					errs[i] = err
					return
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				statuses[i], errs[i] = response{resp, b}, err
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		limited, passed := 0, 0
		for i, r := range statuses {
			if errs[i] != nil {
				t.Fatalf("request %d of the burst: %v", i, errs[i])
			}
			if r.StatusCode == http.StatusTooManyRequests {
				limited++
				wantJSONError(t, r, http.StatusTooManyRequests)
			} else {
				passed++
			}
		}
		// rate=10r/s burst=20 nodelay: the first 21 pass at once, then
		// about one every 100 ms.
		maxPassed := 21 + int(elapsed.Seconds()*10) + 1
		if limited == 0 || passed < 21 || passed > maxPassed {
			t.Errorf("%d requests in %s: %d passed (want 21..%d), %d limited", n, elapsed, passed, maxPassed, limited)
		}
		for range 10 {
			r := do(t, c, "GET", p.httpsURL("/api/health"), nil, nil)
			if r.StatusCode != http.StatusOK {
				t.Fatalf("health from a rate-limited client: %d %s", r.StatusCode, r.body)
			}
		}
		r := do(t, p.client("127.0.0.19", true), "GET", p.httpsURL("/api/tags"), nil, nil)
		if r.StatusCode == http.StatusTooManyRequests {
			t.Errorf("another client was limited too")
		}
	})

	t.Run("malformed requests get JSON", func(t *testing.T) {
		for _, c := range []struct {
			name, request string
			status        int
		}{
			{"space in the target", "GET /api/ health HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusBadRequest},
			{"no Host", "GET /api/health HTTP/1.1\r\n\r\n", http.StatusBadRequest},
			{"URI too long", "GET /api/" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusRequestURITooLong},
			{"header too large", "GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 20000) + "\r\n\r\n", http.StatusBadRequest},
			{"cookie too large", "GET /api/health HTTP/1.1\r\nHost: x\r\nCookie: a=" + strings.Repeat("b", 20000) + "\r\n\r\n", http.StatusBadRequest},
			// These got Nginx's HTML pages.
			{"unknown Transfer-Encoding", "POST /api/users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", http.StatusNotImplemented},
			{"Transfer-Encoding identity", "POST /api/users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\nContent-Length: 2\r\n\r\n{}", http.StatusNotImplemented},
			{"HTTP/2.0 as text", "GET /api/health HTTP/2.0\r\nHost: x\r\n\r\n", http.StatusHTTPVersionNotSupported},
			{"HTTP/3.0", "GET /api/health HTTP/3.0\r\nHost: x\r\n\r\n", http.StatusHTTPVersionNotSupported},
			{"TRACE", "TRACE /api/health HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusMethodNotAllowed},
			{"TRACE outside the API", "TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusMethodNotAllowed},
			// Smuggling attempts are refused by Nginx, in JSON.
			{"Content-Length and Transfer-Encoding", "POST /api/users/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", http.StatusBadRequest},
			{"two Content-Lengths", "POST /api/users/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", http.StatusBadRequest},
			{"broken chunk", "POST /api/users/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", http.StatusBadRequest},
		} {
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.21")}},
				"tcp", p.httpsAddr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			// Nginx answers an oversized line as soon as it has seen enough
			// of it and closes, possibly before the rest is written: write
			// while reading, and judge only the answer. (9000 bytes is just
			// over large_client_header_buffers' 8k, so the write usually
			// fits the socket buffer anyway.)
			go func() { _, _ = io.WriteString(conn, c.request) }()
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			body, _ := io.ReadAll(resp.Body)
			conn.Close()
			if resp.StatusCode != c.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !json.Valid(body) {
				t.Errorf("%s: %d %q %s", c.name, resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
		}

		// Plain HTTP on the HTTPS port.
		conn, err := net.DialTimeout("tcp", p.httpsAddr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(conn, "GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("plain HTTP on the HTTPS port: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !json.Valid(body) {
			t.Errorf("plain HTTP on the HTTPS port: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	})

	// Last: stops the app.
	t.Run("app down is 502 JSON", func(t *testing.T) {
		if err := a.Stop(); err != nil {
			t.Fatal(err)
		}
		c := p.client("127.0.0.20", false)
		wantJSONError(t, do(t, c, "GET", p.httpsURL("/api/health"), nil, nil), http.StatusBadGateway)
		wantJSONError(t, do(t, c, "POST", p.httpsURL("/api/users/login"), strings.NewReader("{}"), nil), http.StatusBadGateway)
	})
}

// TestNginxProxyHeaders puts the shipped site in front of a stand-in
// upstream that records what it receives, to check what the app is sent.
func TestNginxProxyHeaders(t *testing.T) {
	var mu sync.Mutex
	var seen []*http.Request
	big, _ := json.Marshal(map[string]any{"items": strings.Split(strings.Repeat("article ", 1000), " ")})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Clone(r.Context()))
		mu.Unlock()
		w.Header().Set("X-Request-ID", r.Header.Get("X-Request-ID")) // as the app does
		w.Header().Set("Content-Type", "application/json")
		w.Write(big)
	}))
	t.Cleanup(upstream.Close)
	p := startNginx(t, strings.TrimPrefix(upstream.URL, "http://"))
	last := func() *http.Request {
		mu.Lock()
		defer mu.Unlock()
		if len(seen) == 0 {
			t.Fatal("the upstream received nothing")
		}
		return seen[len(seen)-1]
	}

	c := p.client("127.0.0.21", false)
	r := do(t, c, "GET", p.httpsURL("/api/articles?tag=go"), nil, map[string]string{
		"X-Request-ID":    "trace-42",
		"X-Forwarded-For": "203.0.113.10",
		"X-Real-IP":       "203.0.113.9",
		"Accept-Encoding": "gzip",
	})
	got := last()
	for name, want := range map[string]string{
		"X-Real-IP":         "127.0.0.21",
		"X-Forwarded-For":   "127.0.0.21",
		"X-Forwarded-Proto": "https",
		"X-Request-ID":      "trace-42",
		"Connection":        "",
	} {
		if v := strings.Join(got.Header.Values(name), ", "); v != want {
			t.Errorf("upstream got %s %q, want %q", name, v, want)
		}
	}
	if got.Host != testServerName || got.Proto != "HTTP/1.1" || got.RequestURI != "/api/articles?tag=go" {
		t.Errorf("upstream got Host %q, %s, URI %q", got.Host, got.Proto, got.RequestURI)
	}
	if ids := r.Header.Values("X-Request-ID"); len(ids) != 1 || ids[0] != "trace-42" {
		t.Errorf("response X-Request-ID %q, want exactly [trace-42]", ids)
	}
	if r.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("JSON of %d bytes not gzipped: Content-Encoding %q", len(big), r.Header.Get("Content-Encoding"))
	} else if zr, err := gzip.NewReader(bytes.NewReader(r.body)); err != nil {
		t.Error(err)
	} else if plain, err := io.ReadAll(zr); err != nil || !bytes.Equal(plain, big) {
		t.Errorf("gunzipped body differs: %v", err)
	}

	// Upstream connections are kept alive and reused. (/api/user: the
	// site keeps no anonymous answer of it, so each request reaches the
	// upstream.)
	for range 5 {
		do(t, c, "GET", p.httpsURL("/api/user"), nil, nil)
	}
	mu.Lock()
	conns := map[string]bool{}
	for _, r := range seen[len(seen)-5:] {
		conns[r.RemoteAddr] = true
	}
	mu.Unlock()
	if len(conns) != 1 {
		t.Errorf("5 sequential requests used %d upstream connections, want 1 (keepalive)", len(conns))
	}

	// Nothing but /api/ is forwarded, whatever the method.
	before := len(seen)
	for _, path := range []string{"/metrics", "/debug/pprof/", "/healthz"} {
		wantJSONError(t, do(t, c, "POST", p.httpsURL(path), strings.NewReader("x"), nil), http.StatusNotFound)
	}
	mu.Lock()
	if len(seen) != before {
		t.Errorf("non-/api/ requests reached the upstream: %s", seen[before].URL)
	}
	mu.Unlock()
}

// TestNginxKeepsUpstreamConnections sends waves of concurrent requests
// through the shipped site to a stand-in upstream that holds each wave
// until all of it has arrived, so that Nginx has a whole wave in flight at
// once. Nginx must keep those connections for the next wave instead of
// closing the ones beyond its idle limit and opening new ones: that churn
// costs a connect and an accept per few requests, and leaves a TIME_WAIT
// socket on the loopback for each.
func TestNginxKeepsUpstreamConnections(t *testing.T) {
	const wave, waves = 48, 8
	var mu sync.Mutex
	conns := map[string]bool{}
	arrived, full := 0, 0
	release := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conns[r.RemoteAddr] = true
		gate := release
		if arrived++; arrived == wave {
			full++
			arrived = 0
			close(release)
			release = make(chan struct{})
		}
		mu.Unlock()
		select {
		case <-gate:
		case <-time.After(10 * time.Second):
			w.WriteHeader(http.StatusGatewayTimeout)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`)
	}))
	t.Cleanup(upstream.Close)
	p := startNginx(t, strings.TrimPrefix(upstream.URL, "http://"))
	c := p.client("127.0.0.22", false)

	for range waves {
		var wg sync.WaitGroup
		errs := make(chan error, wave)
		for range wave {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// /api/health: not rate limited, so a whole wave from one
				// address gets through.
				r, err := c.Get(p.httpsURL("/api/health"))
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, r.Body)
				r.Body.Close()
				if r.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("status %d", r.StatusCode)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if full != waves {
		t.Fatalf("%d of %d waves had all %d requests in flight at once", full, waves, wave)
	}
	if len(conns) > wave {
		t.Errorf("%d waves of %d concurrent requests used %d upstream connections, want at most %d: Nginx closes and reopens connections beyond its upstream keepalive",
			waves, wave, len(conns), wave)
	}
}

// assertNotProxied fails when the app logged request id. The app logs a
// request after answering it, so first a request that did reach the app is
// waited for: anything sent before it would be logged by then.
func assertNotProxied(t *testing.T, a *apptest.App, id string) {
	t.Helper()
	marker := id + "-marker"
	req, _ := http.NewRequest("GET", a.URL+"/api/health", nil)
	req.Header.Set("X-Request-ID", marker)
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	a.RequestLog(t, marker)
	for _, l := range a.LogLines() {
		if l["request_id"] == id {
			t.Errorf("request %s reached the app: %v", id, l)
		}
	}
}

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// sizedReader declares its size, so the request carries a Content-Length.
type sizedReader struct {
	io.Reader
	n int64
}

func (s *sizedReader) Len() int { return int(s.n) }
