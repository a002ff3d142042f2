package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// endpoint is one thing wrk drives.
type endpoint struct {
	name    string
	path    string // GET path; "" for a write mix
	viewer  bool   // sent with the feed user's credentials
	lua     string // wrk script of a write mix (sophsapp only)
	ceiling bool   // the reference server serves it
}

// facts are the names and ids the endpoints use in one data set.
type facts struct {
	tag, author, favorited, slug string
	offset                       int
	viewerToken                  string
	writerTokens                 []string
	slugs                        []string
	counts                       map[string]int64
}

func (b *bench) profile(ctx context.Context, p profile) error {
	name := "bench_" + p.name
	url, err := seed(ctx, b, name, p)
	if err != nil {
		return err
	}
	f, err := b.facts(ctx, url, p)
	if err != nil {
		return err
	}
	b.logf("%s: tag %q on %d articles, author %q wrote %d, %q favorited %d, the feed user follows %d authors with %d articles",
		p.name, f.tag, f.counts["tag"], f.author, f.counts["author"], f.favorited, f.counts["favorited"], f.counts["followees"], f.counts["feed"])
	if err := b.explain(ctx, url, p.name, f); err != nil {
		return fmt.Errorf("plans: %w", err)
	}

	servers := map[string]*process{}
	main, err := b.startSophsapp(ctx, "sophsapp-"+p.name, url, b.logLevel, b.cpuProfile)
	if err != nil {
		return err
	}
	servers["sophsapp"] = main
	for _, t := range b.targets {
		switch t {
		case "warn":
			if servers[t], err = b.startSophsapp(ctx, "warn-"+p.name, url, "warn", false); err != nil {
				return err
			}
		case "alt":
			if servers[t], err = b.startSophsapp(ctx, "alt-"+p.name, url, b.logLevel, false, b.altEnv...); err != nil {
				return err
			}
		case "ceiling":
			if servers[t], err = b.startCeiling(ctx, url); err != nil {
				return err
			}
		case "nginx", "nginx-uncached":
			if servers[t], err = b.startNginx(ctx, main, t); err != nil {
				return err
			}
		}
	}
	if err := f.login(ctx, main.url, p); err != nil {
		return err
	}
	eps := b.endpointsFor(f)
	for round := range b.rounds {
		for _, ep := range eps {
			order := append([]string(nil), b.targets...)
			if round%2 == 1 {
				for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
					order[i], order[j] = order[j], order[i]
				}
			}
			for _, t := range order {
				if (t == "ceiling" && !ep.ceiling) || (isNginx(t) && ep.lua != "") {
					continue
				}
				r, err := b.measure(ctx, p.name, ep, t, servers[t], main, f, round)
				if err != nil {
					return err
				}
				b.runs = append(b.runs, r)
				b.logf("%s %-10s %-9s r%d %8.0f req/s  p50 %-8s p99 %-8s max %-8s non-2xx %d err %d  pg sessions %d  rss %d MiB  cpu/req srv %.3f pg %.3f ms  host %.0f%% (before %.0f%%) steal %.0f%%  host stall %s (%d over 50ms)",
					p.name, ep.name, t, round, r.reqPerS, r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.max.Round(time.Millisecond), r.non2xx, r.errs, r.sessions,
					r.rssKB>>10, r.srvMS, r.pgMS, r.busy, r.busyBefore, r.steal, r.stall.Round(time.Millisecond), r.stalls)
			}
		}
	}
	if b.hold {
		for t, s := range servers {
			b.logf("holding %s at %s", t, s.url)
		}
		b.logf("database: %s", url)
	}
	return nil
}

