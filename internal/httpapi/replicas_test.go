package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/internal/apptest"
	"github.com/sophsapp/sophsapp/internal/database"
	"github.com/sophsapp/sophsapp/internal/pgtest"
)

// replicated is the server over a real primary and a real streaming
// replica of it.
type replicated struct {
	*apptest.App
	primary, replica       *pgtest.Cluster
	primaryURL, replicaURL string
	replicaName            string // as health and metrics name it
}

// startReplicated starts a primary, migrates it, makes a streaming replica
// of it and starts the server with the replica in DATABASE_REPLICA_URLS
// and REPLICA_MAX_LAG maxLag; it returns once the server routes anonymous
// reads to the replica.
func startReplicated(t *testing.T, maxLag string) *replicated {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	primary, err := pgtest.StartCluster("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(primary.Remove)
	r := &replicated{primary: primary, primaryURL: primary.URL("postgres")}
	if err := database.MigrateAt(ctx, r.primaryURL, "primary", slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	if r.replica, err = primary.StartReplica(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.replica.Remove)
	r.replicaURL = r.replica.URL("postgres")
	r.replicaName = fmt.Sprintf("127.0.0.1:%d", r.replica.Port)
	env := apptest.Env(r.primaryURL)
	env["DATABASE_REPLICA_URLS"] = r.replicaURL
	env["REPLICA_MAX_LAG"] = maxLag
	r.App = apptest.StartEnv(t, env)
	r.waitState(t, "ok")
	return r
}

// replicaHealth returns the replica as GET /api/health reports it; health
// must answer 200 whatever the replica's state.
func (r *replicated) replicaHealth(t *testing.T) api.ReplicaHealth {
	t.Helper()
	resp, err := r.Client.GetHealthWithResponse(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != http.StatusOK || resp.JSON200 == nil || resp.JSON200.Replicas == nil || len(*resp.JSON200.Replicas) != 1 {
		t.Fatalf("health: %d %s", resp.StatusCode(), resp.Body)
	}
	h := (*resp.JSON200.Replicas)[0]
	if h.Name != r.replicaName {
		t.Fatalf("health names the replica %q, want %q", h.Name, r.replicaName)
	}
	return h
}

// waitState waits (at most 30 s) until health reports the replica in state.
func (r *replicated) waitState(t *testing.T, state api.ReplicaHealthState) api.ReplicaHealth {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		h := r.replicaHealth(t)
		if h.State == state {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica still %s after 30 s, want %s", h.State, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitReplayed waits until the replica has every write committed so far.
func (r *replicated) waitReplayed(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pgtest.WaitReplayed(ctx, r.primaryURL, r.replicaURL); err != nil {
		t.Fatal(err)
	}
}

// reads returns sophsapp_db_reads_total by server: "primary" and the
// replica's name.
func (r *replicated) reads(t *testing.T) (primary, replica float64) {
	t.Helper()
	m := scrape(t, r.App)
	return m[`sophsapp_db_reads_total{server="primary"}`], m[`sophsapp_db_reads_total{server="`+r.replicaName+`"}`]
}

// scrape returns every sample of GET /metrics by its name and labels.
func scrape(t *testing.T, a *apptest.App) map[string]float64 {
	t.Helper()
	resp, err := a.HTTP.Get(a.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// anonymousReads are the public read operations on one article, its
// comments and its author, each with a text its answer must contain.
// (GET /api/tags is answered from memory, read from the primary after each
// change: TestTagsKeptInMemory.)
func anonymousReads(slug, author string) map[string]string {
	return map[string]string{
		"/api/articles/" + slug:               slug,
		"/api/articles":                       slug,
		"/api/articles/" + slug + "/comments": "a replicated comment",
		"/api/profiles/" + author:             author,
	}
}

func getOK(t *testing.T, a *apptest.App, path string) string {
	t.Helper()
	resp, err := a.HTTP.Get(a.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	return string(body)
}

// TestAnonymousReadsUseTheReplica writes through the primary, waits for the
// replica to replay the write, leaves the primary idle for longer than
// REPLICA_MAX_LAG, and reads anonymously: every public read is answered by
// the replica, which sees the write. An idle primary must not make a
// caught-up replica look late, as a replay-timestamp measure of lag would.
func TestAnonymousReadsUseTheReplica(t *testing.T) {
	r := startReplicated(t, "1s")
	jake := register(t, r.App, "jake")
	article := createArticle(t, r.App, jake.Token, "Read me from a replica", "replicas")
	if resp := comment(t, r.App, article.Slug, "a replicated comment", withToken(jake.Token)); resp.StatusCode() != http.StatusOK {
		t.Fatalf("comment: %d %s", resp.StatusCode(), resp.Body)
	}
	r.waitReplayed(t)
	time.Sleep(2500 * time.Millisecond) // idle for 2.5 × REPLICA_MAX_LAG
	if h := r.replicaHealth(t); h.State != "ok" || h.LagSeconds == nil || *h.LagSeconds > 1 {
		t.Fatalf("caught-up replica of an idle primary: %+v, want ok within 1 s", h)
	}

	primaryBefore, replicaBefore := r.reads(t)
	paths := anonymousReads(article.Slug, "jake")
	for p, want := range paths {
		if body := getOK(t, r.App, p); !strings.Contains(body, want) {
			t.Errorf("GET %s does not show the writes: %s", p, body)
		}
	}
	primaryAfter, replicaAfter := r.reads(t)
	if got := replicaAfter - replicaBefore; got != float64(len(paths)) {
		t.Errorf("the replica answered %v of %d anonymous reads", got, len(paths))
	}
	if primaryAfter != primaryBefore {
		t.Errorf("the primary answered %v anonymous reads with a healthy replica", primaryAfter-primaryBefore)
	}
	m := scrape(t, r.App)
	if m[`sophsapp_db_replica_state{replica="`+r.replicaName+`",state="ok"}`] != 1 {
		t.Errorf("metrics do not report the replica ok")
	}
	if _, ok := m[`sophsapp_db_replica_lag_seconds{replica="`+r.replicaName+`"}`]; !ok {
		t.Errorf("metrics report no lag for the replica")
	}
}

// TestSignedInReadsSeeTheirWrites holds the replica back (replay paused,
// within a generous REPLICA_MAX_LAG so it keeps serving) and writes: the
// writer, signed in, reads the write at once from the primary, while an
// anonymous reader is answered by the replica, which has not replayed it
// yet, until replay resumes.
func TestSignedInReadsSeeTheirWrites(t *testing.T) {
	r := startReplicated(t, "1h")
	jake := register(t, r.App, "jake")
	r.waitReplayed(t)
	ctx := context.Background()
	if err := pgtest.Exec(ctx, r.replicaURL, "SELECT pg_wal_replay_pause()"); err != nil {
		t.Fatal(err)
	}

	article := createArticle(t, r.App, jake.Token, "Straight after the write")
	if code, body, _ := getArticle(t, r.App, article.Slug, withToken(jake.Token)); code != http.StatusOK {
		t.Fatalf("signed-in read straight after the write: %d %s", code, body)
	}
	list, err := r.Client.GetArticlesWithResponse(ctx, &api.GetArticlesParams{}, withToken(jake.Token))
	if err != nil {
		t.Fatal(err)
	}
	if list.JSON200 == nil || list.JSON200.ArticlesCount != 1 {
		t.Fatalf("signed-in list straight after the write: %d %s", list.StatusCode(), list.Body)
	}
	// The anonymous reader gets the replica, which is behind.
	if code, body, _ := getArticle(t, r.App, article.Slug); code != http.StatusNotFound {
		t.Fatalf("anonymous read from the paused replica: %d %s, want 404", code, body)
	}
	if h := r.replicaHealth(t); h.State != "ok" {
		t.Fatalf("replica %+v, want ok (paused within REPLICA_MAX_LAG)", h)
	}

	if err := pgtest.Exec(ctx, r.replicaURL, "SELECT pg_wal_replay_resume()"); err != nil {
		t.Fatal(err)
	}
	r.waitReplayed(t)
	if code, body, _ := getArticle(t, r.App, article.Slug); code != http.StatusOK {
		t.Fatalf("anonymous read after replay resumed: %d %s", code, body)
	}
}

// TestLaggingReplicaIsSkipped pauses the replica's replay while writes go
// on: once it is more than REPLICA_MAX_LAG behind, health says lagging and
// anonymous reads go to the primary (they see the newest writes); when
// replay resumes it catches up and serves reads again by itself.
func TestLaggingReplicaIsSkipped(t *testing.T) {
	r := startReplicated(t, "1s")
	jake := register(t, r.App, "jake")
	r.waitReplayed(t)
	ctx := context.Background()
	pausedAt := time.Now()
	if err := pgtest.Exec(ctx, r.replicaURL, "SELECT pg_wal_replay_pause()"); err != nil {
		t.Fatal(err)
	}

	// Writes go on while the replica stays behind.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writeErr error
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			resp, err := r.Client.CreateArticleWithResponse(ctx, api.CreateArticleJSONRequestBody{Article: api.NewArticle{
				Title: fmt.Sprintf("Written while the replica waits %d", i), Description: "d", Body: "b",
			}}, withToken(jake.Token))
			if err == nil && resp.StatusCode() != http.StatusCreated {
				err = fmt.Errorf("create: %d %s", resp.StatusCode(), resp.Body)
			}
			if err != nil {
				writeErr = err
				return
			}
		}
	})
	h := r.waitState(t, "lagging")
	if h.LagSeconds == nil || *h.LagSeconds <= 1 {
		t.Fatalf("lagging replica reports lag %v, want more than 1 s", h.LagSeconds)
	}
	t.Logf("replay paused: skipped as lagging %s later, reported lag %.3f s", time.Since(pausedAt).Round(time.Millisecond), *h.LagSeconds)
	latest := createArticle(t, r.App, jake.Token, "The newest article")
	primaryBefore, replicaBefore := r.reads(t)
	if code, body, _ := getArticle(t, r.App, latest.Slug); code != http.StatusOK {
		t.Fatalf("anonymous read with the replica lagging: %d %s (the replica answered it?)", code, body)
	}
	primaryAfter, replicaAfter := r.reads(t)
	if primaryAfter != primaryBefore+1 || replicaAfter != replicaBefore {
		t.Errorf("reads answered: primary +%v, replica +%v; want the primary's only", primaryAfter-primaryBefore, replicaAfter-replicaBefore)
	}
	close(stop)
	wg.Wait()
	if writeErr != nil {
		t.Fatal(writeErr)
	}

	if err := pgtest.Exec(ctx, r.replicaURL, "SELECT pg_wal_replay_resume()"); err != nil {
		t.Fatal(err)
	}
	resumedAt := time.Now()
	r.waitState(t, "ok")
	t.Logf("replay resumed: back in rotation %s later", time.Since(resumedAt).Round(time.Millisecond))
	_, replicaBefore = r.reads(t)
	getOK(t, r.App, "/api/articles/"+latest.Slug)
	if _, replicaAfter := r.reads(t); replicaAfter != replicaBefore+1 {
		t.Errorf("the replica, back in rotation, answered %v reads of 1", replicaAfter-replicaBefore)
	}
}

// TestReplicaStoppedUnderLoad stops the replica at once (as a crash would)
// under a stream of anonymous reads and starts it again: no request fails,
// health stays 200 and says down meanwhile, and the replica serves reads
// again by itself once back.
func TestReplicaStoppedUnderLoad(t *testing.T) {
	r := startReplicated(t, "2s")
	replicaOutageUnderLoad(t, r, "stopped", r.replica.Stop, r.replica.Start)
}

// TestReplicaHangsUnderLoad freezes the replica's processes under a stream
// of anonymous reads, as when its host vanishes or the network is cut: its
// connections stay open and nothing answers. The reads waiting on it are
// given to the primary once the probe finds it down, so none fails, and
// it serves again once it answers.
func TestReplicaHangsUnderLoad(t *testing.T) {
	r := startReplicated(t, "2s")
	t.Cleanup(func() { _ = r.replica.Thaw() }) // before Remove, which cannot stop it frozen
	replicaOutageUnderLoad(t, r, "frozen", r.replica.Freeze, r.replica.Thaw)
}

func replicaOutageUnderLoad(t *testing.T, r *replicated, what string, stop, restart func() error) {
	jake := register(t, r.App, "jake")
	article := createArticle(t, r.App, jake.Token, "Read under load", "replicas")
	if resp := comment(t, r.App, article.Slug, "a replicated comment", withToken(jake.Token)); resp.StatusCode() != http.StatusOK {
		t.Fatalf("comment: %d %s", resp.StatusCode(), resp.Body)
	}
	r.waitReplayed(t)

	var urls []string
	for p := range anonymousReads(article.Slug, "jake") {
		urls = append(urls, r.URL+p)
	}
	load := apptest.StartLoad(urls, 8, 1_000_000)
	stopped := false
	defer func() {
		if !stopped {
			load.Stop()
		}
	}()
	apptest.WaitFor(t, "reads answered by the replica", func() bool { _, n := r.reads(t); return n >= 200 })

	stoppedAt := time.Now()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	h := r.waitState(t, "down")
	downAfter := time.Since(stoppedAt)
	if h.LagSeconds != nil {
		t.Errorf("down replica reports lag %v, want null", *h.LagSeconds)
	}
	during := load.Succeeded()
	apptest.WaitFor(t, "reads with the replica down", func() bool { return load.Succeeded() >= during+200 })

	startedAt := time.Now()
	if err := restart(); err != nil {
		t.Fatal(err)
	}
	r.waitState(t, "ok")
	okAfter := time.Since(startedAt)
	_, back := r.reads(t)
	apptest.WaitFor(t, "reads answered by the replica again", func() bool { _, n := r.reads(t); return n >= back+200 })
	res := load.Stop()
	stopped = true

	m := scrape(t, r.App)
	fallbacks := m[`sophsapp_db_replica_fallbacks_total{replica="`+r.replicaName+`"}`]
	primary, replica := r.reads(t)
	t.Logf("replica %s under load: %d reads, %d ok, %d failed; answered by the replica %v, by the primary %v (%v after a failure on the replica); "+
		"health said down %s after, ok %s after it was back",
		what, res.OK+res.Failed+res.Refused, res.OK, res.Failed+res.Refused, replica, primary, fallbacks,
		downAfter.Round(time.Millisecond), okAfter.Round(time.Millisecond))
	if res.Failed > 0 || res.Refused > 0 {
		t.Fatalf("%d requests failed with the replica %s and back: %q", res.Failed+res.Refused, what, res.Failures)
	}
}
