package pgtest

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// StartReplica makes a streaming replica of c, the way an operator would:
// a base backup with pg_basebackup -R (which writes primary_conninfo and
// standby.signal) started on a port of its own with the same settings as c,
// since a hot standby refuses to start with fewer connections or workers
// than its primary. The replica is a Cluster like any other: Stop, Start
// and Remove work on it, and Remove it when done.
func (c *Cluster) StartReplica() (*Cluster, error) {
	r, err := newCluster(filepath.Dir(c.Dir), dirPrefix+"replica-", c.bin, c.user)
	if err != nil {
		return nil, err
	}
	dir := r.Dir
	out, err := c.pg("pg_basebackup", "-D", dir, "-h", "127.0.0.1", "-p", strconv.Itoa(c.Port), "-U", "postgres",
		"-R", "-X", "stream", "-c", "fast", "--no-sync").CombinedOutput()
	if err != nil {
		r.Remove()
		return nil, fmt.Errorf("pg_basebackup: %v\n%s", err, out)
	}
	// The backup copies the primary's log; the replica writes its own.
	_ = os.Remove(filepath.Join(dir, "server.log"))
	if r.Port, err = FreePort(); err != nil {
		r.Remove()
		return nil, err
	}
	if err := r.Start(); err != nil {
		r.Remove()
		return nil, err
	}
	return r, nil
}

// WaitReplayed waits until the replica at replicaURL has replayed all the
// WAL the primary at primaryURL had flushed when it was called, so that a
// read on the replica sees every write committed before the call. It gives
// up when ctx ends.
func WaitReplayed(ctx context.Context, primaryURL, replicaURL string) error {
	var target string
	if err := queryRow(ctx, primaryURL, "SELECT pg_current_wal_flush_lsn()::text", &target); err != nil {
		return fmt.Errorf("primary's WAL position: %w", err)
	}
	for {
		var done bool
		err := queryRow(ctx, replicaURL, "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::text::pg_lsn, false)", &done, target)
		if err == nil && done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replica did not replay up to %s: %w (last error: %v)", target, ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func queryRow(ctx context.Context, url, sql string, dest any, args ...any) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return conn.QueryRow(ctx, sql, args...).Scan(dest)
}

// chownDir gives c's directory to the user PostgreSQL runs as, when that is
// not the current one.
func (c *Cluster) chownDir() error {
	if c.user == "" {
		return nil
	}
	uid, gid, err := lookupIDs(c.user)
	if err != nil {
		return err
	}
	return os.Chown(c.Dir, uid, gid)
}

func lookupIDs(name string) (uid, gid int, err error) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, err
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid, nil
}

// Freeze stops every process of the running cluster (SIGSTOP): its
// connections stay open and the kernel still accepts new ones, but nothing
// answers, as when a host vanishes or the network between is cut. Thaw
// resumes them; a test that freezes a cluster must thaw it before
// removing it.
func (c *Cluster) Freeze() error { return c.signalAll(syscall.SIGSTOP) }

// Thaw resumes the processes Freeze stopped.
func (c *Cluster) Thaw() error { return c.signalAll(syscall.SIGCONT) }

// signalAll sends sig to the postmaster first, so that it starts no new
// process meanwhile, then to its children.
func (c *Cluster) signalAll(sig syscall.Signal) error {
	pidFile, err := os.ReadFile(filepath.Join(c.Dir, "postmaster.pid"))
	if err != nil {
		return err
	}
	first, _, _ := strings.Cut(string(pidFile), "\n")
	postmaster, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return fmt.Errorf("postmaster.pid: %w", err)
	}
	if err := syscall.Kill(postmaster, sig); err != nil {
		return err
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		stat, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after
		// its closing parenthesis.
		i := strings.LastIndexByte(string(stat), ')')
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(postmaster) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			_ = syscall.Kill(pid, sig)
		}
	}
	return nil
}
