package pgtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sophsapp/sophsapp/internal/pgtest"
)

// TestReplicaStreams checks the harness's replica: it is a hot standby that
// replays the primary's writes, and pausing its replay holds them back.
func TestReplicaStreams(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	primary, err := pgtest.StartCluster("")
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Remove()
	replica, err := primary.StartReplica()
	if err != nil {
		t.Fatal(err)
	}
	defer replica.Remove()
	p, r := primary.URL("postgres"), replica.URL("postgres")

	if err := pgtest.Exec(ctx, p, "CREATE TABLE t (n int); INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if err := pgtest.WaitReplayed(ctx, p, r); err != nil {
		t.Fatal(err)
	}
	if inRecovery, n := state(ctx, t, r); !inRecovery || n != 1 {
		t.Fatalf("replica: in recovery %v, %d rows; want true, 1", inRecovery, n)
	}

	if err := pgtest.Exec(ctx, r, "SELECT pg_wal_replay_pause()"); err != nil {
		t.Fatal(err)
	}
	if err := pgtest.Exec(ctx, p, "INSERT INTO t VALUES (2)"); err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancelShort()
	if err := pgtest.WaitReplayed(short, p, r); err == nil {
		t.Fatal("a paused replica replayed a later write")
	}
	if _, n := state(ctx, t, r); n != 1 {
		t.Fatalf("paused replica sees %d rows, want 1", n)
	}
	if err := pgtest.Exec(ctx, r, "SELECT pg_wal_replay_resume()"); err != nil {
		t.Fatal(err)
	}
	if err := pgtest.WaitReplayed(ctx, p, r); err != nil {
		t.Fatal(err)
	}
	if _, n := state(ctx, t, r); n != 2 {
		t.Fatalf("resumed replica sees %d rows, want 2", n)
	}
}

func state(ctx context.Context, t *testing.T, url string) (inRecovery bool, rows int) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery(), (SELECT count(*) FROM t)").Scan(&inRecovery, &rows); err != nil {
		t.Fatal(err)
	}
	return inRecovery, rows
}
