package app

import (
	"fmt"
	"math"
	"runtime/debug"
	"strconv"
	"strings"
)

// Garbage collector settings for serve, unless GOGC or GOMEMLIMIT are set
// in the environment or in ./.env.
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

// tuneGC applies GOGC and GOMEMLIMIT as env (the process environment with
// ./.env added) gives them, else the settings above. Go reads the two
// variables from the process environment only, at startup, so a value
// from ./.env would otherwise be dropped without a word; one from the
// environment is applied again, to the same effect. Values are read as Go
// reads them, but a malformed one is an error rather than ignored.
func tuneGC(env map[string]string) error {
	percent, limit := gcPercent, int64(memoryLimit)
	if v, ok := env["GOGC"]; ok {
		p, err := parseGOGC(v)
		if err != nil {
			return err
		}
		percent = p
	}
	if v, ok := env["GOMEMLIMIT"]; ok {
		l, err := parseGOMEMLIMIT(v)
		if err != nil {
			return err
		}
		limit = l
	}
	debug.SetGCPercent(percent)
	debug.SetMemoryLimit(limit)
	return nil
}

// parseGOGC reads GOGC as the Go runtime does: "off", or a whole number
// (negative also turns the collector off); empty is Go's default, 100.
// Go takes anything else for 100; here it is an error.
func parseGOGC(v string) (int, error) {
	switch v {
	case "":
		return 100, nil
	case "off":
		return -1, nil
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("GOGC=%q: want a whole number (a percentage) or off, e.g. GOGC=200", v)
	}
	return int(n), nil
}

// parseGOMEMLIMIT reads GOMEMLIMIT as the Go runtime does: "off" or empty
// for no limit, or bytes as a whole number with an optional unit B, KiB,
// MiB, GiB or TiB.
func parseGOMEMLIMIT(v string) (int64, error) {
	if v == "" || v == "off" {
		return math.MaxInt64, nil
	}
	digits, shift := v, 0
	for _, u := range []struct {
		suffix string
		shift  int
	}{{"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}, {"B", 0}} {
		if s, ok := strings.CutSuffix(v, u.suffix); ok {
			digits, shift = s, u.shift
			break
		}
	}
	n, err := strconv.ParseUint(digits, 10, 63)
	if err != nil || n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("GOMEMLIMIT=%q: want bytes as a whole number with an optional unit B, KiB, MiB, GiB or TiB, or off, e.g. GOMEMLIMIT=200MiB", v)
	}
	return int64(n) << shift, nil
}
