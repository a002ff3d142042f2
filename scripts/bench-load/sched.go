package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// autogroupPath switches the kernel's autogroup scheduling. With it on,
// CPU time is shared fairly between sessions before threads: every
// PostgreSQL backend starts a session of its own (setsid), so each one
// weighs as much as the whole server, or wrk. Under load that made some
// statements wait 100-300 ms for a CPU and put the slowest requests of
// every server, the bare reference included, at 200-700 ms
// (docs/PERFORMANCE.md, "Scheduling"). The deploy kit turns it off on the
// hosts it installs (deploy/sysctl/90-sophsapp.conf).
const autogroupPath = "/proc/sys/kernel/sched_autogroup_enabled"

// setAutogroup turns autogroup scheduling off for the bench's duration
// (unless -autogroup keep), restoring it at the end, and says which way
// the runs were measured.
func (b *bench) setAutogroup() {
	cur, err := os.ReadFile(autogroupPath)
	if err != nil {
		b.sched = "kernel without autogroup scheduling"
		return
	}
	was := strings.TrimSpace(string(cur))
	state := map[string]string{"0": "off", "1": "on"}[was]
	if b.autogroup == "keep" || was == "0" {
		b.sched = "autogroup scheduling " + state + " (the host's setting)"
		return
	}
	if err := os.WriteFile(autogroupPath, []byte("0"), 0o644); err != nil {
		b.logf("autogroup scheduling stays on (%v): expect slow outliers in every server (docs/PERFORMANCE.md, \"Scheduling\")", err)
		b.sched = "autogroup scheduling on (could not turn it off)"
		return
	}
	b.stops = append(b.stops, func() { _ = os.WriteFile(autogroupPath, []byte(was), 0o644) })
	// For the watchdog, should this process die before its stops run.
	_ = os.WriteFile(filepath.Join(b.tmp, "autogroup"), []byte(was), 0o644)
	b.logf("autogroup scheduling off while measuring, as the deploy kit sets it (back %s at the end)", state)
	b.sched = fmt.Sprintf("autogroup scheduling off, as deploy/sysctl sets it (the host's setting, %s, restored after)", state)
}