// measure runs one endpoint against one target: warm-up, then the
// measured run with the CPU of the server, PostgreSQL and Nginx around it.
func (b *bench) measure(ctx context.Context, scale string, ep endpoint, target string, srv, main *process, f *facts, round int) (run, error) {
	r := run{scale: scale, endpoint: ep.name, server: target, round: round}
	args := []string{}
	if ep.viewer {
		args = append(args, "-H", "Authorization: Token "+f.viewerToken, "-H", "X-User: 1")
	}
	url := srv.url + ep.path
	if ep.lua != "" {
		script := filepath.Join(b.tmp, ep.name+".lua")
		if err := os.WriteFile(script, []byte(ep.lua), 0o644); err != nil {
			return r, err
		}
		args = append(args, "-s", script)
		url = srv.url
	}
	args = append(args, url)
	r.busyBefore = b.waitQuiet()
	// Connections PostgreSQL accepts while the target is under load: a
	// server that closes its pool's connections when wrk hangs up pays
	// for new ones (a backend each) at the start of the measured run.
	sessions0 := b.sessions(ctx)
	if b.warmup > 0 {
		if _, err := b.wrk(ctx, b.warmup, args...); err != nil {
			return r, err
		}
	}
	// The process whose CPU is "the server": sophsapp for nginx too (Nginx
	// is counted apart).
	appPid := srv.pid()
	extraPid := 0
	if isNginx(target) {
		appPid, extraPid = main.pid(), srv.pid()
	}
	pgPid := b.postmaster()
	var profile chan error
	if b.cpuProfile && (target == "sophsapp" || isNginx(target)) && b.pprofAddr != "" {
		name := fmt.Sprintf("%s-%s-r%d.pprof", scale, ep.name, round)
		if isNginx(target) {
			name = fmt.Sprintf("%s-%s-%s-r%d.pprof", scale, ep.name, target, round)
		}
		profile = make(chan error, 1)
		go func() {
			profile <- fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", b.pprofAddr, int(b.duration.Seconds())-1),
				filepath.Join(b.out, name))
		}()
	}
	s0, p0, e0 := ticks(appPid), ticks(pgPid), ticks(extraPid)
	hb0, hi0, hs0 := hostCPU()
	probe := startStallProbe()
	out, err := b.wrk(ctx, b.duration, args...)
	stall := probe.finish()
	hb1, hi1, hs1 := hostCPU()
	r.stall, r.stalls = stall.longest, stall.over50
	s1, p1, e1 := ticks(appPid), ticks(pgPid), ticks(extraPid)
	if err != nil {
		return r, err
	}
	if profile != nil {
		if err := <-profile; err != nil {
			b.logf("cpu profile: %v", err)
		}
	}
	if err := parseWrk(out, &r); err != nil {
		return r, err
	}
	if sessions1 := b.sessions(ctx); sessions0 > 0 && sessions1 > 0 {
		r.sessions = sessions1 - sessions0 - 1 // less the second count's own
	}
	_ = os.WriteFile(filepath.Join(b.out, fmt.Sprintf("%s-%s-%s-r%d.wrk.txt", scale, ep.name, target, round)), []byte(out), 0o644)
	if r.requests > 0 {
		per := func(t int64) float64 { return float64(t) / b.hz * 1000 / float64(r.requests) }
		r.srvMS, r.pgMS, r.extraMS = per(s1-s0), per(p1-p0), per(e1-e0)
	}
	if tot := float64((hb1 - hb0) + (hi1 - hi0) + (hs1 - hs0)); tot > 0 {
		r.busy = 100 * float64(hb1-hb0) / tot
		r.steal = 100 * float64(hs1-hs0) / tot
	}
	r.rssKB, r.hwmKB = memKB(appPid)
	return r, nil
}

func fetch(ctx context.Context, url, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	out, err := os.Create(file)
	if err != nil {
		return err
	}
	defer out.Close()
	_, err = io.Copy(out, resp.Body)
	return err
}

// sessions returns how many connections the cluster has accepted, its
// own included, or 0 when PostgreSQL cannot say.
func (b *bench) sessions(ctx context.Context) int64 {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, b.cluster.URL("postgres"))
	if err != nil {
		return 0
	}
	defer conn.Close(ctx)
	var n int64
	_ = conn.QueryRow(ctx, "SELECT coalesce(sum(sessions), 0) FROM pg_stat_database").Scan(&n)
	return n
}

// postmaster returns the pid of the cluster's postmaster.
func (b *bench) postmaster() int {
	data, err := os.ReadFile(filepath.Join(b.cluster.Dir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	return pid
}

// facts picks the names the endpoints use and counts what they match.
func (b *bench) facts(ctx context.Context, url string, p profile) (*facts, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	f := &facts{author: "user2", favorited: "user3", offset: p.articles / 10, counts: map[string]int64{}}
	// The tag with the median number of articles.
	err = conn.QueryRow(ctx, `SELECT name FROM tags ORDER BY articles_count, name OFFSET (SELECT count(*) / 2 FROM tags) LIMIT 1`).Scan(&f.tag)
	if err != nil {
		return nil, err
	}
	if err := conn.QueryRow(ctx, `SELECT slug FROM articles WHERE id = $1`, p.articles/2).Scan(&f.slug); err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, `SELECT slug FROM articles WHERE id % ($1::int / 200) = 0 ORDER BY id LIMIT 200`, p.articles)
	if err != nil {
		return nil, err
	}
	if f.slugs, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return nil, err
	}
	for k, q := range map[string]string{
		"tag":       `SELECT articles_count FROM tags WHERE name = '` + f.tag + `'`,
		"author":    `SELECT articles_count FROM users WHERE username = '` + f.author + `'`,
		"favorited": `SELECT uc.favorites_count FROM users u JOIN user_counts uc ON uc.user_id = u.id WHERE u.username = '` + f.favorited + `'`,
		"followees": `SELECT count(*) FROM follows WHERE follower_id = 1`,
		"feed":      `SELECT count(*) FROM articles WHERE author_id IN (SELECT followee_id FROM follows WHERE follower_id = 1)`,
	} {
		var n int64
		if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
			return nil, err
		}
		f.counts[k] = n
	}
	return f, nil
}

