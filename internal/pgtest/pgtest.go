// Package pgtest gives tests a real PostgreSQL: a throwaway cluster made
// from the system's PostgreSQL binaries (on tmpfs when there is one), or the
// server named by TEST_DATABASE_URL, and a fresh database per test cloned
// from a migrated template.
//
// A test package uses it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// and each test calls pgtest.NewDatabase(t) for a connection string.
//
// No throwaway cluster outlives the test process that made it, however that
// process ends. Each cluster has a guard (testproc.Guard): a small process
// that waits on a pipe only the test process holds and, when the kernel
// closes it (the test process exited, or was killed with SIGKILL before any
// cleanup could run), stops the cluster with `pg_ctl stop -m immediate` and
// deletes its directory. A guard can itself be killed (a supervisor's
// SIGKILL to everything, the OOM killer); for that, each cluster directory
// has an owner file naming the test process, and StartCluster first removes
// the clusters of owners that are gone. Importing this package also marks
// the descriptors the test process inherited close-on-exec (see testproc),
// so PostgreSQL never holds a pipe of the process that started the test,
// such as a fuzz worker's pipes to its coordinator.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sophsapp/sophsapp/internal/database"
	"github.com/sophsapp/sophsapp/internal/testproc"
)

// Cluster is a PostgreSQL server in a private data directory, listening on
// a loopback port. It is owned by the postgres user when the tests run as
// root, since initdb refuses root.
type Cluster struct {
	Dir  string
	Port int
	bin  string
	user string // run PostgreSQL's binaries as this user; "" for the current one
	// guard stops the cluster and deletes Dir when this process ends.
	guard *testproc.Guard
}

// dirPrefix names the throwaway clusters' directories; dir+ownerSuffix is
// the owner file next to each.
const (
	dirPrefix   = "sophsapp-pg-"
	ownerSuffix = ".owner"
)

// StartCluster creates and starts a cluster under a new directory in base
// ("" picks tmpfs when available). It first removes clusters in base whose
// test process is gone.
func StartCluster(base string) (*Cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	if base == "" {
		base = tmpBase()
	}
	owner := ""
	if os.Geteuid() == 0 {
		owner = "postgres"
	}
	sweep(base, bin, owner)
	c, err := newCluster(base, dirPrefix, bin, owner)
	if err != nil {
		return nil, err
	}
	dir := c.Dir
	if out, err := c.pg("initdb", "-D", dir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync").CombinedOutput(); err != nil {
		c.Remove()
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if c.Port, err = FreePort(); err != nil {
		c.Remove()
		return nil, err
	}
	if err := c.Start(); err != nil {
		c.Remove()
		return nil, err
	}
	return c, nil
}

// newCluster makes an empty directory in base for a cluster whose
// binaries are in bin and run as user, guarded from the start: whatever
// happens to this process, the directory goes, with the cluster that may
// run in it by then.
func newCluster(base, prefix, bin, user string) (*Cluster, error) {
	dir, err := os.MkdirTemp(base, prefix)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, bin: bin, user: user}
	if c.guard, err = testproc.NewGuard("/bin/sh", "-c", cleanupScript, "sophsapp-pg-cleanup", dir, bin, user); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := os.WriteFile(dir+ownerSuffix, []byte(processIdentity(os.Getpid())), 0o644); err != nil {
		c.Remove()
		return nil, err
	}
	if err := c.chownDir(); err != nil {
		c.Remove()
		if user != "" {
			return nil, fmt.Errorf("pgtest: running as root needs a %q user to own the throwaway cluster (installed with the postgresql package): %w", user, err)
		}
		return nil, err
	}
	return c, nil
}

// cleanupScript stops the cluster in $1 (binaries in $2, run as user $3
// unless empty) at once and deletes it, then its owner file: should the
// directory resist (a postmaster still writing), the owner file stays and the
// next sweep tries again. A guard runs it when the test process ends; sweep
// runs it for clusters left behind.
const cleanupScript = `dir=$1 bin=$2 user=$3
if [ -f "$dir/postmaster.pid" ]; then
	if [ -n "$user" ]; then
		runuser -u "$user" -- "$bin/pg_ctl" -D "$dir" -m immediate -w -t 30 stop
	else
		"$bin/pg_ctl" -D "$dir" -m immediate -w -t 30 stop
	fi
fi >/dev/null 2>&1
rm -rf "$dir" && rm -f "$dir` + ownerSuffix + `"
`

