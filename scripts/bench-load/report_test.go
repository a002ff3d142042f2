package main

import (
	"strings"
	"testing"
	"time"
)

// TestReportRatios checks the summary's ratio cell: the ratio of the
// medians, first target over the other (Nginx over direct), and the
// per-round ratios, paired by round.
func TestReportRatios(t *testing.T) {
	b := &bench{targets: []string{"sophsapp", "ceiling", "nginx"}}
	add := func(server string, round int, rps float64) {
		b.runs = append(b.runs, run{scale: "small", endpoint: "list", server: server, round: round, reqPerS: rps, p99: time.Millisecond})
	}
	// Round 0: 900 / 1000 = 0.90; round 1: 1100 / 1000 = 1.10; round 2:
	// 1000 / 800 = 1.25. Medians 1000 / 1000.
	add("sophsapp", 0, 900)
	add("ceiling", 0, 1000)
	add("sophsapp", 1, 1100)
	add("ceiling", 1, 1000)
	add("ceiling", 2, 800)
	add("sophsapp", 2, 1000)
	// Nginx keeps 2000 / 900 and 1100 / 1100 of direct.
	add("nginx", 0, 2000)
	add("nginx", 1, 1100)

	var out strings.Builder
	b.report(&out)
	for _, want := range []string{
		"| 1.00 (sophsapp/ceiling); per round 1.10 [0.90–1.25] |",
		"; per round 1.61 [1.00–2.22] |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(out.String(), "(nginx/direct)") {
		t.Errorf("report lacks the Nginx ratio:\n%s", out.String())
	}
}

func TestMedianAndSpread(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want string
	}{
		{nil, "0"},
		{[]float64{3}, "3"},
		{[]float64{4, 1, 3}, "3 [1–4]"},
		{[]float64{4, 1, 3, 2}, "2.5 [1–4]"},
	} {
		if got := spread(c.in, "%g"); got != c.want {
			t.Errorf("spread(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}
