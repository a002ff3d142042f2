// Command bench-load measures sophsapp under load on realistic data, on a
// throwaway PostgreSQL that it starts and stops itself:
//
//	make bench-load                                  # both profiles, sophsapp alone
//	go run ./scripts/bench-load -ceiling ../shared/ceiling -targets sophsapp,ceiling
//	go run ./scripts/bench-load -profiles big -targets sophsapp,warn,nginx -rounds 3
//
// It seeds each profile directly in SQL, through the same triggers the
// API's writes fire (big: 10,000 users, 100,000 articles with 1-4 of 50
// tags, 75,000 comments, 150,000 favorites, follows; small: 20 users, 200
// articles), builds and starts the real binary, and runs wrk (bounded)
// against the list and its filters, a deep offset, the feed, one article,
// its comments, the tags and two write mixes. For every endpoint and
// target it prints req/s, p50/p99, non-2xx answers and socket errors, the
// server's RSS, and the CPU per request of the server and of PostgreSQL.
// The servers' own logs are kept in -out, one file per server and profile.
//
// Targets are measured alternately, endpoint by endpoint (the order flips
// every round), so that their ratios hold on a noisy machine:
//
//	sophsapp  the binary as configured in production (LOG_LEVEL=info)
//	warn      a second instance with LOG_LEVEL=warn (what logging costs)
//	alt       a second instance with the -alt-env variables added (an
//	          experiment: GOGC=100, DATABASE_MAX_CONNS=4, ...)
//	nginx     sophsapp behind the shipped Nginx site (TLS, access log, the
//	          one-second cache of anonymous reads; the rate limit raised,
//	          since all the load comes from one address)
//	nginx-uncached
//	          the same site with that cache off: what every request that
//	          reaches the app costs through Nginx (every signed-in one)
//	ceiling   the bare reference server in -ceiling, on a copy of the same
//	          rows in the schema "ceiling" (read endpoints only)
//
// Everything it starts (PostgreSQL, servers, Nginx, wrk) stops when it
// ends, also when it is interrupted; a watchdog stops the cluster if the
// process is killed outright.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sophsapp/sophsapp/internal/database"
	"github.com/sophsapp/sophsapp/internal/pgtest"
)

type bench struct {
	profiles             []string
	targets              []string
	endpoints            []string
	ceilingDir           string
	duration, warmup     time.Duration
	threads, conns, pool int
	rounds               int
	logLevel             string
	quietMax             float64
	quietWait            time.Duration
	cpuProfile           bool
	hold                 bool
	out                  string
	altEnv               []string
	jwtSecret            string

	tmp       string
	cluster   *pgtest.Cluster
	binary    string
	ceilBin   string
	stops     []func() // run in reverse order at the end
	runs      []run
	hz        float64
	progress  io.Writer
	pprofAddr string
	autogroup string // -autogroup: off or keep
	sched     string // how the kernel shared the CPUs, for the summary
}

