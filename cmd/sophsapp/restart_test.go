package main_test

import (
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
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
	bin := build(t)
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
	apptest.WaitHealthy(t, url, 15*time.Second, nil)

	load := apptest.StartLoad([]string{url + "/api/tags"}, 6, 20000)
	time.Sleep(500 * time.Millisecond)
	before := load.Succeeded()
	restartStart := time.Now()
	if err := first.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := first.Wait(); err != nil {
		t.Errorf("old process exit: %v", err)
	}
	startWithSocket(t, bin, lnFile, env, out)
	apptest.WaitHealthy(t, url, 15*time.Second, nil)
	restart := time.Since(restartStart)
	time.Sleep(500 * time.Millisecond)
	res := load.Stop()

	t.Logf("restart under load took %s: %d requests succeeded (%d before the restart), %d refused, %d failed",
		restart.Round(time.Millisecond), res.OK, before, res.Refused, res.Failed)
	for _, f := range res.Failures {
		t.Errorf("failure: %s", f)
	}
	if res.Refused != 0 || res.Failed != 0 {
		t.Errorf("%d refused and %d failed requests during the restart", res.Refused, res.Failed)
	}
	if res.OK <= before {
		t.Error("no request succeeded after the restart")
	}
	if t.Failed() {
		logMu.Lock()
		t.Logf("server logs:\n%s", logs.String())
		logMu.Unlock()
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
