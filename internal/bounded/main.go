// Command bounded runs a command with a hard time bound and makes sure
// that nothing it started outlives it. `make test` runs the suite through
// it:
//
//	go run ./internal/bounded -timeout 25m -- scripts/test
//
// It becomes a child subreaper (PR_SET_CHILD_SUBREAPER), so every process
// the command starts stays its descendant even when its parent exits or it
// starts a session of its own, as PostgreSQL's postmaster does. When the
// command does not finish in time, bounded prints what it was waiting for
// (the process tree with each command line, and which processes hold which
// pipes, the usual reason a parent waits forever), kills every descendant
// and exits 124. When the command finishes, descendants still running
// after -grace are reported as left behind, killed, and fail the run.
//
// Processes with testproc.CleanupMarker as an argument (the guards that
// delete throwaway clusters), and what they start, are let finish within
// -grace while everything else is killed.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sophsapp/sophsapp/internal/testproc"
)

const prSetChildSubreaper = 36 // PR_SET_CHILD_SUBREAPER from <linux/prctl.h>

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("bounded", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 25*time.Minute, "hard bound on the command's run time")
	grace := fs.Duration("grace", 30*time.Second, "how long processes left when the command ends (or is killed) may take to exit by themselves")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: bounded [-timeout 25m] [-grace 30s] -- command [arg...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		fmt.Fprintf(stderr, "bounded: cannot become a child subreaper: %v\n", errno)
		return 2
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)

	path, err := lookPath(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "bounded: %v\n", err)
		return 127
	}
	proc, err := os.StartProcess(path, fs.Args(), &os.ProcAttr{Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}})
	if err != nil {
		fmt.Fprintf(stderr, "bounded: %v\n", err)
		return 127
	}
	exited := reap(proc.Pid)
	name := strings.Join(strings.Fields(strings.Join(fs.Args(), " ")), " ")

	timer := time.NewTimer(*timeout)
	select {
	case status := <-exited:
		code := exitCode(status)
		if left := waitDescendants(*grace); len(left) > 0 {
			fmt.Fprintf(stderr, "bounded: `%s` exited (%d) but left these processes running %s later; killing them:\n", name, code, *grace)
			describe(stderr, left)
			killAll(*grace)
			if code == 0 {
				code = 1
			}
		}
		return code
	case <-timer.C:
		fmt.Fprintf(stderr, "\nbounded: `%s` did not finish within %s; it was waiting for:\n", name, *timeout)
		describe(stderr, descendants())
		fmt.Fprintln(stderr, "bounded: killing every process it started")
		killAll(*grace)
		return 124
	case sig := <-signals:
		fmt.Fprintf(stderr, "bounded: %v: killing every process `%s` started\n", sig, name)
		killAll(*grace)
		return 128 + int(sig.(syscall.Signal))
	}
}

func lookPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found on PATH", name)
}

// reap waits for every child, adopted orphans included, so none stays a
// zombie, and reports the exit status of main on the returned channel.
func reap(main int) <-chan syscall.WaitStatus {
	ch := make(chan syscall.WaitStatus, 1)
	go func() {
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, 0, nil)
			switch {
			case errors.Is(err, syscall.ECHILD):
				time.Sleep(50 * time.Millisecond) // none now; orphans may come later
			case err != nil:
			case pid == main:
				ch <- ws
			}
		}
	}()
	return ch
}

func exitCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// proc is one process as /proc describes it.
type proc struct {
	pid, ppid int
	state     string
	started   float64 // seconds since boot
	cmdline   string  // for people: argv joined, white space squeezed
	argv      []string
	cleanup   bool // has testproc.CleanupMarker as an argument, or descends from one that does
	depth     int
}

// descendants returns the live processes below this one, in tree order.
func descendants() []proc {
	all := map[int]*proc{}
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		p, ok := readProc(pid)
		if !ok {
			continue
		}
		all[pid] = &p
		children[p.ppid] = append(children[p.ppid], pid)
	}
	var out []proc
	var walk func(pid, depth int, cleanup bool)
	walk = func(pid, depth int, cleanup bool) {
		kids := children[pid]
		sort.Ints(kids)
		for _, k := range kids {
			p := all[k]
			p.depth = depth
			p.cleanup = cleanup || slices.Contains(p.argv, testproc.CleanupMarker)
			if p.state != "Z" && p.state != "X" {
				out = append(out, *p)
			}
			walk(k, depth+1, p.cleanup)
		}
	}
	walk(os.Getpid(), 0, false)
	return out
}

