package main_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/internal/apptest"
	"github.com/sophsapp/sophsapp/internal/testproc"
)

// TestRunDevFromEnvExample follows the README: `cp .env.example .env &&
// make run` must serve (a local cluster, development mode), and a token
// issued before a restart of `make run` must still be valid after it.
// Then `scripts/dev-db stop` and `destroy` must run quietly.
func TestRunDevFromEnvExample(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// The cluster's folder must be reachable by the postgres user when the
	// tests run as root: not under t.TempDir(), which is private.
	tmp, err := os.MkdirTemp("", "sophsapp-rundev-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	devdb, work := filepath.Join(tmp, "devdb"), filepath.Join(tmp, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile(filepath.Join(root, ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, ".env"), example, 0o600); err != nil {
		t.Fatal(err)
	}
	devDB := filepath.Join(root, "scripts", "dev-db")
	// Whatever becomes of this test process, the cluster goes.
	guard, err := testproc.NewGuard("env", "DEVDB_DIR="+devdb, devDB, "destroy")
	if err != nil {
		t.Fatal(err)
	}
	defer guard.Cleanup(time.Minute)

	addr, pgPort := freeAddr(t), freeAddr(t)
	env := []string{"DEVDB_DIR=" + devdb, "DEVDB_PORT=" + pgPort[strings.LastIndex(pgPort, ":")+1:],
		"LISTEN_ADDR=" + addr, "SHUTDOWN_DRAIN=0"}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "DATABASE_URL", "JWT_SECRET", "APP_ENV", "MIGRATE_ON_START", "TEST_DATABASE_URL", "LISTEN_ADDR", "SHUTDOWN_DRAIN":
		default:
			env = append(env, kv)
		}
	}
	var logs []logFile
	startRunDev := func() *exec.Cmd {
		cmd, log := start(t, work, env, filepath.Join(root, "scripts", "run-dev"))
		logs = append(logs, log)
		apptest.WaitHealthy(t, "http://"+addr, 3*time.Minute, log)
		return cmd
	}
	stop := func(cmd *exec.Cmd) {
		// run-dev execs the server: the signal reaches it.
		if err := signalAndWait(t, cmd, time.Minute, logs[len(logs)-1]); err != nil {
			t.Fatalf("make run did not stop cleanly: %v\n%s", err, logs[len(logs)-1])
		}
	}

	client, err := api.NewClientWithResponses("http://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first := startRunDev()
	reg, err := client.CreateUserWithResponse(ctx, api.CreateUserJSONRequestBody{User: api.NewUser{Username: "jake", Email: "jake@example.com", Password: "jakejakejake"}})
	if err != nil || reg.JSON201 == nil {
		t.Fatalf("register: %v %v\n%s", err, reg, logs[0])
	}
	stop(first)
	second := startRunDev()
	me, err := client.GetCurrentUserWithResponse(ctx, func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Token "+reg.JSON201.User.Token)
		return nil
	})
	if err != nil || me.StatusCode() != http.StatusOK {
		t.Errorf("the token from before the restart: %v %v", err, me.Status())
	}
	stop(second)
	for _, log := range logs {
		if strings.Contains(log.String(), "JWT_SECRET is not set") {
			t.Errorf("make run used a random per-process secret:\n%s", log)
		}
	}

	for _, step := range []string{"stop", "stop", "destroy"} {
		cmd := exec.Command(devDB, step)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("dev-db %s: %v %q", step, err, out)
		}
	}
	if _, err := os.Stat(devdb); !os.IsNotExist(err) {
		t.Errorf("dev-db destroy left %s: %v", devdb, err)
	}
}

// logFile is a file a child process writes its output to; String reads
// it, so it can be read while the process runs.
type logFile string

func (f logFile) String() string {
	b, _ := os.ReadFile(string(f))
	return string(b)
}

// start runs name with args in dir with exactly env, its output going to a
// new logFile; the process is killed when the test ends.
func start(t *testing.T, dir string, env []string, name string, args ...string) (*exec.Cmd, logFile) {
	t.Helper()
	log, err := os.CreateTemp(t.TempDir(), "output-")
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd, logFile(log.Name())
}

// signalAndWait sends SIGTERM to cmd and returns how it exited, failing the
// test if it has not within d.
func signalAndWait(t *testing.T, cmd *exec.Cmd, d time.Duration, log fmt.Stringer) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("%s did not exit within %s of SIGTERM:\n%s", cmd.Path, d, log)
		return nil
	}
}
