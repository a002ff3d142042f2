package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// report prints, per data set, one row per endpoint: the median over the
// rounds of each target with its range, and each target's ratio to the
// first.
func (b *bench) report(w io.Writer) {
	type key struct{ scale, endpoint, server string }
	groups := map[key][]run{}
	var scales, endpoints []string
	for _, r := range b.runs {
		k := key{r.scale, r.endpoint, r.server}
		groups[k] = append(groups[k], r)
		if !slices.Contains(scales, r.scale) {
			scales = append(scales, r.scale)
		}
		if !slices.Contains(endpoints, r.endpoint) {
			endpoints = append(endpoints, r.endpoint)
		}
	}
	first := b.targets[0]
	fmt.Fprintf(w, "\nwrk -t%d -c%d -d%s after %s of warm-up; pool %d; %d round(s); medians [min-max]; cpu = ms of CPU per request; %s\n",
		b.threads, b.conns, b.duration, b.warmup, b.pool, b.rounds, b.sched)
	for _, s := range scales {
		fmt.Fprintf(w, "\n### %s\n\n| endpoint | target | req/s | p50 | p99 | non-2xx | errors | RSS MiB (peak) | cpu server | cpu pg | ratio |\n|---|---|---|---|---|---|---|---|---|---|---|\n", s)
		for _, e := range endpoints {
			base := groups[key{s, e, first}]
			for _, t := range b.targets {
				rs := groups[key{s, e, t}]
				if len(rs) == 0 {
					continue
				}
				rps := values(rs, func(r run) float64 { return r.reqPerS })
				ratio := "—"
				if t != first && len(base) > 0 {
					// How the first target compares with this one, except
					// for Nginx: what it keeps of the direct throughput.
					x := median(values(base, func(r run) float64 { return r.reqPerS })) / median(rps)
					label := first + "/" + t
					perRound := roundRatios(base, rs)
					if isNginx(t) {
						x, label = 1/x, t+"/direct"
						for i := range perRound {
							perRound[i] = 1 / perRound[i]
						}
					}
					ratio = fmt.Sprintf("%.2f (%s)", x, label)
					if len(perRound) > 1 {
						// The two were measured back to back in each round:
						// a round's ratio escapes the drift between rounds.
						ratio += "; per round " + spread(perRound, "%.2f")
					}
				}
				var non2xx, errs, rss, hwm int64
				for _, r := range rs {
					non2xx += r.non2xx
					errs += r.errs
					rss = max(rss, r.rssKB)
					hwm = max(hwm, r.hwmKB)
				}
				cpuSrv := median(values(rs, func(r run) float64 { return r.srvMS }))
				if isNginx(t) {
					cpuSrv = median(values(rs, func(r run) float64 { return r.srvMS + r.extraMS }))
				}
				fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %d | %d | %.0f (%.0f) | %.3f | %.3f | %s |\n",
					e, t, spread(rps, "%.0f"),
					dur(median(values(rs, func(r run) float64 { return float64(r.p50) }))),
					dur(median(values(rs, func(r run) float64 { return float64(r.p99) }))),
					non2xx, errs, float64(rss)/1024, float64(hwm)/1024, cpuSrv,
					median(values(rs, func(r run) float64 { return r.pgMS })), ratio)
			}
		}
	}
	var busy, steal []float64
	for _, r := range b.runs {
		busy = append(busy, r.busyBefore)
		steal = append(steal, r.steal)
	}
	if len(busy) > 0 {
		fmt.Fprintf(w, "\nhost busy before runs: %s %%; steal during runs: %s %%\n", spread(busy, "%.0f"), spread(steal, "%.0f"))
	}
	b.stallReport(w)
}

// stallReport sets the runs' slowest requests beside the stall probe's
// longest oversleeps: a slow request that came with a host stall in the
// same run is the host's, whichever server answered it.
func (b *bench) stallReport(w io.Writer) {
	if len(b.runs) == 0 {
		return
	}
	var stalls []float64
	slow, slowStalled := map[string]int{}, map[string]int{}
	for _, r := range b.runs {
		stalls = append(stalls, float64(r.stall)/1e6)
		if r.max > 200*time.Millisecond {
			slow[r.server]++
			if r.stall > 100*time.Millisecond {
				slowStalled[r.server]++
			}
		}
	}
	fmt.Fprintf(w, "host stall probe, longest oversleep of a 1 ms sleep per run: %s ms\n", spread(stalls, "%.1f"))
	fmt.Fprintf(w, "runs whose slowest request took over 200 ms (of them, with a host stall over 100 ms):")
	for _, t := range b.targets {
		fmt.Fprintf(w, " %s %d (%d)", t, slow[t], slowStalled[t])
	}
	fmt.Fprintln(w)
}

// roundRatios is base's req/s over other's, round by round, for the
// rounds both ran.
func roundRatios(base, other []run) []float64 {
	var out []float64
	for _, o := range other {
		for _, r := range base {
			if r.round == o.round && o.reqPerS > 0 {
				out = append(out, r.reqPerS/o.reqPerS)
			}
		}
	}
	return out
}

func values(rs []run, f func(run) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func spread(v []float64, f string) string {
	m := fmt.Sprintf(f, median(v))
	if len(v) < 2 {
		return m
	}
	return m + " [" + fmt.Sprintf(f, slices.Min(v)) + "–" + fmt.Sprintf(f, slices.Max(v)) + "]"
}

func dur(ns float64) string {
	d := time.Duration(ns)
	if d < time.Millisecond {
		return strings.TrimSuffix(fmt.Sprintf("%.2fms", float64(d)/1e6), "")
	}
	return fmt.Sprintf("%.1fms", float64(d)/1e6)
}

// tsv writes every run, one line each.
func (b *bench) tsv(w io.Writer) {
	fmt.Fprintln(w, "scale\tendpoint\ttarget\tround\treq_per_s\tp50_ms\tp99_ms\tmax_ms\tpg_sessions\trequests\tnon2xx\terrors\trss_kb\thwm_kb\tcpu_server_ms\tcpu_pg_ms\tcpu_nginx_ms\tbusy_before_pct\tbusy_pct\tsteal_pct\tstall_ms\tstalls_over_50ms")
	for _, r := range b.runs {
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%d\t%d\t%d\t%d\t%d\t%d\t%.3f\t%.3f\t%.3f\t%.0f\t%.0f\t%.0f\t%.1f\t%d\n",
			r.scale, r.endpoint, r.server, r.round, r.reqPerS, float64(r.p50)/1e6, float64(r.p99)/1e6, float64(r.max)/1e6, r.sessions, r.requests, r.non2xx, r.errs,
			r.rssKB, r.hwmKB, r.srvMS, r.pgMS, r.extraMS, r.busyBefore, r.busy, r.steal, float64(r.stall)/1e6, r.stalls)
	}
}
