package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is an output that can be held: Write waits while the test
// holds it, as a full pipe would.
type lockedBuffer struct {
	hold sync.Mutex
	mu   sync.Mutex
	buf  bytes.Buffer
	n    int // Write calls
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.hold.Lock()
	defer b.hold.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n++
	return b.buf.Write(p)
}

func (b *lockedBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(strings.TrimSuffix(b.buf.String(), "\n"), "\n")
}

// TestAsyncWriterKeepsEveryLineInOrder: lines from many goroutines all
// arrive, whole, each goroutine's in its order, in fewer writes than lines,
// and Close returns only when they are all out.
func TestAsyncWriterKeepsEveryLineInOrder(t *testing.T) {
	out := &lockedBuffer{}
	w := newAsyncWriter(out, logBufferLimit)
	const writers, each = 8, 2000
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				fmt.Fprintf(w, "{\"g\":%d,\"i\":%d,\"pad\":%q}\n", g, i, strings.Repeat("x", i%50))
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lines := out.lines()
	if len(lines) != writers*each {
		t.Fatalf("%d lines out, want %d", len(lines), writers*each)
	}
	next := make([]int, writers)
	for _, l := range lines {
		var v struct{ G, I int }
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("broken line %q: %v", l, err)
		}
		if v.I != next[v.G] {
			t.Fatalf("goroutine %d: line %d arrived when %d was expected", v.G, v.I, next[v.G])
		}
		next[v.G]++
	}
	if out.n >= writers*each {
		t.Errorf("%d writes for %d lines: nothing was batched", out.n, writers*each)
	}
	// After Close, lines still go out, synchronously.
	fmt.Fprintln(w, `{"after":"close"}`)
	if l := out.lines(); l[len(l)-1] != `{"after":"close"}` {
		t.Errorf("line written after Close is missing: %q", l[len(l)-1])
	}
}

// TestAsyncWriterNeverBlocksAndCountsDrops: while the output is stuck,
// Write keeps returning; what does not fit the limit is dropped and the
// next write says how many lines were lost, so kept + dropped = written.
func TestAsyncWriterNeverBlocksAndCountsDrops(t *testing.T) {
	out := &lockedBuffer{}
	out.hold.Lock()
	w := newAsyncWriter(out, 1000)
	line := fmt.Sprintf("{\"pad\":%q}\n", strings.Repeat("y", 88)) // 100 bytes
	const written = 50
	finished := make(chan struct{})
	go func() {
		for range written {
			w.Write([]byte(line))
		}
		close(finished)
	}()
	select {
	case <-finished:
	case <-time.After(30 * time.Second): // a guard against a hang, not a measurement
		t.Fatal("Write blocked on a stuck output")
	}
	out.hold.Unlock()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	kept, dropped := 0, 0
	for _, l := range out.lines() {
		if l == strings.TrimSuffix(line, "\n") {
			kept++
			continue
		}
		var report struct {
			Level   string
			Msg     string
			Dropped int
		}
		if err := json.Unmarshal([]byte(l), &report); err != nil || report.Level != "ERROR" || report.Dropped == 0 {
			t.Fatalf("unexpected line %q", l)
		}
		dropped += report.Dropped
	}
	if dropped == 0 || kept+dropped != written {
		t.Fatalf("%d lines kept and %d reported dropped, of %d written", kept, dropped, written)
	}
}

// TestAsyncWriterBatchesUnderSteadyLoad: lines arriving one at a time, as
// access-log lines do under load, go out in at most one write per batching
// interval (plus the first and the last), not one write each.
func TestAsyncWriterBatchesUnderSteadyLoad(t *testing.T) {
	out := &lockedBuffer{}
	w := newAsyncWriter(out, logBufferLimit)
	const lines = 400
	start := time.Now()
	for i := range lines {
		fmt.Fprintf(w, "{\"n\":%d}\n", i)
		time.Sleep(100 * time.Microsecond)
	}
	elapsed := time.Since(start)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := out.lines(); len(got) != lines {
		t.Fatalf("%d lines out, want %d", len(got), lines)
	}
	// Sleeps only ever run long, which makes batches larger: the bound
	// holds however slow the machine is.
	max := int(elapsed/logBatchInterval) + 2
	out.mu.Lock()
	defer out.mu.Unlock()
	if out.n > max {
		t.Errorf("%d lines over %s went out in %d writes, want at most %d (one per %s)", lines, elapsed.Round(time.Millisecond), out.n, max, logBatchInterval)
	}
}
