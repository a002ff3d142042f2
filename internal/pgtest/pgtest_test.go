package pgtest_test

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
	"testing"
	"time"

	"github.com/sophsapp/sophsapp/internal/pgtest"
	"github.com/sophsapp/sophsapp/internal/testproc"
)

// The test binary doubles as the process that holds a cluster: started
// with PGTEST_HELPER=hold, it starts a throwaway cluster, prints its
// directory and waits to be killed.
func TestMain(m *testing.M) {
	if os.Getenv("PGTEST_HELPER") == "hold" {
		c, err := pgtest.StartCluster("")
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println(c.Dir)
		select {}
	}
	os.Exit(m.Run())
}

// TestClusterDiesWithItsProcess starts a process that holds a throwaway
// cluster and has a pipe as an inherited descriptor (as a fuzz worker has
// its coordinator's), then kills it with SIGKILL, so that none of its own
// cleanup runs. Within a bounded time the postmaster must be gone, the
// cluster's directory deleted, and both the process's stdout and the
// inherited pipe at end of file: no process it started holds them.
func TestClusterDiesWithItsProcess(t *testing.T) {
	inheritedR, inheritedW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer inheritedR.Close()
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdoutR.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PGTEST_HELPER=hold")
	cmd.Stdout, cmd.Stderr = stdoutW, stdoutW
	cmd.ExtraFiles = []*os.File{inheritedW}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	inheritedW.Close()
	stdoutW.Close()
	killed := false
	defer func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()

	_ = stdoutR.SetReadDeadline(time.Now().Add(2 * time.Minute))
	line, err := bufio.NewReader(stdoutR).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v %q", err, line)
	}
	dir := strings.TrimSpace(line)
	if !filepath.IsAbs(dir) {
		t.Fatalf("helper: %s", line)
	}
	pidFile, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	postmaster, err := strconv.Atoi(strings.SplitN(string(pidFile), "\n", 2)[0])
	if err != nil {
		t.Fatalf("postmaster.pid: %q", pidFile)
	}
	t.Logf("helper %d holds the cluster in %s (postmaster %d)", cmd.Process.Pid, dir, postmaster)
	// The postmaster holds neither pipe.
	for _, p := range []*os.File{inheritedR, stdoutR} {
		if fds := testproc.PipeHolders(t, p, postmaster); len(fds) > 0 {
			t.Errorf("the postmaster holds the helper's pipe as %v", fds)
		}
	}

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed = true
	start := time.Now()

	for name, p := range map[string]*os.File{"inherited pipe": inheritedR, "stdout": stdoutR} {
		_ = p.SetReadDeadline(time.Now().Add(time.Minute))
		if _, err := io.Copy(io.Discard, p); err != nil {
			t.Errorf("the helper's %s is still open a minute after its death (%v): held by %v", name, err, testproc.PipeHolders(t, p, -1))
		}
	}
	deadline := time.Now().Add(time.Minute)
	for running(postmaster) || exists(dir) || exists(dir+".owner") {
		if time.Now().After(deadline) {
			t.Fatalf("a minute after the helper's death: postmaster running %v, %s exists %v", running(postmaster), dir, exists(dir))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("cluster gone %s after its process was killed", time.Since(start).Round(time.Millisecond))
}

// running reports whether pid is a live process (not a zombie).
func running(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, os.ErrNotExist)
}
