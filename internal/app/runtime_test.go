package app

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestTuneGC: serve collects less often and caps its memory softly, unless
// GOGC or GOMEMLIMIT are set, in the environment or in ./.env.
func TestTuneGC(t *testing.T) {
	percent, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetGCPercent(percent); debug.SetMemoryLimit(limit) })

	// current sets a GC state that no case below asks for, so that a
	// setting left alone shows.
	current := func() (int, int64) {
		return debug.SetGCPercent(77), debug.SetMemoryLimit(77 << 20)
	}
	current()

	for _, c := range []struct {
		env     map[string]string
		percent int
		limit   int64
	}{
		{map[string]string{}, gcPercent, memoryLimit},
		// Go applied these itself, from the process environment; values
		// from ./.env reach tuneGC in the same map and only it applies them.
		{map[string]string{"GOGC": "100", "GOMEMLIMIT": "off"}, 100, math.MaxInt64},
		{map[string]string{"GOGC": "off"}, -1, memoryLimit},
		{map[string]string{"GOGC": ""}, 100, memoryLimit}, // as Go reads it
		{map[string]string{"GOMEMLIMIT": ""}, gcPercent, math.MaxInt64},
		{map[string]string{"GOMEMLIMIT": "300MiB"}, gcPercent, 300 << 20},
		{map[string]string{"GOMEMLIMIT": "1GiB", "GOGC": "250"}, 250, 1 << 30},
		{map[string]string{"GOMEMLIMIT": "123456789"}, gcPercent, 123456789},
		{map[string]string{"GOMEMLIMIT": "64KiB"}, gcPercent, 64 << 10},
		{map[string]string{"GOMEMLIMIT": "2TiB"}, gcPercent, 2 << 40},
		{map[string]string{"GOMEMLIMIT": "512B"}, gcPercent, 512},
	} {
		tuneGC(c.env) // a value tuneGC refuses leaves the state as it was
		if p, l := current(); p != c.percent || l != c.limit {
			t.Errorf("%v: GC percent %d, memory limit %d; want %d, %d", c.env, p, l, c.percent, c.limit)
		}
	}
}

// TestTuneGCRefusesMalformedValues: a value Go would not take stops
// startup with a message, rather than being silently dropped.
func TestTuneGCRefusesMalformedValues(t *testing.T) {
	percent, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetGCPercent(percent); debug.SetMemoryLimit(limit) })
	for _, env := range []map[string]string{
		{"GOGC": "lots"}, {"GOGC": "4e2"},
		{"GOMEMLIMIT": "40M"}, {"GOMEMLIMIT": "1.5GiB"}, {"GOMEMLIMIT": "-1"}, {"GOMEMLIMIT": "MiB"},
		{"GOMEMLIMIT": "99999999999TiB"},
	} {
		if err := tuneGC(env); err == nil {
			t.Errorf("%v: accepted", env)
		}
	}
}