// processIdentity names process pid in a way that survives pid reuse: pid,
// start time (in clock ticks since boot) and pid namespace.
func processIdentity(pid int) string {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// The fields after the command name, which is in parentheses and may
	// contain anything; the start time is field 22 of the line.
	_, rest, _ := strings.Cut(string(stat), ") ")
	fields := strings.Fields(rest)
	if len(fields) < 20 {
		return ""
	}
	ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
	return fmt.Sprintf("%d %s %s\n", pid, fields[19], ns)
}

// orphanAge is how old a cluster directory without an owner file must be
// before sweep takes it for a leftover: making one takes seconds.
const orphanAge = time.Hour

// sweep removes the clusters in base whose owner (the test process that
// made them) is gone and whose guard did not clean up: the guard itself was
// killed. Owners in another pid namespace are left alone, since they
// cannot be checked. A directory without an owner file is being made, or
// lost its owner file to an interrupted removal: it is removed once it is
// older than orphanAge and no postmaster runs in it.
func sweep(base, bin, user string) {
	owners, _ := filepath.Glob(filepath.Join(base, dirPrefix+"*"+ownerSuffix))
	ns, _ := os.Readlink("/proc/self/ns/pid")
	for _, ownerFile := range owners {
		b, err := os.ReadFile(ownerFile)
		if err != nil {
			continue
		}
		var pid int
		var start, ownerNS string
		if n, _ := fmt.Sscanf(string(b), "%d %s %s", &pid, &start, &ownerNS); n != 3 || ownerNS != ns {
			continue
		}
		if processIdentity(pid) == string(b) {
			continue // alive
		}
		dir := strings.TrimSuffix(ownerFile, ownerSuffix)
		_ = exec.Command("/bin/sh", "-c", cleanupScript, "sophsapp-pg-cleanup", dir, bin, user).Run()
	}
	dirs, _ := filepath.Glob(filepath.Join(base, dirPrefix+"*"))
	for _, dir := range dirs {
		if strings.HasSuffix(dir, ownerSuffix) {
			continue
		}
		if _, err := os.Lstat(dir + ownerSuffix); !errors.Is(err, os.ErrNotExist) {
			continue
		}
		fi, err := os.Lstat(dir)
		if err != nil || !fi.IsDir() || time.Since(fi.ModTime()) < orphanAge || postmasterRuns(dir) {
			continue
		}
		_ = os.RemoveAll(dir)
	}
}

// postmasterRuns reports whether postmaster.pid in dir names a live
// process.
func postmasterRuns(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	return err == nil && pid > 0 && syscall.Kill(pid, 0) == nil
}

// Start starts the (stopped) cluster and waits until it accepts connections.
func (c *Cluster) Start() error {
	opts := fmt.Sprintf("-k %s -h 127.0.0.1 -p %d -c fsync=off -c full_page_writes=off -c max_connections=200", c.Dir, c.Port)
	out, err := c.pg("pg_ctl", "-D", c.Dir, "-l", filepath.Join(c.Dir, "server.log"), "-w", "-t", "30", "-o", opts, "start").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl start: %v\n%s", err, out)
	}
	return nil
}

// Stop stops the cluster at once, dropping every connection, as a crash or
// an operator's immediate stop would.
func (c *Cluster) Stop() error {
	out, err := c.pg("pg_ctl", "-D", c.Dir, "-w", "-m", "immediate", "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

// Remove stops the cluster if it runs and deletes its directory: its guard
// does it now.
func (c *Cluster) Remove() {
	if c.guard == nil { // not made by newCluster
		_ = c.pg("pg_ctl", "-D", c.Dir, "-m", "immediate", "stop").Run()
		os.RemoveAll(c.Dir)
		return
	}
	if err := c.guard.Cleanup(time.Minute); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: removing %s: %v\n", c.Dir, err)
	}
}

// URL returns a connection string for database name.
func (c *Cluster) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, name)
}

