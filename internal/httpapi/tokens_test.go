package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/internal/apptest"
)

// operation is one request of the API that takes a token.
type operation struct{ method, path, body string }

// tokenOperations lists every operation that takes a token, aimed at
// resources that exist: slug is an article by someone, commentID a comment
// on it, username another user.
func tokenOperations(slug string, commentID int64, username string) []operation {
	article := `{"article":{"title":"T","description":"D","body":"B"}}`
	return []operation{
		{"GET", "/api/user", ""},
		{"PUT", "/api/user", `{"user":{"bio":"b"}}`},
		{"GET", "/api/profiles/" + username, ""},
		{"POST", "/api/profiles/" + username + "/follow", ""},
		{"DELETE", "/api/profiles/" + username + "/follow", ""},
		{"GET", "/api/articles", ""},
		{"GET", "/api/articles/feed", ""},
		{"POST", "/api/articles", article},
		{"GET", "/api/articles/" + slug, ""},
		{"PUT", "/api/articles/" + slug, article},
		{"POST", "/api/articles/" + slug + "/favorite", ""},
		{"DELETE", "/api/articles/" + slug + "/favorite", ""},
		{"GET", "/api/articles/" + slug + "/comments", ""},
		{"POST", "/api/articles/" + slug + "/comments", `{"comment":{"body":"c"}}`},
		{"DELETE", fmt.Sprintf("/api/articles/%s/comments/%d", slug, commentID), ""},
		{"DELETE", "/api/articles/" + slug, ""},
		{"POST", "/api/uploads", "GIF89a"},
		{"GET", "/api/user/uploads", ""},
		{"DELETE", "/api/uploads/00000000-0000-4000-8000-000000000000", ""},
	}
}

// wantUnauthorizedEverywhere fails unless token gets 401 on every
// operation that takes a token.
func wantUnauthorizedEverywhere(t *testing.T, a *apptest.App, token string, ops []operation) {
	t.Helper()
	for _, op := range ops {
		status, body := send(t, a, op.method, op.path, token, strings.NewReader(op.body))
		if status != http.StatusUnauthorized {
			t.Errorf("%s %s: status %d, want 401; body %s", op.method, op.path, status, body)
		}
	}
}

// TestTokenOfDeletedUser checks that a well-signed token whose user no
// longer exists is a 401 on every operation, never a 500 (a write naming a
// missing user violates a foreign key).
func TestTokenOfDeletedUser(t *testing.T) {
	a, conn := startWithDB(t)
	jake, ops := tokenSetup(t, a)
	if _, err := conn.Exec(context.Background(), "DELETE FROM users WHERE username = 'jake'"); err != nil {
		t.Fatal(err)
	}
	wantUnauthorizedEverywhere(t, a, jake.Token, ops)
}

// tokenSetup registers jake, and bob with an article that has a comment,
// and returns jake and the operations of tokenOperations on bob's things.
func tokenSetup(t *testing.T, a *apptest.App) (api.User, []operation) {
	t.Helper()
	jake := register(t, a, "jake")
	bob := register(t, a, "bob")
	art := createArticle(t, a, bob.Token, "Dragons")
	c := comment(t, a, art.Slug, "hi", withToken(bob.Token))
	if c.JSON200 == nil {
		t.Fatalf("comment: %d %s", c.StatusCode(), c.Body)
	}
	return jake, tokenOperations(art.Slug, c.JSON200.Comment.Id, "bob")
}

