package main

import (
	"runtime"
	"syscall"
	"time"
	"unsafe"
)

// stallTick is how often each stall probe wakes up.
const stallTick = time.Millisecond

// stallProbe measures, while a run goes on, how much later than asked a
// thread that sleeps stallTick at a time wakes up: one thread pinned to
// each CPU. A busy CPU delays its probe by a scheduler slice at most (the
// kernel favours threads that were asleep). A pause of one virtual CPU by
// the hypervisor delays that CPU's probe as long as it stops whatever else
// was running there, and whoever waits on it: a PostgreSQL backend holding
// a lock others need, the server's goroutines on that thread. A run's
// slowest requests that come with a stall of the same size here were the
// host's, whichever server was measured.
type stallProbe struct {
	stop chan struct{}
	done chan stallResult
	n    int
}

type stallResult struct {
	longest time.Duration // the longest oversleep of any CPU's probe
	over50  int           // oversleeps beyond 50 ms, all CPUs together
}

func startStallProbe() *stallProbe {
	p := &stallProbe{stop: make(chan struct{}), n: runtime.NumCPU()}
	p.done = make(chan stallResult, p.n)
	for cpu := range p.n {
		go p.watch(cpu)
	}
	return p
}

func (p *stallProbe) watch(cpu int) {
	// A thread of its own, on one CPU: the Go scheduler's latency is
	// not what is measured, and a pause of one CPU shows in its probe.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var mask [16]uint64 // up to 1024 CPUs
	mask[cpu/64] = 1 << (cpu % 64)
	// Unpinned if the kernel refuses: the probe then sees only pauses
	// of every CPU at once.
	_, _, _ = syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0, unsafe.Sizeof(mask), uintptr(unsafe.Pointer(&mask)))
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
		late := now.Sub(last) - stallTick
		res.longest = max(res.longest, late)
		if late > 50*time.Millisecond {
			res.over50++
		}
		last = now
	}
}

// finish stops the probes and returns what they saw.
func (p *stallProbe) finish() stallResult {
	close(p.stop)
	var all stallResult
	for range p.n {
		r := <-p.done
		all.longest = max(all.longest, r.longest)
		all.over50 += r.over50
	}
	return all
}
