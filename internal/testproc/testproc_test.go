package testproc_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sophsapp/sophsapp/internal/testproc"
)

// The test binary doubles as the helper process of these tests: started
// with TESTPROC_HELPER set, it does what the variable names and exits.
func TestMain(m *testing.M) {
	switch os.Getenv("TESTPROC_HELPER") {
	case "":
		os.Exit(m.Run())
	case "start-sleeper":
		// Start a long-lived grandchild in a session of its own, as
		// pg_ctl starts postgres, and report its pid.
		cmd := exec.Command("sleep", "600")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(cmd.Process.Pid)
		os.Exit(0)
	case "guard-then-wait":
		g, err := testproc.NewGuard("touch", os.Getenv("TESTPROC_MARKER"))
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		_ = g
		fmt.Println("ready")
		select {} // until killed
	}
}

// helper starts the test binary as a helper doing what, with extra passed
// as descriptor 3 (inherited without close-on-exec, as a fuzz worker's
// pipes are). It returns the process and its stdout.
func helper(t *testing.T, what string, extra *os.File, env ...string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, "TESTPROC_HELPER="+what)...)
	if extra != nil {
		cmd.ExtraFiles = []*os.File{extra}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, bufio.NewReader(out)
}

// waitEOF reads r until end of file, failing the test if it does not come
// within a minute: something still holds the write end.
func waitEOF(t *testing.T, r *os.File, what string) {
	t.Helper()
	if err := r.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	_, err := io.Copy(io.Discard, r)
	if err != nil {
		t.Fatalf("%s: no end of file within a minute (%v): a process still holds the write end", what, err)
	}
}

// TestGrandchildrenDoNotInheritPipes: a process that got a pipe as an
// inherited descriptor (as a fuzz worker gets the coordinator's) starts a
// long-lived child and exits. The pipe must reach end of file at once: the
// child did not inherit the descriptor.
func TestGrandchildrenDoNotInheritPipes(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd, out := helper(t, "start-sleeper", w)
	w.Close()
	line, _ := out.ReadString('\n')
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("helper: %q", line)
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	if holders := testproc.PipeHolders(t, r, -1); len(holders) > 0 {
		t.Fatalf("the pipe's write end is held by %v (the grandchild is %d)", holders, pid)
	}
	waitEOF(t, r, "inherited pipe")
}

// TestGuardRunsWhenItsOwnerIsKilled: a process makes a guard and is killed
// with SIGKILL; the guard's cleanup runs all the same.
func TestGuardRunsWhenItsOwnerIsKilled(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "cleaned")
	cmd, out := helper(t, "guard-then-wait", nil, "TESTPROC_MARKER="+marker)
	if line, _ := out.ReadString('\n'); line != "ready\n" {
		t.Fatalf("helper: %q", line)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := os.Stat(marker); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the cleanup did not run within a minute of its owner's death")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestGuardCleanupAndRelease(t *testing.T) {
	dir := t.TempDir()
	cleaned, released := filepath.Join(dir, "cleaned"), filepath.Join(dir, "released")
	g, err := testproc.NewGuard("touch", cleaned)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Cleanup(time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cleaned); err != nil {
		t.Errorf("Cleanup returned before the cleanup ran: %v", err)
	}
	if err := g.Release(); err == nil {
		t.Error("a guard ended twice")
	}

	g, err = testproc.NewGuard("touch", released)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(released); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Release ran the cleanup: %v", err)
	}
}
