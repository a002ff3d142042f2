package main_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sophsapp/sophsapp/internal/apptest"
	"github.com/sophsapp/sophsapp/internal/pgtest"
)

// startWithSocket runs bin serve with ln passed as systemd passes an
// activated socket: fd 3, LISTEN_FDS=1 and LISTEN_PID set to the child's pid.
func startWithSocket(t *testing.T, bin string, ln *os.File, env map[string]string, out io.Writer) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" serve`, bin)
	cmd.Dir = t.TempDir()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "LISTEN_FDS=1", "LISTEN_FDNAMES=sophsAppApi.socket")
	cmd.ExtraFiles = []*os.File{ln}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	return cmd
}

// TestRestartWithSocketActivationRefusesNothing restarts the server the way
// `systemctl restart sophsAppApi` does with sophsAppApi.socket: the
// listening socket belongs to the supervisor, the old process stops
// gracefully and a new one takes over the same socket. Connections made
// while no process accepts wait in the socket's backlog, so clients under
// load see no refused connection and no failed request.
func TestRestartWithSocketActivationRefusesNothing(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "sophsapp")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	lnFile, err := tcp.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer lnFile.Close()
	url := "http://" + tcp.Addr().String()
	env := apptest.Env(pgtest.NewDatabase(t))
	env["LISTEN_ADDR"] = "127.0.0.1:1" // must be ignored in favour of the socket

	var logs bytes.Buffer
	var logMu sync.Mutex
	out := writerFunc(func(p []byte) (int, error) { logMu.Lock(); defer logMu.Unlock(); return logs.Write(p) })
	first := startWithSocket(t, bin, lnFile, env, out)
	waitHealthy(t, url)

	var ok, refused, failed atomic.Int64
	var failures sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 15 * time.Second}
			for i := 0; i < 20000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(url + "/api/tags")
				switch {
				case err != nil && errors.Is(err, syscall.ECONNREFUSED):
					refused.Add(1)
				case err != nil:
					failed.Add(1)
					failures.Store(err.Error(), true)
				default:
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						ok.Add(1)
					} else {
						failed.Add(1)
						failures.Store(resp.Status, true)
					}
				}
			}
		}()
	}

	time.Sleep(500 * time.Millisecond)
	before := ok.Load()
	restartStart := time.Now()
	if err := first.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := first.Wait(); err != nil {
		t.Errorf("old process exit: %v", err)
	}
	startWithSocket(t, bin, lnFile, env, out)
	waitHealthy(t, url)
	restart := time.Since(restartStart)
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()

	t.Logf("restart under load took %s: %d requests succeeded (%d before the restart), %d refused, %d failed",
		restart.Round(time.Millisecond), ok.Load(), before, refused.Load(), failed.Load())
	if refused.Load() != 0 || failed.Load() != 0 {
		failures.Range(func(k, _ any) bool { t.Errorf("failure: %v", k); return true })
		t.Errorf("%d refused and %d failed requests during the restart", refused.Load(), failed.Load())
	}
	if ok.Load() <= before {
		t.Error("no request succeeded after the restart")
	}
	if t.Failed() {
		logMu.Lock()
		t.Logf("server logs:\n%s", logs.String())
		logMu.Unlock()
	}
}

func waitHealthy(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(url + "/api/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never became healthy", url)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
