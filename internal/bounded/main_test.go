package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sophsapp/sophsapp/internal/testproc"
)

// The test binary doubles as bounded: with BOUNDED_RUN set it runs it with
// its arguments, in a process of its own since it becomes a subreaper.
func TestMain(m *testing.M) {
	if os.Getenv("BOUNDED_RUN") != "" {
		os.Exit(run(os.Args[1:], os.Stderr))
	}
	os.Exit(m.Run())
}

// bounded runs the command under bounded and returns its exit code, what
// it printed and how long it took.
func bounded(t *testing.T, args ...string) (int, string, time.Duration) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "BOUNDED_RUN=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Minute
	start := time.Now()
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("bounded: %v\n%s", err, out.String())
	}
	return code, out.String(), time.Since(start)
}

// alive lists the processes whose command line contains s.
func alive(s string) []string {
	var out []string
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range cmdlines {
		b, _ := os.ReadFile(f)
		if c := strings.ReplaceAll(string(b), "\x00", " "); strings.Contains(c, s) && !strings.Contains(c, "-test.") {
			if st, _ := os.ReadFile(filepath.Join(filepath.Dir(f), "stat")); !strings.Contains(string(st), ") Z") {
				out = append(out, f+": "+c)
			}
		}
	}
	return out
}

// TestTimeoutKillsEverythingAndSaysWhy runs a command that never ends: it
// waits on a pipe held by a process in a session of its own (as a parent
// waits for an orphaned postgres holding its pipe), next to a cleanup
// process that takes a while. bounded must say what it waited for, kill
// everything except the cleanup, let the cleanup finish, and exit 124.
func TestTimeoutKillsEverythingAndSaysWhy(t *testing.T) {
	tag := fmt.Sprintf("3%d.5", os.Getpid()%1000000) // a sleep length no other process uses
	done := filepath.Join(t.TempDir(), "cleaned")
	// The cleanup finishes only a second after cat, which bounded must
	// kill, is gone: it can only finish if bounded lets it.
	script := fmt.Sprintf(`
		setsid sleep %s | cat &
		sh -c 'while kill -0 "$2" 2>/dev/null; do sleep 0.1; done; sleep 1; touch "$1"' %s %q $! &
		wait
	`, tag, testproc.CleanupMarker, done)
	code, out, took := bounded(t, "-timeout", "3s", "-grace", "30s", "--", "sh", "-c", script)
	defer func() {
		if t.Failed() {
			t.Logf("bounded took %s and printed:\n%s", took.Round(time.Millisecond), out)
		}
	}()
	if code != 124 {
		t.Errorf("exit code %d, want 124", code)
	}
	for _, want := range []string{"did not finish within 3s", "sleep " + tag, "cat", "pipe:[", "(write end, sleep)", "(read end, cat)", "killing every process"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if left := alive("sleep " + tag); len(left) > 0 {
		t.Errorf("still running after bounded returned: %v", left)
	}
	if _, err := os.Stat(done); err != nil {
		t.Errorf("the cleanup process was not let finish: %v", err)
	}
}

func TestExitStatusPassesThrough(t *testing.T) {
	if code, out, _ := bounded(t, "--", "true"); code != 0 {
		t.Errorf("true: %d %s", code, out)
	}
	if code, out, _ := bounded(t, "--", "sh", "-c", "exit 3"); code != 3 {
		t.Errorf("exit 3: %d %s", code, out)
	}
	if code, out, _ := bounded(t, "--", "/no/such/command"); code == 0 {
		t.Errorf("missing command: %d %s", code, out)
	}
}

// TestLeftoverProcessFailsTheRun: a command that succeeds but leaves a
// process running (in a session of its own, out of its process group)
// fails, and the process is killed.
func TestLeftoverProcessFailsTheRun(t *testing.T) {
	tag := fmt.Sprintf("4%d.5", os.Getpid()%1000000)
	code, out, _ := bounded(t, "-grace", "1s", "--", "sh", "-c", "setsid sleep "+tag+" </dev/null >/dev/null 2>&1 & exit 0")
	if code == 0 || !strings.Contains(out, "left these processes running") || !strings.Contains(out, "sleep "+tag) {
		t.Errorf("exit %d:\n%s", code, out)
	}
	if left := alive("sleep " + tag); len(left) > 0 {
		t.Errorf("still running after bounded returned: %v", left)
	}
}
