package apptest

import (
	"bufio"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Load is a bounded stream of GET requests from several goroutines, for
// tests that change the server under traffic. A refused connection (nobody
// listening) is counted apart from a failure (a request that was accepted
// and then went wrong, or any answer but 200).
type Load struct {
	ok, refused, failed atomic.Int64
	failures            sync.Map
	stop                chan struct{}
	wg                  sync.WaitGroup
}

// LoadResult is what a Load saw.
type LoadResult struct {
	OK, Refused, Failed int64
	Failures            []string // distinct failure messages
}

// StartLoad starts workers goroutines, each sending at most perWorker GET
// requests to urls in turn, each with its own keep-alive client.
func StartLoad(urls []string, workers, perWorker int) *Load {
	l := &Load{stop: make(chan struct{})}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
			defer client.CloseIdleConnections()
			for i := range perWorker {
				select {
				case <-l.stop:
					return
				default:
				}
				l.get(client, urls[(w+i)%len(urls)])
			}
		}()
	}
	return l
}

func (l *Load) get(client *http.Client, url string) {
	resp, err := client.Get(url)
	switch {
	case err != nil && errors.Is(err, syscall.ECONNREFUSED):
		l.refused.Add(1)
		time.Sleep(5 * time.Millisecond)
	case err != nil:
		l.failed.Add(1)
		l.failures.Store(err.Error(), true)
	default:
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			l.ok.Add(1)
		} else {
			l.failed.Add(1)
			l.failures.Store(url+": "+resp.Status, true)
		}
	}
}

// Succeeded returns the number of 200 answers so far.
func (l *Load) Succeeded() int64 { return l.ok.Load() }

// Stop ends the load, waits for requests in flight and returns the counts.
func (l *Load) Stop() LoadResult {
	close(l.stop)
	l.wg.Wait()
	r := LoadResult{OK: l.ok.Load(), Refused: l.refused.Load(), Failed: l.failed.Load()}
	l.failures.Range(func(k, _ any) bool { r.Failures = append(r.Failures, k.(string)); return true })
	sort.Strings(r.Failures)
	return r
}

// RawLoad sends GET requests over raw keep-alive TCP connections, as wrk
// does, and never retries: a request that fails is counted as failed, and
// the next one goes on a new connection. Go's http.Client would resend an
// idempotent request that failed on a reused connection, hiding exactly
// the losses a shutdown can cause to clients that do not.
//
// Every connection comes from a loopback address of its own (127.x.y.z),
// so a failure can be matched to whether the server accepted that very
// connection (App.Accepted).
type RawLoad struct {
	ok, non2xx, refused, closed atomic.Int64
	mu                          sync.Mutex
	failures                    []RawFailure
	statuses                    map[int]int
	stop                        chan struct{}
	wg                          sync.WaitGroup
}

// RawFailure is a request that got no complete answer.
type RawFailure struct {
	Local string // the client's address, host:port
	Err   string
	Nth   int // the request's number on its connection, from 1
}

// RawLoadResult is what a RawLoad saw.
type RawLoadResult struct {
	// OK counts 2xx answers, Non2xx the others (Statuses by code).
	OK, Non2xx int64
	Statuses   map[int]int
	// Refused counts connection attempts nobody accepted at connect time;
	// Closed counts connections the server ended with Connection: close.
	Refused, Closed int64
	Failures        []RawFailure
}

// rawSource numbers the client addresses: 127.0.0.2 onwards, skipping the
// .0 and .255 of each /24.
var rawSource atomic.Uint32

func nextSourceAddr() *net.TCPAddr {
	for {
		n := rawSource.Add(1) + 1
		ip := net.IPv4(127, byte(n>>16), byte(n>>8), byte(n))
		if b := byte(n); b != 0 && b != 255 {
			return &net.TCPAddr{IP: ip}
		}
	}
}

// StartRawLoad starts conns workers sending GET path to addr (host:port),
// each on its own keep-alive connection.
func StartRawLoad(addr, path string, conns int) *RawLoad {
	l := &RawLoad{stop: make(chan struct{}), statuses: map[int]int{}}
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: apptest-rawload\r\n\r\n"
	for range conns {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for !l.stopped() {
				l.connection(addr, req)
			}
		}()
	}
	return l
}

func (l *RawLoad) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

// connection sends requests on one new connection until it fails, the
// server closes it, or the load stops.
func (l *RawLoad) connection(addr, req string) {
	d := net.Dialer{LocalAddr: nextSourceAddr(), Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			l.refused.Add(1)
			time.Sleep(5 * time.Millisecond)
			return
		}
		l.fail(d.LocalAddr.String(), err, 0)
		return
	}
	defer c.Close()
	local := c.LocalAddr().String()
	br := bufio.NewReader(c)
	for n := 1; !l.stopped(); n++ {
		_ = c.SetDeadline(time.Now().Add(15 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			l.fail(local, err, n)
			return
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			l.fail(local, err, n)
			return
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			l.fail(local, err, n)
			return
		}
		if resp.StatusCode/100 == 2 {
			l.ok.Add(1)
		} else {
			l.non2xx.Add(1)
			l.mu.Lock()
			l.statuses[resp.StatusCode]++
			l.mu.Unlock()
		}
		if resp.Close {
			l.closed.Add(1)
			return
		}
	}
}

func (l *RawLoad) fail(local string, err error, nth int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures = append(l.failures, RawFailure{Local: local, Err: err.Error(), Nth: nth})
}

// Succeeded returns the number of 2xx answers so far.
func (l *RawLoad) Succeeded() int64 { return l.ok.Load() }

// Refused returns the number of connection attempts refused so far.
func (l *RawLoad) Refused() int64 { return l.refused.Load() }

// Closed returns the number of connections the server has closed with
// Connection: close so far.
func (l *RawLoad) Closed() int64 { return l.closed.Load() }

// Stop ends the load, waits for the requests in flight and returns what
// it saw.
func (l *RawLoad) Stop() RawLoadResult {
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return RawLoadResult{
		OK: l.ok.Load(), Non2xx: l.non2xx.Load(), Statuses: maps.Clone(l.statuses),
		Refused: l.refused.Load(), Closed: l.closed.Load(), Failures: slices.Clone(l.failures),
	}
}