// login gets tokens through the API: the feed user's, and those of the
// users who write in the write mixes.
func (f *facts) login(ctx context.Context, base string, p profile) error {
	token := func(user string) (string, error) {
		body, _ := json.Marshal(map[string]any{"user": map[string]string{"email": user + "@example.com", "password": password}})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/users/login", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var out struct {
			User struct{ Token string } `json:"user"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("login %s: %s %v", user, resp.Status, err)
		}
		return out.User.Token, nil
	}
	var err error
	if f.viewerToken, err = token("user1"); err != nil {
		return err
	}
	writers := min(64, p.users-4)
	for i := range writers {
		t, err := token("user" + strconv.Itoa(4+i))
		if err != nil {
			return err
		}
		f.writerTokens = append(f.writerTokens, t)
	}
	return nil
}

func (b *bench) endpointsFor(f *facts) []endpoint {
	all := []endpoint{
		{name: "list", path: "/api/articles?limit=20", ceiling: true},
		{name: "tag", path: "/api/articles?limit=20&tag=" + f.tag, ceiling: true},
		{name: "author", path: "/api/articles?limit=20&author=" + f.author, ceiling: true},
		{name: "favorited", path: "/api/articles?limit=20&favorited=" + f.favorited, ceiling: true},
		{name: "combined", path: "/api/articles?limit=20&tag=" + f.tag + "&author=" + f.author, ceiling: true},
		{name: "offset", path: fmt.Sprintf("/api/articles?limit=20&offset=%d", f.offset), ceiling: true},
		{name: "feed", path: "/api/articles/feed?limit=20", viewer: true, ceiling: true},
		{name: "article", path: "/api/articles/" + f.slug, ceiling: true},
		{name: "comments", path: "/api/articles/" + f.slug + "/comments"},
		{name: "tags", path: "/api/tags", ceiling: true},
		{name: "favorite", lua: luaScript(f, "favorite")},
		{name: "writes", lua: luaScript(f, "writes")},
	}
	if len(b.endpoints) == 0 {
		return all
	}
	var out []endpoint
	for _, e := range all {
		for _, n := range b.endpoints {
			if e.name == n {
				out = append(out, e)
			}
		}
	}
	return out
}

// luaScript is a wrk script: "favorite" favorites and unfavorites random
// articles as random users, in pairs; "writes" cycles through creating an
// article (with tags), commenting, favoriting and unfavoriting.
func luaScript(f *facts, mix string) string {
	q := func(xs []string) string {
		out := make([]string, len(xs))
		for i, x := range xs {
			out[i] = strconv.Quote(x)
		}
		return "{" + strings.Join(out, ",") + "}"
	}
	return fmt.Sprintf(`-- generated by scripts/bench-load
local tokens = %s
local slugs = %s
local mix = %q
local counter = 1
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
local n, k, pending, stamp
function init(args)
  math.randomseed(tid * 7919)
  n = tid * 1000000
  -- With the start time in them, titles (so slugs) are unique across
  -- every run of the bench, warm-ups included: a title repeated from an
  -- earlier run would make each create collide on its slug and retry.
  stamp = os.time()
  k = 0
end
local function hdr(tok)
  return { ["Authorization"] = "Token " .. tok, ["Content-Type"] = "application/json" }
end
function request()
  n = n + 1
  if pending then
    local p = pending
    pending = nil
    return wrk.format("DELETE", "/api/articles/" .. p.slug .. "/favorite", hdr(p.tok))
  end
  local tok = tokens[math.random(#tokens)]
  local slug = slugs[math.random(#slugs)]
  k = k + 1
  local step = (mix == "favorite") and 0 or (k %% 3)
  if step == 0 then
    pending = { slug = slug, tok = tok }
    return wrk.format("POST", "/api/articles/" .. slug .. "/favorite", hdr(tok))
  elseif step == 1 then
    local body = '{"article":{"title":"Bench article ' .. stamp .. ' ' .. n .. '","description":"written under load","body":"Some words to read, more than a few of them.","tagList":["bench","go","perf"]}}'
    return wrk.format("POST", "/api/articles", hdr(tok), body)
  else
    local body = '{"comment":{"body":"A comment written under load, number ' .. n .. '."}}'
    return wrk.format("POST", "/api/articles/" .. slug .. "/comments", hdr(tok), body)
  end
end
`, q(f.writerTokens), q(f.slugs), mix)
}
