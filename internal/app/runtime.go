package app

import "runtime/debug"

// Garbage collector settings for serve, unless GOGC or GOMEMLIMIT are set
// in the process environment (the Go runtime reads those itself).
//
// With Go's default (GOGC=100) the server's small live heap made it
// collect many times a second under load: the collector, its assists and
// returning memory to the OS took about 15 % of the CPU of a list
// request. Collecting when the heap has grown five-fold instead cut the
// server's CPU per request by a fifth to a quarter (docs/PERFORMANCE.md),
// and the soft memory limit makes it collect sooner rather than let the
// process grow past it (at 48 MiB the resident size reached 58 MiB under
// the benchmark's write mix; it was 30 MiB with Go's default).
const (
	gcPercent   = 400
	memoryLimit = 40 << 20
)

// tuneGC applies the settings above where environ leaves them to Go.
func tuneGC(environ map[string]string) {
	if _, ok := environ["GOGC"]; !ok {
		debug.SetGCPercent(gcPercent)
	}
	if _, ok := environ["GOMEMLIMIT"]; !ok {
		debug.SetMemoryLimit(memoryLimit)
	}
}