func main() {
	b := &bench{hz: 100, progress: os.Stderr, jwtSecret: rand.Text() + rand.Text()}
	var profiles, targets, endpoints string
	flag.StringVar(&profiles, "profiles", "small,big", "data sets to measure: small (20 users, 200 articles), big (10,000 users, 100,000 articles)")
	flag.StringVar(&targets, "targets", "sophsapp", "servers to compare, alternated endpoint by endpoint: sophsapp, warn, nginx, nginx-uncached, ceiling")
	flag.StringVar(&endpoints, "endpoints", "", "comma-separated endpoint names to run (default all)")
	flag.StringVar(&b.ceilingDir, "ceiling", "", "directory of the reference server (its schema.sql and main package); needed for the ceiling target")
	flag.DurationVar(&b.duration, "duration", 10*time.Second, "length of each measured wrk run")
	flag.DurationVar(&b.warmup, "warmup", 3*time.Second, "wrk warm-up before each measured run")
	flag.IntVar(&b.threads, "threads", 2, "wrk threads")
	flag.IntVar(&b.conns, "conns", 32, "wrk connections")
	flag.IntVar(&b.pool, "pool", 8, "database pool size of every server")
	flag.IntVar(&b.rounds, "rounds", 1, "rounds; the target order flips every round")
	flag.StringVar(&b.logLevel, "log-level", "info", "LOG_LEVEL of the sophsapp target")
	flag.Float64Var(&b.quietMax, "quiet", 30, "before each run, wait until the host is at most this busy (percent)")
	flag.DurationVar(&b.quietWait, "quiet-wait", 20*time.Second, "longest wait for a quiet host before measuring anyway")
	flag.BoolVar(&b.cpuProfile, "cpuprofile", false, "save a CPU profile of the sophsapp server per run of the sophsapp and nginx targets (PPROF_ADDR) in -out")
	flag.BoolVar(&b.hold, "hold", false, "after the runs, keep PostgreSQL and the servers up until interrupted (for EXPLAIN)")
	flag.StringVar(&b.out, "out", "", "directory for the results (default: a new one under /tmp)")
	flag.StringVar(&b.autogroup, "autogroup", "off", "the kernel's autogroup scheduling while measuring: off (as the deploy kit sets it; needs root, restored after) or keep")
	altEnv := flag.String("alt-env", "", "comma-separated NAME=value pairs for the alt target")
	flag.Parse()
	b.profiles = split(profiles)
	b.targets = split(targets)
	b.endpoints = split(endpoints)
	b.altEnv = split(*altEnv)
	if hz, err := exec.Command("getconf", "CLK_TCK").Output(); err == nil {
		if v, err := strconv.ParseFloat(strings.TrimSpace(string(hz)), 64); err == nil {
			b.hz = v
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := b.main(ctx)
	stop()
	b.cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-load:", err)
		os.Exit(1)
	}
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.progress, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (b *bench) cleanup() {
	for i := len(b.stops) - 1; i >= 0; i-- {
		b.stops[i]()
	}
}

func (b *bench) main(ctx context.Context) error {
	for _, t := range b.targets {
		if !slices.Contains([]string{"sophsapp", "warn", "alt", "nginx", "nginx-uncached", "ceiling"}, t) {
			return fmt.Errorf("unknown target %q", t)
		}
	}
	if b.autogroup != "off" && b.autogroup != "keep" {
		return fmt.Errorf("-autogroup %q: off or keep", b.autogroup)
	}
	if slices.Contains(b.targets, "ceiling") && b.ceilingDir == "" {
		return errors.New("the ceiling target needs -ceiling DIR")
	}
	for _, tool := range []string{"wrk"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is not installed (Debian/Ubuntu: apt-get install wrk)", tool)
		}
	}
	var err error
	if b.tmp, err = os.MkdirTemp("", "sophsapp-bench-"); err != nil {
		return err
	}
	b.stops = append(b.stops, func() { os.RemoveAll(b.tmp) })
	if b.out == "" {
		b.out = filepath.Join(os.TempDir(), "sophsapp-bench-"+time.Now().Format("20060102-150405"))
	}
	if err := os.MkdirAll(b.out, 0o755); err != nil {
		return err
	}
	b.logf("results in %s", b.out)
	b.setAutogroup()
	if err := b.build(ctx); err != nil {
		return err
	}

	b.logf("starting PostgreSQL")
	if b.cluster, err = pgtest.StartCluster(""); err != nil {
		return err
	}
	b.stops = append(b.stops, b.cluster.Remove)
	// PostgreSQL's own log, with every autovacuum run, checkpoint and
	// statement that took 100 ms or more in it, stays with the results
	// (stops run in reverse: this copy runs before the cluster is
	// removed), so that a slow round or a run's slowest request can be set
	// against what PostgreSQL was doing at the time.
	for _, sql := range []string{"ALTER SYSTEM SET log_autovacuum_min_duration = 0", "ALTER SYSTEM SET log_checkpoints = on", "ALTER SYSTEM SET log_min_duration_statement = 100", "SELECT pg_reload_conf()"} {
		if err := pgtest.Exec(ctx, b.cluster.URL("postgres"), sql); err != nil {
			return err
		}
	}
	b.stops = append(b.stops, func() {
		if data, err := os.ReadFile(filepath.Join(b.cluster.Dir, "server.log")); err == nil {
			_ = os.WriteFile(filepath.Join(b.out, "postgres.log"), data, 0o644)
		}
	})
	if err := b.watchdog(); err != nil {
		return err
	}

	for _, name := range b.profiles {
		p, ok := profiles[name]
		if !ok {
			return fmt.Errorf("unknown profile %q (small, big)", name)
		}
		if err := b.profile(ctx, p); err != nil {
			return err
		}
	}
	b.report(os.Stdout)
	if f, err := os.Create(filepath.Join(b.out, "summary.md")); err == nil {
		b.report(f)
		f.Close()
	}
	if f, err := os.Create(filepath.Join(b.out, "runs.tsv")); err == nil {
		b.tsv(f)
		f.Close()
	}
	if b.hold {
		b.logf("holding: PostgreSQL on port %d (user postgres); interrupt to stop", b.cluster.Port)
		<-ctx.Done()
	}
	return nil
}

// build compiles sophsapp (and the reference server) into the temporary
// directory.
func (b *bench) build(ctx context.Context) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	b.binary = filepath.Join(b.tmp, "sophsapp")
	b.logf("building sophsapp")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", b.binary, "./cmd/sophsapp")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	if slices.Contains(b.targets, "ceiling") {
		b.ceilBin = filepath.Join(b.tmp, "ceiling")
		b.logf("building the reference server in %s", b.ceilingDir)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b.ceilBin, ".")
		cmd.Dir = b.ceilingDir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build (ceiling): %v\n%s", err, out)
		}
	}
	return nil
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("go list -m: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// watchdog starts a process outside our process group that stops the
// cluster (and everything else started in its own process group), and
// gives the kernel back its autogroup setting, when this process dies
// without cleaning up, e.g. on SIGKILL or a second interrupt.
func (b *bench) watchdog() error {
	pgctl := pgBin("pg_ctl")
	stop := fmt.Sprintf("%s -D %s -m immediate stop", pgctl, b.cluster.Dir)
	if os.Geteuid() == 0 {
		stop = "runuser -u postgres -- " + stop
	}
	script := fmt.Sprintf(`while kill -0 %d 2>/dev/null; do sleep 1; done
for g in $(cat %[2]s/pgids 2>/dev/null); do kill -KILL -- -$g 2>/dev/null; done
%[3]s >/dev/null 2>&1
if [ -f %[2]s/autogroup ]; then cat %[2]s/autogroup > %[5]s; fi
rm -rf %[4]s %[2]s`, os.Getpid(), b.tmp, stop, b.cluster.Dir, autogroupPath)
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	pid := cmd.Process.Pid
	go func() { _ = cmd.Wait() }()
	b.stops = append(b.stops, func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	return nil
}

// recordGroup notes a process group the watchdog kills if we die.
func (b *bench) recordGroup(pgid int) {
	f, err := os.OpenFile(filepath.Join(b.tmp, "pgids"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err == nil {
		fmt.Fprintln(f, pgid)
		f.Close()
	}
}

func migrate(ctx context.Context, url string) error {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	return database.Migrate(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// process is a server the bench started.
type process struct {
	name string
	url  string
	cmd  *exec.Cmd
	done chan struct{}
}

// start runs cmd in its own process group, killed with us, logging to
// logFile, and waits until probe answers 200.
func (b *bench) start(ctx context.Context, name, url, probe string, cmd *exec.Cmd, logFile string) (*process, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	b.recordGroup(cmd.Process.Pid)
	p := &process{name: name, url: url, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	b.stops = append(b.stops, func() { p.stop() })
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(probe)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-p.done:
			log, _ := os.ReadFile(logFile)
			return nil, fmt.Errorf("%s exited at start:\n%s", name, log)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s does not answer %s after 30s", name, probe)
		}
	}
}

// stop ends the process gracefully (SIGTERM, so that it flushes its log),
// then by force.
func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// startSophsapp starts the binary on url with LOG_LEVEL level.
func (b *bench) startSophsapp(ctx context.Context, name, dbURL, level string, pprof bool, extra ...string) (*process, error) {
	port, err := pgtest.FreePort()
	if err != nil {
		return nil, err
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"DATABASE_URL=" + dbURL,
		"LISTEN_ADDR=127.0.0.1:" + strconv.Itoa(port),
		"JWT_SECRET=" + b.jwtSecret, // one for every instance: the tokens work on each
		"APP_ENV=production",
		"LOG_LEVEL=" + level,
		"DATABASE_MAX_CONNS=" + strconv.Itoa(b.pool),
	}
	if pprof {
		pp, err := pgtest.FreePort()
		if err != nil {
			return nil, err
		}
		env = append(env, "PPROF_ADDR=127.0.0.1:"+strconv.Itoa(pp))
		b.pprofAddr = "127.0.0.1:" + strconv.Itoa(pp)
	}
	cmd := exec.Command(b.binary, "serve")
	cmd.Dir = b.tmp // no .env is read from here
	cmd.Env = append(env, extra...)
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	return b.start(ctx, name, url, url+"/api/health", cmd, filepath.Join(b.out, name+".log"))
}

// startCeiling starts the reference server on the schema "ceiling".
func (b *bench) startCeiling(ctx context.Context, dbURL string) (*process, error) {
	port, err := pgtest.FreePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(b.ceilBin, "-addr", addr, "-db", dbURL+"&search_path=ceiling", "-pool", strconv.Itoa(b.pool))
	return b.start(ctx, "ceiling", "http://"+addr, "http://"+addr+"/api/tags", cmd, filepath.Join(b.out, "ceiling.log"))
}

// pgBin finds one of PostgreSQL's programs as pgtest does: in $PG_BINDIR,
// the newest /usr/lib/postgresql/*/bin, or on $PATH.
func pgBin(name string) string {
	if d := os.Getenv("PG_BINDIR"); d != "" {
		return filepath.Join(d, name)
	}
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	slices.SortFunc(m, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(a))))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(b))))
		return vb - va
	})
	if len(m) > 0 {
		return m[0]
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return name
}