func (c *Cluster) pg(name string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, name)
	if c.user != "" {
		return exec.Command("runuser", append([]string{"-u", c.user, "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

// binDir finds PostgreSQL's server binaries: $PG_BINDIR, the newest
// /usr/lib/postgresql/*/bin (Debian, Ubuntu), or initdb on $PATH.
func binDir() (string, error) {
	if d := os.Getenv("PG_BINDIR"); d != "" {
		return d, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	slices.SortFunc(matches, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(a))))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(b))))
		return vb - va
	})
	if len(matches) > 0 {
		return filepath.Dir(matches[0]), nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("pgtest: PostgreSQL server binaries not found; install them (Debian/Ubuntu: apt-get install postgresql) or set TEST_DATABASE_URL")
}

func tmpBase() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if f, err := os.CreateTemp("/dev/shm", "probe-"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return "/dev/shm"
		}
	}
	return os.TempDir()
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// The package-wide server and template, set up by Main.
var (
	adminURL string // a maintenance database on the test server
	template string // name of the migrated template database
	counter  atomic.Int64
	setupMu  sync.Mutex
)

// Main runs the package's tests against a throwaway cluster, or against
// TEST_DATABASE_URL when it is set, and removes the cluster afterwards.
// Processes the tests start inherit TEST_DATABASE_URL naming the cluster,
// so fuzz workers share it.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var cluster *Cluster
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		adminURL = u
	} else {
		var err error
		cluster, err = StartCluster("")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer cluster.Remove()
		adminURL = cluster.URL("postgres")
		// Test processes this one starts use this cluster too rather than
		// each making its own: Go's fuzzing engine runs the test binary
		// again as its workers, and may kill them with SIGKILL.
		os.Setenv("TEST_DATABASE_URL", adminURL)
	}
	template = fmt.Sprintf("sophsapp_tmpl_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6)
	if err := createTemplate(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	defer dropDatabase(template)
	return m.Run()
}

func createTemplate() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := Exec(ctx, adminURL, "CREATE DATABASE "+pgx.Identifier{template}.Sanitize()); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, withDatabase(adminURL, template))
	if err != nil {
		return err
	}
	defer pool.Close()
	return database.Migrate(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// NewDatabase creates a database cloned from the migrated template and
// returns its connection string; it is dropped when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	if template == "" {
		t.Fatal("pgtest: call pgtest.Main from TestMain")
	}
	name := fmt.Sprintf("%s_t%d", template, counter.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Cloning takes a lock on the template; serialise clones within the
	// package so none waits on another's lock timeout.
	setupMu.Lock()
	err := Exec(ctx, adminURL, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", pgx.Identifier{name}.Sanitize(), pgx.Identifier{template}.Sanitize()))
	setupMu.Unlock()
	if err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() { dropDatabase(name) })
	return withDatabase(adminURL, name)
}

func dropDatabase(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = Exec(ctx, adminURL, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", pgx.Identifier{name}.Sanitize()))
}

// Exec runs sql (one or more statements) on a connection of its own to
// url: for the harness, for tests that steer a cluster
// (pg_wal_replay_pause() on a replica, say) and for scripts/bench-load.
func Exec(ctx context.Context, url, sql string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// Ints runs a query whose rows are one integer each on a connection of
// its own to url and returns them, failing t on any error.
func Ints(t testing.TB, url, sql string, args ...any) []int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, sql, args...)
	col, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return col
}

// withDatabase returns u with its database name replaced by name.
func withDatabase(u, name string) string {
	parsed, err := url.Parse(u)
	if err != nil || !strings.HasPrefix(parsed.Scheme, "postgres") {
		panic("pgtest: TEST_DATABASE_URL must be a postgres:// URL")
	}
	parsed.Path = "/" + name
	return parsed.String()
}