func readProc(pid int) (proc, bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return proc{}, false
	}
	// The command name is in parentheses and may contain anything.
	_, rest, ok := strings.Cut(string(stat), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 20 {
		return proc{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	ticks, _ := strconv.ParseFloat(f[19], 64)
	cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	argv := strings.Split(strings.TrimSuffix(string(cmd), "\x00"), "\x00")
	cmdline := strings.Join(strings.Fields(strings.Join(argv, " ")), " ")
	if cmdline == "" {
		start, _, _ := strings.Cut(string(stat), ") ")
		_, comm, _ := strings.Cut(start, "(")
		cmdline = "[" + comm + "]"
	}
	return proc{pid: pid, ppid: ppid, state: f[0], started: ticks / 100, cmdline: cmdline, argv: argv}, true
}

// describe prints procs as a tree, then every pipe they hold with all its
// holders (any process on the machine that this user may inspect), which
// shows who keeps whom waiting.
func describe(w io.Writer, procs []proc) {
	uptime := 0.0
	if b, err := os.ReadFile("/proc/uptime"); err == nil {
		uptime, _ = strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	}
	fmt.Fprintln(w, "  processes (pid, parent, state, running for, command):")
	for _, p := range procs {
		cmd := p.cmdline
		if len(cmd) > 300 {
			cmd = cmd[:300] + "..."
		}
		age := time.Duration(uptime-p.started) * time.Second
		fmt.Fprintf(w, "  %s%d  %d %s %s  %s\n", strings.Repeat("  ", p.depth), p.pid, p.ppid, p.state, age.Round(time.Second), cmd)
	}

	ours := map[string]bool{}
	for _, p := range procs {
		for _, h := range pipesOf(p.pid) {
			ours[h.pipe] = true
		}
	}
	if len(ours) == 0 {
		return
	}
	holders := map[string][]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		for _, h := range pipesOf(pid) {
			if ours[h.pipe] {
				holders[h.pipe] = append(holders[h.pipe], fmt.Sprintf("%d fd %d (%s end, %s)", pid, h.fd, h.end, commOf(pid)))
			}
		}
	}
	pipes := make([]string, 0, len(holders))
	for p := range holders {
		pipes = append(pipes, p)
	}
	slices.Sort(pipes)
	fmt.Fprintln(w, "  pipes held by these processes, with every holder (a reader waits until all write ends are closed):")
	for _, p := range pipes {
		fmt.Fprintf(w, "    %s: %s\n", p, strings.Join(holders[p], "; "))
	}
}

type pipeFD struct {
	pipe string
	fd   int
	end  string
}

func pipesOf(pid int) []pipeFD {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []pipeFD
	for _, e := range entries {
		link, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil || !strings.HasPrefix(link, "pipe:") {
			continue
		}
		fd, _ := strconv.Atoi(e.Name())
		end := "read"
		if info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%d", pid, fd)); err == nil {
			for _, line := range strings.Split(string(info), "\n") {
				if v, ok := strings.CutPrefix(line, "flags:"); ok {
					if flags, err := strconv.ParseInt(strings.TrimSpace(v), 8, 64); err == nil && flags&3 == syscall.O_WRONLY {
						end = "write"
					}
				}
			}
		}
		out = append(out, pipeFD{link, fd, end})
	}
	return out
}

func commOf(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}

// waitDescendants waits up to grace for every descendant to exit and
// returns those still running.
func waitDescendants(grace time.Duration) []proc {
	deadline := time.Now().Add(grace)
	for {
		left := descendants()
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// killAll kills every descendant but the cleanup processes with SIGKILL,
// over several rounds since a dying process may still start another; then
// gives the cleanup processes up to grace to finish, and kills what is left.
func killAll(grace time.Duration) {
	for range 50 {
		n := 0
		for _, p := range descendants() {
			if !p.cleanup {
				_ = syscall.Kill(p.pid, syscall.SIGKILL)
				n++
			}
		}
		if n == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, p := range waitDescendants(grace) {
		fmt.Fprintf(os.Stderr, "bounded: %d (%s) did not finish within %s: killing it\n", p.pid, p.cmdline, grace)
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
	}
}
