package main_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sophsapp/sophsapp/internal/apptest"
	"github.com/sophsapp/sophsapp/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// build compiles the sophsapp binary into a test's temporary directory.
func build(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sophsapp")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestBinarySIGTERM builds the real binary, serves, and checks that SIGTERM
// makes it exit 0 after a clean shutdown.
func TestBinarySIGTERM(t *testing.T) {
	bin := build(t)
	s := serve(t, bin, apptest.Env(pgtest.NewDatabase(t)))
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := s.wait(t); err != nil {
		t.Fatalf("exit: %v\n%s", err, s.out)
	}
	if !strings.Contains(s.out.String(), `"msg":"stopped"`) {
		t.Errorf("no clean stop in the log:\n%s", s.out)
	}
}

func TestBinaryVersion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "run", "-ldflags", "-X github.com/sophsapp/sophsapp/internal/app.version=v9.9.9-test", ".", "version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "v9.9.9-test" {
		t.Fatalf("version: %v %q", err, out)
	}
}

// TestBinaryDrainsThenSecondSignalStops: after SIGTERM the binary drains
// (health answers 503 "draining", requests are still served); a second
// SIGTERM ends it at once instead of after the drain.
func TestBinaryDrainsThenSecondSignalStops(t *testing.T) {
	bin := build(t)
	env := apptest.Env(pgtest.NewDatabase(t))
	env["SHUTDOWN_DRAIN"] = "10m"
	s := serve(t, bin, env)
	startDrain(t, s)
	if resp, err := http.Get(s.url + "/api/tags"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("a request during the drain: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// The 10m drain would outlast wait's minute.
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = s.wait(t)
}

// TestBinarySecondSignalRightAfterDrainStarts: a second SIGTERM sent the
// moment the drain has begun (health answers 503) ends the binary at
// once, by the signal's default action: it must never be swallowed while
// the graceful stop is setting up. (Two signals sent back to back, before
// the first is taken, are one to the kernel.) Several times over, as the
// window is short.
func TestBinarySecondSignalRightAfterDrainStarts(t *testing.T) {
	bin := build(t)
	env := apptest.Env(pgtest.NewDatabase(t))
	env["SHUTDOWN_DRAIN"] = "10m"
	for i := range 5 {
		s := serve(t, bin, env)
		startDrain(t, s)
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-s.done:
			s.done <- err // for serve's cleanup
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("try %d: exit %v, want death by SIGTERM\n%s", i, err, s.out)
			}
			if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
				t.Fatalf("try %d: exit %v, want death by SIGTERM\n%s", i, err, s.out)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("try %d: still running 20 s after the second SIGTERM (a 10m drain):\n%s", i, s.out)
		}
	}
}

// startDrain sends s a SIGTERM and returns as soon as its health says it
// is draining (503 "draining", set the moment the drain begins).
func startDrain(t *testing.T, s *server) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(s.url + "/api/health")
		if err != nil {
			t.Fatalf("health while draining: %v\n%s", err, s.out)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(body), `"status":"draining"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health never said draining: %d %s\n%s", resp.StatusCode, body, s.out)
		}
	}
}
