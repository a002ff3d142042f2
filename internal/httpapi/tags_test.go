package httpapi_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/internal/apptest"
	"github.com/sophsapp/sophsapp/internal/database"
	"github.com/sophsapp/sophsapp/internal/pgtest"
)

// tagsInUse returns GET /api/tags.
func tagsInUse(t *testing.T, a *apptest.App) []string {
	t.Helper()
	resp, err := a.Client.GetTagsWithResponse(context.Background(), withToken("ignored: tags need no token"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != http.StatusOK || resp.JSON200 == nil {
		t.Fatalf("tags: %d %s", resp.StatusCode(), resp.Body)
	}
	return resp.JSON200.Tags
}

func TestTags(t *testing.T) {
	a := apptest.Start(t, nil)
	jake := register(t, a, "jake")

	if got := tagsInUse(t, a); got == nil || len(got) != 0 {
		t.Fatalf("tags of an empty site: %#v, want []", got)
	}
	createArticle(t, a, jake.Token, "One", "rare", "go")
	createArticle(t, a, jake.Token, "Two", "go", "db")
	art := createArticle(t, a, jake.Token, "Three", "db", "go", "Go")
	// Most used first, then by name.
	if got, want := tagsInUse(t, a), []string{"go", "db", "Go", "rare"}; !slices.Equal(got, want) {
		t.Fatalf("tags %q, want %q", got, want)
	}

	// A tag no article uses any more is no longer listed.
	resp, err := a.Client.UpdateArticleWithResponse(context.Background(), art.Slug,
		api.UpdateArticleJSONRequestBody{Article: api.UpdateArticle{TagList: &[]string{"go"}}}, withToken(jake.Token))
	if err != nil || resp.StatusCode() != http.StatusOK {
		t.Fatalf("update: %v", err)
	}
	if got, want := tagsInUse(t, a), []string{"go", "db", "rare"}; !slices.Equal(got, want) {
		t.Fatalf("tags %q, want %q", got, want)
	}
}

// listening waits until a has logged that it listens for the tags'
// notifications: from then on it keeps GET /api/tags in memory.
func listening(t *testing.T, a *apptest.App) {
	t.Helper()
	apptest.WaitFor(t, "the server to listen for notifications", func() bool {
		for _, l := range a.LogLines() {
			if l["msg"] == "listening for database notifications" && l["channel"] == "tags_changed" {
				return true
			}
		}
		return false
	})
}

// eventuallyTags polls a's GET /api/tags for up to 5 s until it is want.
func eventuallyTags(t *testing.T, a *apptest.App, want ...string) {
	t.Helper()
	var got []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got = tagsInUse(t, a); slices.Equal(got, want) {
			return
		}
	}
	t.Fatalf("tags %q 5 s on, want %q", got, want)
}

// TestTagsKeptInMemory runs two instances on one database. Each answers
// GET /api/tags from memory (it does so while the tags table is locked),
// drops that answer when any instance, or anyone in SQL, changes the tags,
// and sees its own changes at once even while the notifications are held
// up (the sessions listening for them are stopped).
func TestTagsKeptInMemory(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a := apptest.StartEnv(t, apptest.Env(url))
	b := apptest.StartEnv(t, apptest.Env(url))
	listening(t, a)
	listening(t, b)
	if v := scrape(t, a)[`sophsapp_db_listening{channel="tags_changed"}`]; v != 1 {
		t.Errorf("sophsapp_db_listening is %v while listening, want 1", v)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	jake := register(t, a, "jake")
	createArticle(t, a, jake.Token, "One", "go")
	if got := tagsInUse(t, a); !slices.Equal(got, []string{"go"}) {
		t.Fatalf("tags %q, want [go]", got)
	}

	// Kept: answered while nothing can read the table.
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE tags IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	resp, err := a.Client.GetTagsWithResponse(lctx)
	cancel()
	if err != nil || resp.JSON200 == nil || !slices.Equal(resp.JSON200.Tags, []string{"go"}) {
		t.Fatalf("tags while the table is locked: %v %v", err, resp)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	// Dropped by a change through the other instance, and by one in SQL.
	createArticle(t, b, jake.Token, "Two", "db", "go")
	eventuallyTags(t, a, "go", "db")
	if _, err := conn.Exec(ctx, "UPDATE tags SET name = 'golang' WHERE name = 'go'"); err != nil {
		t.Fatal(err)
	}
	eventuallyTags(t, a, "golang", "db")

	// With both listening sessions stopped, a change still shows at once
	// on the instance that made it.
	rows, _ := conn.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE application_name = $1", database.ListenerName("tags_changed"))
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil || len(pids) != 2 {
		t.Fatalf("listening sessions: %v %v, want 2", pids, err)
	}
	for _, pid := range pids {
		t.Cleanup(func() { _ = syscall.Kill(int(pid), syscall.SIGCONT) })
		if err := syscall.Kill(int(pid), syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	}
	three := createArticle(t, a, jake.Token, "Three", "rust")
	if got, want := tagsInUse(t, a), []string{"golang", "db", "rust"}; !slices.Equal(got, want) {
		t.Fatalf("tags after a create on the same instance: %q, want %q", got, want)
	}
	upd, err := a.Client.UpdateArticleWithResponse(ctx, three.Slug,
		api.UpdateArticleJSONRequestBody{Article: api.UpdateArticle{TagList: &[]string{"zig"}}}, withToken(jake.Token))
	if err != nil || upd.StatusCode() != http.StatusOK {
		t.Fatalf("update: %v %v", err, upd)
	}
	if got, want := tagsInUse(t, a), []string{"golang", "db", "zig"}; !slices.Equal(got, want) {
		t.Fatalf("tags after an update on the same instance: %q, want %q", got, want)
	}
	del, err := a.Client.DeleteArticleWithResponse(ctx, three.Slug, withToken(jake.Token))
	if err != nil || del.StatusCode() != http.StatusNoContent {
		t.Fatalf("delete: %v %v", err, del)
	}
	if got, want := tagsInUse(t, a), []string{"golang", "db"}; !slices.Equal(got, want) {
		t.Fatalf("tags after a delete on the same instance: %q, want %q", got, want)
	}
	createArticle(t, b, jake.Token, "Four", "db")
	for _, pid := range pids {
		if err := syscall.Kill(int(pid), syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
	}
	eventuallyTags(t, a, "db", "golang")
	if got := tagsInUse(t, b); !slices.Equal(got, []string{"db", "golang"}) {
		t.Fatalf("tags on the other instance: %q", got)
	}
}

// TestTagsNotKeptWithoutTrigger disables the trigger that notifies every
// write to tags: the probe refuses it, so no instance keeps the tag list,
// and each sees the other's changes at once.
func TestTagsNotKeptWithoutTrigger(t *testing.T) {
	url := pgtest.NewDatabase(t)
	if err := pgtest.Exec(context.Background(), url, "ALTER TABLE tags DISABLE TRIGGER tags_changed"); err != nil {
		t.Fatal(err)
	}
	a := apptest.StartEnv(t, apptest.Env(url))
	b := apptest.StartEnv(t, apptest.Env(url))
	apptest.WaitFor(t, "the probe to be refused", func() bool {
		return strings.Contains(a.Logs(), "the trigger tags_changed on tags is missing or disabled")
	})
	if v, ok := scrape(t, a)[`sophsapp_db_listening{channel="tags_changed"}`]; !ok || v != 0 {
		t.Errorf("sophsapp_db_listening is %v (exported: %v) with the trigger disabled, want 0", v, ok)
	}
	jake := register(t, a, "jake")
	createArticle(t, a, jake.Token, "One", "go")
	if got := tagsInUse(t, a); !slices.Equal(got, []string{"go"}) {
		t.Fatalf("tags %q, want [go]", got)
	}
	createArticle(t, b, jake.Token, "Two", "db")
	if got, want := tagsInUse(t, a), []string{"db", "go"}; !slices.Equal(got, want) {
		t.Fatalf("tags right after the other instance's create: %q, want %q", got, want)
	}
	for _, l := range a.LogLines() {
		if l["msg"] == "listening for database notifications" {
			t.Error("went live without the trigger")
		}
	}
}
