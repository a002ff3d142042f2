package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sophsapp/sophsapp/internal/apptest"
	"github.com/sophsapp/sophsapp/internal/pgtest"
)

// server is the built binary serving on a loopback port.
type server struct {
	cmd  *exec.Cmd
	url  string
	out  *apptest.SyncBuffer
	done chan error // Wait's result
}

// serve runs bin serve with env on a free port until the test ends.
func serve(t testing.TB, bin string, env map[string]string) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &server{url: "http://" + addr, out: &apptest.SyncBuffer{}, done: make(chan error, 1)}
	s.cmd = exec.Command(bin, "serve")
	s.cmd.Dir = t.TempDir() // no stray .env
	for k, v := range env {
		if k != "LISTEN_ADDR" {
			s.cmd.Env = append(s.cmd.Env, k+"="+v)
		}
	}
	s.cmd.Env = append(s.cmd.Env, "LISTEN_ADDR="+addr)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.done
		if t.Failed() {
			t.Logf("server output:\n%s", s.out.String())
		}
	})
	apptest.WaitHealthy(t, s.url, 15*time.Second, nil)
	return s
}

// wait returns the process's exit, failing t after a minute.
func (s *server) wait(t testing.TB) error {
	t.Helper()
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup
		return err
	case <-time.After(time.Minute):
		t.Fatalf("the server did not exit within a minute:\n%s", s.out.String())
		return nil
	}
}

