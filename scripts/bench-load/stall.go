package main

import (
	"runtime"
	"time"
)

// stallTick is how often the stall probe wakes up.
const stallTick = time.Millisecond

// stallProbe measures, while a run goes on, how much later than asked a
// thread that sleeps stallTick at a time wakes up. A busy server delays it
// by a scheduler slice at most (it is one runnable thread among a few, and
// the kernel favours threads that were asleep); a pause of the whole host
// (the hypervisor, memory reclaim) delays it as much as every request in
// flight. A run's slowest requests that come with a stall of the same size
// here were the host's, whichever server was measured.
type stallProbe struct {
	stop chan struct{}
	done chan stallResult
}

type stallResult struct {
	longest time.Duration // the longest oversleep
	over50  int           // oversleeps beyond 50 ms
}

func startStallProbe() *stallProbe {
	p := &stallProbe{stop: make(chan struct{}), done: make(chan stallResult, 1)}
	go func() {
		// A thread of its own: the Go scheduler's own latency is not
		// what is measured.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var res stallResult
		last := time.Now()
		for {
			select {
			case <-p.stop:
				p.done <- res
				return
			default:
			}
			time.Sleep(stallTick)
			now := time.Now()
			if late := now.Sub(last) - stallTick; late > res.longest {
				res.longest = late
			}
			if now.Sub(last)-stallTick > 50*time.Millisecond {
				res.over50++
			}
			last = now
		}
	}()
	return p
}

// finish stops the probe and returns what it saw.
func (p *stallProbe) finish() stallResult {
	close(p.stop)
	return <-p.done
}