// TestPasswordChangeRevokesOtherTokens checks that a new password revokes
// every token issued before it except the one that made the change, which
// the answer carries and which keeps working.
func TestPasswordChangeRevokesOtherTokens(t *testing.T) {
	a := apptest.Start(t, nil)
	jake, ops := tokenSetup(t, a)
	loginToken := func(password string) string {
		t.Helper()
		resp := login(t, a, "jake@example.com", password)
		if resp.JSON200 == nil {
			t.Fatalf("login: %d %s", resp.StatusCode(), resp.Body)
		}
		return resp.JSON200.User.Token
	}
	laptop, phone := jake.Token, loginToken("password-jake")
	if laptop == phone {
		t.Fatal("two tokens of one user are identical")
	}

	// Changing anything but the password revokes nothing.
	updateUserRaw(t, a, laptop, `{"user":{"bio":"hello"}}`)
	if status, body := send(t, a, "GET", "/api/user", phone, nil); status != http.StatusOK {
		t.Fatalf("after a bio change, the other token: %d %s", status, body)
	}

	// The laptop changes the password: its token stays (and is the one in
	// the answer); the phone's is revoked everywhere.
	resp := updateUserRaw(t, a, laptop, `{"user":{"password":"new-password-1"}}`)
	if resp.JSON200 == nil || resp.JSON200.User.Token != laptop {
		t.Fatalf("password change: %d %s", resp.StatusCode(), resp.Body)
	}
	for _, path := range []string{"/api/user", "/api/articles/feed", "/api/profiles/bob"} {
		if status, body := send(t, a, "GET", path, laptop, nil); status != http.StatusOK {
			t.Fatalf("GET %s with the token that changed the password: %d %s", path, status, body)
		}
	}
	wantUnauthorizedEverywhere(t, a, phone, ops)

	// A login after the change works; when it changes the password in turn,
	// the laptop's token goes too.
	tablet := loginToken("new-password-1")
	if status, body := send(t, a, "GET", "/api/user", tablet, nil); status != http.StatusOK {
		t.Fatalf("token from a login after the change: %d %s", status, body)
	}
	if resp := updateUserRaw(t, a, tablet, `{"user":{"password":"new-password-2"}}`); resp.StatusCode() != http.StatusOK {
		t.Fatalf("second password change: %d %s", resp.StatusCode(), resp.Body)
	}
	wantUnauthorizedEverywhere(t, a, laptop, ops)
	if status, body := send(t, a, "GET", "/api/user", tablet, nil); status != http.StatusOK {
		t.Fatalf("the token that made the second change: %d %s", status, body)
	}
}

// TestRevokedTokenWritesNothing checks that a revoked token changes no row,
// whatever the operation: its revocation check travels in one pipeline
// with the operation's first statement, and the write after a failed check
// must be skipped and rolled back, not merely answered with 401.
func TestRevokedTokenWritesNothing(t *testing.T) {
	a, conn := startWithDB(t)
	jake, ops := tokenSetup(t, a)
	resp := login(t, a, "jake@example.com", "password-jake")
	if resp.JSON200 == nil {
		t.Fatalf("login: %d %s", resp.StatusCode(), resp.Body)
	}
	phone := resp.JSON200.User.Token
	if r := updateUserRaw(t, a, jake.Token, `{"user":{"password":"new-password-1"}}`); r.StatusCode() != http.StatusOK {
		t.Fatalf("password change: %d %s", r.StatusCode(), r.Body)
	}
	snapshot := func() string {
		t.Helper()
		var s string
		err := conn.QueryRow(context.Background(), `SELECT concat_ws(' ',
			(SELECT count(*) FROM favorites), (SELECT count(*) FROM follows),
			(SELECT count(*) FROM comments), (SELECT count(*) FROM articles),
			(SELECT count(*) FROM article_tags), (SELECT count(*) FROM uploads),
			(SELECT max(updated_at) FROM users), (SELECT max(updated_at) FROM articles),
			(SELECT sum(favorites_count) FROM articles))`).Scan(&s)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// One operation at a time: a follow and an unfollow, say, would cancel
	// out in a snapshot taken after both.
	before := snapshot()
	for _, op := range ops {
		wantUnauthorizedEverywhere(t, a, phone, []operation{op})
		if after := snapshot(); after != before {
			t.Errorf("%s %s with a revoked token changed the database:\nbefore %s\nafter  %s", op.method, op.path, before, after)
			before = after
		}
	}
	// The same operations with a valid token do write: the snapshot sees
	// them, so the comparison above could fail.
	for _, op := range ops {
		if op.method == "POST" && strings.HasSuffix(op.path, "/favorite") {
			if status, body := send(t, a, op.method, op.path, jake.Token, nil); status != http.StatusOK {
				t.Fatalf("favorite with a valid token: %d %s", status, body)
			}
		}
	}
	if after := snapshot(); after == before {
		t.Error("a favorite with a valid token did not change the snapshot")
	}
}
