package app

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestTuneGC: serve collects less often and caps its memory softly, unless
// the environment sets GOGC or GOMEMLIMIT, which Go then applies itself.
func TestTuneGC(t *testing.T) {
	percent, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetGCPercent(percent); debug.SetMemoryLimit(limit) })

	tuneGC(map[string]string{})
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("GC percent %d, want %d", got, gcPercent)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != memoryLimit {
		t.Errorf("memory limit %d, want %d", got, memoryLimit)
	}

	tuneGC(map[string]string{"GOGC": "100", "GOMEMLIMIT": "off"})
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC set, yet the GC percent became %d", got)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != math.MaxInt64 {
		t.Errorf("GOMEMLIMIT set, yet the memory limit became %d", got)
	}
}
