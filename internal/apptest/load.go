package apptest

import (
	"errors"
	"io"
	"net/http"
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
