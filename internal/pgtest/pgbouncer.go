package pgtest

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sophsapp/sophsapp/internal/testproc"
)

// PgBouncer is a PgBouncer (the system's pgbouncer binary) in transaction
// pooling mode, started for one test in front of one PostgreSQL server. It
// runs in the foreground as a child of the test process, is killed if that
// process dies, and is stopped when the test ends.
type PgBouncer struct {
	// Port is the loopback port PgBouncer listens on.
	Port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// PgBouncerOptions tune the PgBouncer StartPgBouncer starts.
type PgBouncerOptions struct {
	// PoolSize is the number of server connections per database and user
	// (default_pool_size); 0 means 4.
	PoolSize int
}

// StartPgBouncer starts PgBouncer in front of the server of upstream (a
// postgres:// URL, such as one from NewDatabase). Every database of that
// server is reachable through it as the URL's user; clients authenticate
// to nobody (auth_type any), as a test needs.
func StartPgBouncer(t testing.TB, upstream string, opts PgBouncerOptions) *PgBouncer {
	t.Helper()
	bin, err := pgbouncerBinary()
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatalf("pgtest: upstream URL: %v", err)
	}
	if opts.PoolSize == 0 {
		opts.PoolSize = 4
	}
	dir, err := os.MkdirTemp(tmpBase(), "sophsapp-pgbouncer-")
	if err != nil {
		t.Fatal(err)
	}
	// The directory goes whatever becomes of the test process (PgBouncer
	// itself dies with it: Pdeathsig below).
	guard, err := testproc.NewGuard("rm", "-rf", dir)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = guard.Cleanup(time.Minute) })
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	server := fmt.Sprintf("host=%s port=%s user=%s", u.Hostname(), portOf(u), u.User.Username())
	if pw, ok := u.User.Password(); ok {
		server += " password=" + pw
	}
	ini := fmt.Sprintf(`[databases]
* = %s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = %d
max_client_conn = 1000
max_db_connections = 0
ignore_startup_parameters = extra_float_digits
server_login_retry = 1
logfile = %s
`, server, port, opts.PoolSize, filepath.Join(dir, "pgbouncer.log"))
	conf := filepath.Join(dir, "pgbouncer.ini")
	if err := os.WriteFile(conf, []byte(ini), 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, conf)
	out, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	// Killed with the test process, however that ends; PgBouncer refuses
	// to run as root, so it runs as PostgreSQL's user then.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if os.Geteuid() == 0 {
		uid, gid, err := lookupIDs("postgres")
		if err != nil {
			t.Fatalf("pgtest: PgBouncer refuses root and there is no 'postgres' user: %v", err)
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("pgtest: start pgbouncer: %v", err)
	}
	b := &PgBouncer{Port: port, dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(b.done) }()
	t.Cleanup(b.stop)
	if err := b.waitListening(10 * time.Second); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
		errs, _ := os.ReadFile(filepath.Join(dir, "stderr.log"))
		t.Fatalf("pgtest: pgbouncer: %v\n%s%s", err, log, errs)
	}
	return b
}

// URL returns direct (a postgres:// URL of the upstream server) with its
// host and port replaced by PgBouncer's: the same database through the
// pooler. Query parameters are kept.
func (b *PgBouncer) URL(direct string) string {
	u, err := url.Parse(direct)
	if err != nil {
		panic("pgtest: not a URL: " + direct)
	}
	u.Host = net.JoinHostPort("127.0.0.1", strconv.Itoa(b.Port))
	return u.String()
}

// Log returns what PgBouncer has logged so far.
func (b *PgBouncer) Log() string {
	out, _ := os.ReadFile(filepath.Join(b.dir, "pgbouncer.log"))
	return string(out)
}

func (b *PgBouncer) waitListening(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(b.Port)), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-b.done:
			return errors.New("exited before listening")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening after %s", limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop asks PgBouncer to shut down at once (SIGTERM) and kills it if it
// has not within 5 s.
func (b *PgBouncer) stop() {
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(5 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
}

func pgbouncerBinary() (string, error) {
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/pgbouncer"); err == nil {
		return "/usr/sbin/pgbouncer", nil
	}
	return "", errors.New("pgtest: pgbouncer not found; install it (Debian/Ubuntu: apt-get install pgbouncer)")
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	return "5432"
}