// registerToken registers a user and returns its token.
func registerToken(t testing.TB, url string) string {
	t.Helper()
	resp, err := http.Post(url+"/api/users", "application/json",
		strings.NewReader(`{"user":{"username":"uploader","email":"up@example.com","password":"uploader-password"}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var u struct{ User struct{ Token string } }
	if err := json.NewDecoder(resp.Body).Decode(&u); err != nil || u.User.Token == "" {
		t.Fatalf("register: %d %v", resp.StatusCode, err)
	}
	return u.User.Token
}

// startUpload sends the headers and the first half of a 4 MB upload over
// a bare connection and waits until the server is storing it.
func startUpload(t *testing.T, conn *pgx.Conn, url, token string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST /api/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Token %s\r\nContent-Type: image/png\r\nContent-Length: 4000000\r\n\r\n", token)
	if _, err := io.Copy(c, apptest.File{Magic: apptest.PNG, Size: 2_000_000}.Reader()); err != nil {
		t.Fatal(err)
	}
	apptest.WaitFor(t, "the server storing the upload", func() bool { return apptest.StoringUploads(t, conn) > 0 })
	return c
}

// wantNothingStored fails unless no upload, chunk or large object is left.
func wantNothingStored(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	var uploads, chunks, usage, largeObjects int64
	if err := conn.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM uploads), (SELECT count(*) FROM upload_chunks),
		(SELECT COALESCE(sum(bytes), 0) FROM upload_usage), (SELECT count(*) FROM pg_largeobject_metadata)`).
		Scan(&uploads, &chunks, &usage, &largeObjects); err != nil {
		t.Fatal(err)
	}
	if uploads+chunks+usage+largeObjects != 0 {
		t.Fatalf("left behind: %d uploads, %d chunks, %d bytes of usage, %d large objects", uploads, chunks, usage, largeObjects)
	}
}

// TestBinaryStoppedMidUploadLeavesNothing stops the real binary while an
// upload is being stored: SIGTERM (the upload is cut off once
// SHUTDOWN_TIMEOUT has passed) and SIGKILL (PostgreSQL aborts the
// transaction of the connection that went away). Neither leaves anything in
// the database.
func TestBinaryStoppedMidUploadLeavesNothing(t *testing.T) {
	bin := build(t)
	dbURL := pgtest.NewDatabase(t)
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	env := apptest.Env(dbURL)
	env["SHUTDOWN_TIMEOUT"] = "1s"

	t.Run("SIGTERM", func(t *testing.T) {
		s := serve(t, bin, env)
		startUpload(t, conn, s.url, registerToken(t, s.url))
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := s.wait(t); err == nil || !strings.Contains(s.out.String(), "did not finish within 1s") {
			t.Errorf("exit %v, want the cut-off upload reported:\n%s", err, s.out.String())
		}
		wantNothingStored(t, conn)
	})
	t.Run("SIGKILL", func(t *testing.T) {
		s := serve(t, bin, env)
		var token string
		if resp, err := http.Post(s.url+"/api/users/login", "application/json", strings.NewReader(`{"user":{"email":"up@example.com","password":"uploader-password"}}`)); err == nil {
			var u struct{ User struct{ Token string } }
			_ = json.NewDecoder(resp.Body).Decode(&u)
			resp.Body.Close()
			token = u.User.Token
		}
		startUpload(t, conn, s.url, token)
		if err := s.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		s.wait(t)
		apptest.WaitFor(t, "PostgreSQL to abort the killed server's transaction", func() bool { return apptest.StoringUploads(t, conn) == 0 })
		wantNothingStored(t, conn)
	})
}

// rss reads a process's current and peak resident set size in bytes.
func rss(t testing.TB, pid int) (current, peak int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			current = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return current, peak
}

// BenchmarkUploadRSS measures how much the server process's resident memory
// grows while it stores and serves 50 MB files: the built binary runs as
// its own process and its /proc status is read before and after (the peak
// is reset first). Figures only: rss-growth-MiB should stay near a few
// chunks per transfer (targets: 16 MiB for one 50 MB upload, 64 MiB for ten
// in parallel), never near the files' size.
func BenchmarkUploadRSS(b *testing.B) {
	bin := build(b)
	env := apptest.Env(pgtest.NewDatabase(b))
	env["LOG_LEVEL"] = "warn"
	env["UPLOAD_QUOTA_BYTES"] = strconv.FormatInt(1<<40, 10)
	s := serve(b, bin, env)
	pid := s.cmd.Process.Pid
	token := registerToken(b, s.url)
	client := &http.Client{Timeout: 5 * time.Minute}
	const size = 50_000_000

	upload := func(seed uint64) string {
		f := apptest.File{Magic: apptest.PDF, Size: size, Seed: seed}
		req, _ := http.NewRequest("POST", s.url+"/api/uploads", f.Reader())
		req.ContentLength = size
		req.Header.Set("Authorization", "Token "+token)
		req.Header.Set("Content-Type", "application/pdf")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		var up struct{ Upload struct{ URL string } }
		if err := json.NewDecoder(resp.Body).Decode(&up); err != nil || resp.StatusCode != http.StatusCreated {
			b.Fatalf("upload: %d %v", resp.StatusCode, err)
		}
		return up.Upload.URL
	}
	download := func(url string) {
		resp, err := client.Get(s.url + url)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		if n, err := io.Copy(io.Discard, resp.Body); err != nil || n != size {
			b.Fatalf("download: %d bytes, %v", n, err)
		}
	}
	parallel := func(n int, f func(i int)) {
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { f(i) })
		}
		wg.Wait()
	}
	// The first transfers into a freshly started server, which also warm
	// it up (pool connections, buffers, the first GC cycles) for the
	// measurements below, which show the growth beyond that steady state.
	resetPeak := func() bool { return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil }
	resetPeak()
	_, cold := rss(b, pid)
	stored := upload(0)
	_, upPeak := rss(b, pid)
	resetPeak()
	_, afterUpload := rss(b, pid)
	download(stored)
	_, downPeak := rss(b, pid)
	b.Logf("fresh server at %.1f MiB RSS: its first 50 MB upload peaked %.1f MiB above that, then its first download %.1f MiB above the RSS after the upload",
		float64(cold)/(1<<20), float64(upPeak-cold)/(1<<20), float64(downPeak-afterUpload)/(1<<20))

	measure := func(b *testing.B, transfers int, run func()) {
		// Writing 5 to clear_refs resets the peak (VmHWM) to the current
		// size, which is the base.
		peakReset := resetPeak()
		_, base := rss(b, pid)
		start := time.Now()
		for b.Loop() {
			run()
		}
		elapsed := time.Since(start)
		_, peak := rss(b, pid)
		if !peakReset {
			b.Log("could not reset the peak RSS: growth is measured from the process's start")
		}
		b.ReportMetric(float64(peak-base)/(1<<20), "rss-growth-MiB")
		b.ReportMetric(float64(base)/(1<<20), "rss-before-MiB")
		b.ReportMetric(float64(b.N*transfers*size)/1e6/elapsed.Seconds(), "MB/s")
	}
	var seed uint64 = 100
	b.Run("upload 50MB", func(b *testing.B) {
		measure(b, 1, func() { seed++; upload(seed) })
	})
	b.Run("10 parallel uploads 50MB", func(b *testing.B) {
		measure(b, 10, func() { parallel(10, func(i int) { upload(seed + 1000 + uint64(i)) }); seed += 10 })
	})
	b.Run("download 50MB", func(b *testing.B) {
		measure(b, 1, func() { download(stored) })
	})
	b.Run("10 parallel downloads 50MB", func(b *testing.B) {
		measure(b, 10, func() { parallel(10, func(int) { download(stored) }) })
	})
}
