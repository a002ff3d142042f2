// Package nodetest runs the npm-installed tools the tests use (tsc, node's
// test runner, the Playwright driver of the browser tests) under a bounded
// context, so that nothing they start outlives the test.
//
// Missing tools are a test failure that names what to install, never a
// skip: CI installs them (scripts/npm-ci after the system packages).
package nodetest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Require fails t unless node and npm are installed and dir (relative to
// the test's package directory) has its npm packages, and returns dir as
// an absolute path.
func Require(t testing.TB, dir string) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: install the nodejs and npm packages (Debian: apt-get install nodejs npm), then run scripts/npm-ci", tool)
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(abs, "node_modules", ".package-lock.json")); err != nil {
		t.Fatalf("%s has no node_modules: run scripts/npm-ci at the repository root (it installs the versions package-lock.json pins)", abs)
	}
	return abs
}

// Command returns cmd for name and args in dir, ready to run under ctx: it
// gets its own process group, killed whole when ctx ends or the test
// process dies (Pdeathsig), and it inherits no descriptor but its standard
// streams.
func Command(ctx context.Context, dir string, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.ExtraFiles = nil
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Run runs name with args in dir within timeout and returns its combined
// output; a non-zero exit, a timeout or a failure to start fails t with the
// output.
func Run(t testing.TB, timeout time.Duration, dir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out bytes.Buffer
	cmd := Command(ctx, dir, env, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v: did not finish within %s\n%s", name, args, timeout, out.String())
	}
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out.String())
	}
	t.Logf("%s %v: %s", name, args, time.Since(start).Round(time.Millisecond))
	return out.String()
}
