package database_test

import (
	"context"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sophsapp/sophsapp"
	"github.com/sophsapp/sophsapp/internal/apptest"
	"github.com/sophsapp/sophsapp/internal/database"
	"github.com/sophsapp/sophsapp/internal/pgtest"
)

// TestConcurrentMigrations starts two instances with MIGRATE_ON_START=true
// and three `migrate` runs at the same moment on an empty database: all
// succeed, and each migration is applied exactly once.
func TestConcurrentMigrations(t *testing.T) {
	cluster, err := pgtest.StartCluster("")
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Remove()
	url := cluster.URL("postgres")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var logs apptest.SyncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	env := apptest.Env(url)
	env["MIGRATE_ON_START"] = "true"
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() {
			<-start
			errs[i] = database.MigrateAt(ctx, url, "DATABASE_URL", log)
		})
	}
	close(start)
	apps := []*apptest.App{apptest.StartEnv(t, maps.Clone(env)), apptest.StartEnv(t, maps.Clone(env))}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrate run %d: %v", i, err)
		}
	}
	// An instance serves once it has migrated (or found nothing to do).
	for i, a := range apps {
		resp, err := a.HTTP.Get(a.URL + "/api/health")
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("instance %d: health %d", i, resp.StatusCode)
		}
	}

	files, err := fs.Glob(sophsapp.Migrations, "schema/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations: %v", err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var versions, rows int
	if err := conn.QueryRow(ctx, "SELECT count(DISTINCT version_id), count(*) FROM goose_db_version WHERE version_id > 0").Scan(&versions, &rows); err != nil {
		t.Fatal(err)
	}
	if versions != len(files) || rows != len(files) {
		t.Errorf("goose_db_version has %d rows for %d versions, want one row for each of %d migrations", rows, versions, len(files))
	}
	applied := strings.Count(logs.String(), `"migration applied"`)
	for _, a := range apps {
		applied += strings.Count(a.Logs(), `"migration applied"`)
	}
	if applied != len(files) {
		t.Errorf("%d migrations applied in all, want %d (each once)", applied, len(files))
	}
}
