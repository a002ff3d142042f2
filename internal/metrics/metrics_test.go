package metrics

import (
	"sync"
	"testing"
	"time"
)

// TestObserveCountsEachSeries checks that every request lands in its own
// (operation, method, status) counter and (operation, status) histogram,
// the first one of a series and the later ones alike, from many
// goroutines at once.
func TestObserveCountsEachSeries(t *testing.T) {
	m := New("test", nil)
	type obs struct {
		op, method string
		status     int
		n          int
	}
	all := []obs{
		{"GetArticle", "GET", 200, 50},
		{"GetArticle", "GET", 404, 7},
		{"CreateArticle", "POST", 201, 13},
		{"CreateArticle", "POST", 422, 3},
		{NoOperation, "GET", 404, 5},
		{"", "DELETE", 404, 4},        // no operation: counted as "none", "other"
		{NoOperation, "BREW", 405, 2}, // likewise, whatever the method
	}
	var wg sync.WaitGroup
	for _, o := range all {
		for range o.n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m.Observe(o.op, o.method, o.status, 3*time.Millisecond)
			}()
		}
	}
	wg.Wait()

	counts := map[[3]string]float64{
		{"GetArticle", "GET", "200"}:     50,
		{"GetArticle", "GET", "404"}:     7,
		{"CreateArticle", "POST", "201"}: 13,
		{"CreateArticle", "POST", "422"}: 3,
		{"none", "other", "404"}:         9,
		{"none", "other", "405"}:         2,
	}
	histograms := map[[2]string]uint64{
		{"GetArticle", "200"}: 50, {"GetArticle", "404"}: 7,
		{"CreateArticle", "201"}: 13, {"CreateArticle", "422"}: 3,
		{"none", "404"}: 9, {"none", "405"}: 2,
	}
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var requests, durations int
	for _, f := range fams {
		for _, s := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range s.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			switch f.GetName() {
			case "sophsapp_http_requests_total":
				labels := [3]string{l["operation"], l["method"], l["status"]}
				want, ok := counts[labels]
				if !ok {
					t.Errorf("unexpected request series %v", labels)
					continue
				}
				requests++
				if got := s.GetCounter().GetValue(); got != want {
					t.Errorf("requests%v = %v, want %v", labels, got, want)
				}
			case "sophsapp_http_request_duration_seconds":
				labels := [2]string{l["operation"], l["status"]}
				want, ok := histograms[labels]
				if !ok {
					t.Errorf("unexpected duration series %v", labels)
					continue
				}
				durations++
				h := s.GetHistogram()
				if h.GetSampleCount() != want {
					t.Errorf("duration%v has %d samples, want %d", labels, h.GetSampleCount(), want)
				}
				if sum := h.GetSampleSum(); sum < 0.003*float64(want)-1e-9 || sum > 0.003*float64(want)+1e-9 {
					t.Errorf("duration%v sums to %v s, want %v", labels, sum, 0.003*float64(want))
				}
			}
		}
	}
	if requests != len(counts) || durations != len(histograms) {
		t.Errorf("%d request and %d duration series, want %d and %d", requests, durations, len(counts), len(histograms))
	}
}

// BenchmarkObserve measures recording one request in the metrics.
func BenchmarkObserve(b *testing.B) {
	m := New("test", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Observe("GetArticle", "GET", 200, 2*time.Millisecond)
		}
	})
}
