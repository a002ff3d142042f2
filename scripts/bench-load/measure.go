package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// run is one wrk run against one server.
type run struct {
	scale, endpoint, server string
	round                   int
	reqPerS                 float64
	p50, p99, max           time.Duration
	sessions                int64 // connections PostgreSQL accepted during the warm-up and the run
	requests, non2xx, errs  int64
	rssKB, hwmKB            int64
	srvMS, pgMS, extraMS    float64       // CPU per request: the server, PostgreSQL, Nginx
	busyBefore, busy, steal float64       // host CPU, percent
	stall                   time.Duration // the stall probe's longest oversleep during the run
	stalls                  int           // and how many of its oversleeps exceeded 50 ms
}

var (
	reRPS      = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	reRequests = regexp.MustCompile(`(\d+) requests in`)
	reNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	reSocket   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	reMax      = regexp.MustCompile(`(?m)^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)\s`)
	reLat      = regexp.MustCompile(`(?m)^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$`)
)

// wrk runs wrk for d against url with the given extra arguments, bounded by
// a timeout, and parses its report.
func (b *bench) wrk(ctx context.Context, d time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	full := append([]string{"-t", strconv.Itoa(b.threads), "-c", strconv.Itoa(b.conns), "-d", fmt.Sprintf("%ds", int(d.Seconds())), "--latency", "--timeout", "10s"}, args...)
	cmd := exec.CommandContext(ctx, "wrk", full...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("wrk %s: %v\n%s", strings.Join(full, " "), err, out)
	}
	return string(out), nil
}

func parseWrk(out string, r *run) error {
	m := reRPS.FindStringSubmatch(out)
	if m == nil {
		return fmt.Errorf("no Requests/sec in wrk's output:\n%s", out)
	}
	r.reqPerS, _ = strconv.ParseFloat(m[1], 64)
	if m := reRequests.FindStringSubmatch(out); m != nil {
		r.requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := reNon2xx.FindStringSubmatch(out); m != nil {
		r.non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := reSocket.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			r.errs += n
		}
	}
	if m := reMax.FindStringSubmatch(out); m != nil {
		r.max = wrkDuration(m[1], m[2])
	}
	for _, m := range reLat.FindAllStringSubmatch(out, -1) {
		d := wrkDuration(m[2], m[3])
		if m[1] == "50" {
			r.p50 = d
		} else {
			r.p99 = d
		}
	}
	return nil
}

// ticks returns the CPU time (clock ticks) of pid and of its children:
// those alive (user+system) and those it has reaped (cutime+cstime), so
// that PostgreSQL backends that exit during a run still count.
func ticks(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	var total int64
	own := func(p int, reaped bool) int64 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			return 0
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		// fields after the name: state is [0], utime [11], stime [12], cutime [13], cstime [14]
		var t int64
		n := 13
		if reaped {
			n = 15
		}
		for _, x := range f[11:n] {
			v, _ := strconv.ParseInt(x, 10, 64)
			t += v
		}
		return t
	}
	total += own(pid, true)
	for _, c := range children(pid) {
		total += own(c, false)
	}
	return total
}

// children lists the pids whose parent is pid.
func children(pid int) []int {
	var out []int
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err == nil {
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
		return out
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if pp, _ := strconv.Atoi(f[1]); pp == pid {
			n, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
			out = append(out, n)
		}
	}
	return out
}

// memKB returns VmRSS and VmHWM of pid in KiB.
func memKB(pid int) (rss, hwm int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = n
		case "VmHWM":
			hwm = n
		}
	}
	return rss, hwm
}

// hostCPU returns busy, idle and steal ticks over all CPUs.
func hostCPU() (busy, idle, steal int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, 0
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))[1:]
	v := make([]int64, len(f))
	for i, x := range f {
		v[i], _ = strconv.ParseInt(x, 10, 64)
	}
	// user nice system idle iowait irq softirq steal
	return v[0] + v[1] + v[2] + v[5] + v[6], v[3] + v[4], v[7]
}

// busyPct measures the host's busy share over d.
func busyPct(d time.Duration) float64 {
	b0, i0, s0 := hostCPU()
	time.Sleep(d)
	b1, i1, s1 := hostCPU()
	tot := (b1 - b0) + (i1 - i0) + (s1 - s0)
	if tot <= 0 {
		return 0
	}
	return 100 * float64(b1-b0) / float64(tot)
}

// waitQuiet waits, at most b.quietWait, until the host is at most
// b.quietMax percent busy over a second, and returns the last reading.
func (b *bench) waitQuiet() float64 {
	deadline := time.Now().Add(b.quietWait)
	for {
		p := busyPct(time.Second)
		if p <= b.quietMax || time.Now().After(deadline) {
			return p
		}
	}
}

// wrkDuration reads a latency wrk printed as a number and its unit.
func wrkDuration(v, unit string) time.Duration {
	f, _ := strconv.ParseFloat(v, 64)
	return time.Duration(f * float64(map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[unit]))
}
