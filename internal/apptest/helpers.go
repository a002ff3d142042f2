package apptest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Send makes a request to the server with exactly the headers given,
// through the contract-checked client, and returns the response with its
// whole body read (the response's own Body is closed).
func (a *App) Send(t testing.TB, method, path string, headers map[string]string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, a.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := a.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// Download makes a request with c and returns the response with its
// body's size and SHA-256, never holding the body in memory. host, when not
// empty, is the Host the request names instead of url's.
func Download(t testing.TB, c *http.Client, method, url, host string, headers map[string]string) (*http.Response, int64, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp, n, hex.EncodeToString(h.Sum(nil))
}

// StoringUploads counts the server's transactions that are inserting an
// upload's chunks, as seen through conn: the chunks themselves are
// invisible until the commit, the insert is not.
func StoringUploads(t testing.TB, conn *pgx.Conn) int {
	t.Helper()
	var n int
	err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()
		  AND xact_start IS NOT NULL AND query LIKE '%INSERT INTO upload_chunks%'`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// WaitFor polls cond until it holds, failing the test after 30 s.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !poll(30*time.Second, cond) {
		t.Fatalf("waited 30 s for %s", what)
	}
}

// WaitHealthy polls the health of the server at baseURL until it answers
// 200, failing the test after within; logs, when not nil, are printed
// then.
func WaitHealthy(t testing.TB, baseURL string, within time.Duration, logs fmt.Stringer) {
	t.Helper()
	c := &http.Client{Timeout: time.Second}
	healthy := poll(within, func() bool {
		resp, err := c.Get(baseURL + "/api/health")
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if !healthy {
		if logs != nil {
			t.Logf("logs:\n%s", logs)
		}
		t.Fatalf("%s not healthy after %s", baseURL, within)
	}
}

// poll calls cond every 10 ms until it holds (true) or d has passed
// (false).
func poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// SyncBuffer is a bytes.Buffer that goroutines may write to and read at
// once: a server's log, a child process's output.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
