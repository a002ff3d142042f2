package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// logBufferLimit bounds the log lines waiting to be written: 4 MiB, some
// 15,000 access-log lines, or seconds of traffic at full speed.
const logBufferLimit = 4 << 20

// logBatchInterval is how long the writer lets lines gather after each
// write. Under load that is at most one write, and one wake-up of the
// writing goroutine, per interval: at 7,000 requests/s without it the
// writer woke and wrote 2,000 times a second, three or four lines each. A
// line waits at most this long; the first after a quiet spell goes out at
// once.
const logBatchInterval = 10 * time.Millisecond

// logCloseTimeout bounds how long Close waits for the output to take the
// last lines, so that a stuck stdout cannot hold up the exit.
const logCloseTimeout = 5 * time.Second

// asyncWriter takes the log lines of every request without making it wait
// for the output: Write appends the line to a buffer and returns, and one
// goroutine writes whatever has gathered in one write call. Under load
// that is many lines per system call instead of one each (the access log
// at LOG_LEVEL=info cost a fifth of the CPU of the cheapest requests).
//
// Lines stay whole and in order. Should the output fall behind by more
// than limit bytes, further lines are dropped, never silently: the next
// write reports how many were lost in a line of its own. Close writes out
// everything buffered before it returns; call it when the process stops.
type asyncWriter struct {
	out      io.Writer
	limit    int
	interval time.Duration // between writes (logBatchInterval)
	wake     chan struct{} // a token: there is something to write
	done     chan struct{} // closed when the writing goroutine has stopped

	mu      sync.Mutex
	pending []byte
	spare   []byte
	dropped int64
	closed  bool
}

func newAsyncWriter(out io.Writer, limit int) *asyncWriter {
	a := &asyncWriter{out: out, limit: limit, interval: logBatchInterval, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go a.run()
	return a
}

// Write queues p, which must be whole lines (slog writes one record per
// call). It never blocks on the output and always reports success.
func (a *asyncWriter) Write(p []byte) (int, error) {
	a.mu.Lock()
	if a.closed {
		// After Close: straight through, once the last buffered lines
		// are out, so the order holds.
		a.mu.Unlock()
		<-a.done
		return a.out.Write(p)
	}
	if len(a.pending)+len(p) > a.limit {
		a.dropped++
	} else {
		a.pending = append(a.pending, p...)
	}
	select {
	case a.wake <- struct{}{}:
	default: // a token is already waiting
	}
	a.mu.Unlock()
	return len(p), nil
}

func (a *asyncWriter) run() {
	defer close(a.done)
	for range a.wake {
		a.drain()
		// Let the next lines gather. Close does not interrupt the sleep:
		// it closes wake, which ends the loop after it, so the last lines
		// wait at most one interval more.
		time.Sleep(a.interval)
	}
	a.drain()
}

// drain writes what is buffered, in one call, until nothing is.
func (a *asyncWriter) drain() {
	for {
		a.mu.Lock()
		buf, dropped := a.pending, a.dropped
		a.pending, a.spare, a.dropped = a.spare[:0], nil, 0
		a.mu.Unlock()
		if len(buf) == 0 && dropped == 0 {
			return
		}
		if len(buf) > 0 {
			_, _ = a.out.Write(buf)
		}
		if dropped > 0 {
			_, _ = fmt.Fprintf(a.out, `{"time":%q,"level":"ERROR","msg":"log output fell behind: lines dropped","dropped":%d}`+"\n",
				time.Now().UTC().Format(time.RFC3339Nano), dropped)
		}
		a.mu.Lock()
		if a.spare == nil && cap(buf) <= a.limit {
			a.spare = buf[:0]
		}
		a.mu.Unlock()
	}
}

// Close writes out every buffered line (waiting at most logCloseTimeout
// for the output) and makes later writes synchronous.
func (a *asyncWriter) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	close(a.wake)
	a.mu.Unlock()
	select {
	case <-a.done:
		return nil
	case <-time.After(logCloseTimeout):
		return fmt.Errorf("log output did not take the last lines within %s", logCloseTimeout)
	}
}

// utcHandler stamps records in UTC. It replaces a ReplaceAttr function,
// which slog calls for every attribute of every record and which doubled
// the cost of an access-log line.
type utcHandler struct{ slog.Handler }

func (h utcHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Time = r.Time.UTC()
	return h.Handler.Handle(ctx, r)
}

func (h utcHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return utcHandler{h.Handler.WithAttrs(attrs)}
}

func (h utcHandler) WithGroup(name string) slog.Handler {
	return utcHandler{h.Handler.WithGroup(name)}
}
