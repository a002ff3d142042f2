// Package testproc keeps the processes a test starts from outliving the
// test or holding on to what belongs to it.
//
// Importing the package (pgtest does, so every test package that uses a
// database does) marks every descriptor the test process inherited beyond
// stdin, stdout and stderr close-on-exec, before any test runs. Go's fuzzing
// engine, for one, hands each worker its pipes as descriptors 3, 4 and 5
// without close-on-exec, and os/exec passes such descriptors on to every
// child: a PostgreSQL or Nginx started by a worker would keep the
// coordinator's pipe open after the worker died, and the coordinator would
// wait for it forever.
//
// Guard covers the other half: a cleanup that runs when the test process
// ends, however it ends, SIGKILL included.
package testproc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func init() { CloseInheritedFDs() }

// CloseInheritedFDs marks every open descriptor above 2 close-on-exec, so
// that no process started from now on inherits it unless it is passed on
// deliberately (exec.Cmd.ExtraFiles). Descriptors Go opens itself are
// close-on-exec already; this catches the ones inherited from the parent.
// The process's own use of the descriptors is unaffected. It is called
// when the package is initialised; calling it again is harmless.
func CloseInheritedFDs() {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return // not Linux: nothing known to fix
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

// CleanupMarker is the name the cleanup processes of Guard run under
// ($0 of their shell). A supervisor that kills what a test run left behind
// (internal/bounded) lets processes carrying it finish first.
const CleanupMarker = "sophsapp-cleanup"

// guardScript waits for a line or end of file on stdin. "release" means the
// cleanup is not needed; anything else, end of file included (the parent
// died and the kernel closed its end of the pipe), runs the cleanup command
// given as arguments. Signals to the process group (Ctrl-C, a supervisor's
// SIGTERM) are ignored: only the parent's end decides.
const guardScript = `trap '' INT TERM HUP QUIT PIPE
IFS= read -r line
[ "$line" = release ] && exit 0
"$@"
`

// Guard is a cleanup command waiting in a separate process for its owner
// (the process that made the Guard) to end.
//
// The guard process reads a pipe whose only writer is the owner; the write
// end is close-on-exec, so no other process holds it. When the owner exits
// or is killed, the kernel closes it, the guard reads end of file and runs
// the cleanup. This holds for SIGKILL, where no deferred function or signal
// handler runs, unlike PR_SET_PDEATHSIG, which in Go fires when the OS
// thread that started the child exits rather than the process. The guard
// runs in a session of its own, so signals meant for the test's process
// group do not reach the cleanup, and its output goes to /dev/null, so it
// holds none of the test's pipes either.
type Guard struct {
	w    *os.File
	done chan error
}

// NewGuard starts a guard that runs name with args when this process ends
// or when Cleanup is called, whichever comes first, unless Release is
// called first.
func NewGuard(name string, args ...string) (*Guard, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("/bin/sh", append([]string{"-c", guardScript, CleanupMarker, name}, args...)...)
	cmd.Stdin = r // dup'ed to descriptor 0 of the guard only
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	r.Close()
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("testproc: start guard: %w", err)
	}
	g := &Guard{w: w, done: make(chan error, 1)}
	go func() { g.done <- cmd.Wait() }()
	return g, nil
}

// Cleanup runs the cleanup now and waits up to timeout for it to finish.
func (g *Guard) Cleanup(timeout time.Duration) error {
	return g.end("cleanup\n", timeout)
}

// Release ends the guard without running the cleanup.
func (g *Guard) Release() error {
	return g.end("release\n", 10*time.Second)
}

func (g *Guard) end(line string, timeout time.Duration) error {
	if g.w == nil {
		return errors.New("testproc: guard already ended")
	}
	_, _ = g.w.WriteString(line)
	g.w.Close()
	g.w = nil
	select {
	case err := <-g.done:
		return err
	case <-time.After(timeout):
		return fmt.Errorf("testproc: cleanup did not finish within %s", timeout)
	}
}

// PipeHolders lists the descriptors (/proc/<pid>/fd/<n>) that refer to the
// pipe r belongs to: those of process pid, or with pid -1 those of every
// process but this one. A test asks it who keeps a pipe open that should
// have reached end of file.
func PipeHolders(t testing.TB, r *os.File, pid int) []string {
	t.Helper()
	st, err := r.Stat() // not r.Fd(), which would put r in blocking mode and defeat read deadlines
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("pipe:[%d]", st.Sys().(*syscall.Stat_t).Ino)
	pattern := "/proc/[0-9]*/fd/*"
	if pid > 0 {
		pattern = fmt.Sprintf("/proc/%d/fd/*", pid)
	}
	self := fmt.Sprintf("/proc/%d/", os.Getpid())
	fds, _ := filepath.Glob(pattern)
	var out []string
	for _, fd := range fds {
		if link, err := os.Readlink(fd); err == nil && link == want && !strings.HasPrefix(fd, self) {
			out = append(out, fd)
		}
	}
	return out
}
