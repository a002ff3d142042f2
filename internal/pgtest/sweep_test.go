package pgtest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSweepRemovesClustersOfDeadOwners makes a cluster look abandoned, as
// if both its test process and its guard had been killed, and checks that
// the next StartCluster stops and removes it, and leaves live ones alone.
func TestSweepRemovesClustersOfDeadOwners(t *testing.T) {
	base, err := os.MkdirTemp(tmpBase(), "sophsapp-sweep-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	if err := os.Chmod(base, 0o755); err != nil { // reachable by the postgres user
		t.Fatal(err)
	}
	abandoned, err := StartCluster(base)
	if err != nil {
		t.Fatal(err)
	}
	defer abandoned.guard.Release()
	postmaster := postmasterPID(t, abandoned.Dir)
	// Its owner is now a process that has exited.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	me := processIdentity(os.Getpid())
	owner := strings.Replace(me, strconv.Itoa(os.Getpid())+" ", strconv.Itoa(dead.Process.Pid)+" ", 1)
	if owner == me {
		t.Fatalf("identity %q", me)
	}
	if err := os.WriteFile(abandoned.Dir+ownerSuffix, []byte(owner), 0o644); err != nil {
		t.Fatal(err)
	}

	live, err := StartCluster(base)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Remove()
	if _, err := os.Stat(abandoned.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the abandoned cluster %s is still there: %v", abandoned.Dir, err)
	}
	if err := syscall.Kill(postmaster, 0); err == nil {
		if stat, _ := os.ReadFile("/proc/" + strconv.Itoa(postmaster) + "/stat"); !strings.Contains(string(stat), ") Z") {
			t.Errorf("the abandoned cluster's postmaster %d still runs", postmaster)
		}
	}
	// A second sweep leaves the live cluster alone.
	sweep(base, live.bin, live.user)
	if err := live.pg("pg_ctl", "-D", live.Dir, "status").Run(); err != nil {
		t.Errorf("the sweep stopped a cluster whose owner lives: %v", err)
	}
}

func postmasterPID(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	if err != nil {
		t.Fatalf("postmaster.pid: %q", b)
	}
	return pid
}

// TestSweepRemovesOldOrphans checks that a cluster directory that lost its
// owner file is removed once it is old, and that a young one (being made)
// and one a postmaster still runs in are left alone.
func TestSweepRemovesOldOrphans(t *testing.T) {
	base := t.TempDir()
	old := time.Now().Add(-2 * orphanAge)
	mk := func(name string, pid int) string {
		dir := filepath.Join(base, dirPrefix+name)
		if err := os.MkdirAll(filepath.Join(dir, "base"), 0o700); err != nil {
			t.Fatal(err)
		}
		if pid > 0 {
			if err := os.WriteFile(filepath.Join(dir, "postmaster.pid"), []byte(strconv.Itoa(pid)+"\n"+dir+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	orphan, young, running := mk("orphan", 0), mk("young", 0), mk("running", os.Getpid())
	for _, dir := range []string{orphan, running} {
		if err := os.Chtimes(dir, old, old); err != nil {
			t.Fatal(err)
		}
	}
	sweep(base, "/nonexistent", "")
	if _, err := os.Stat(orphan); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the old orphan is still there: %v", err)
	}
	for _, dir := range []string{young, running} {
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(dir), err)
		}
	}
}
