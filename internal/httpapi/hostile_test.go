package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sophsapp/sophsapp/internal/apptest"
)

// sendAs makes a request with exactly the headers given, through the
// contract-checked client, and returns the status and body.
func sendAs(t *testing.T, a *apptest.App, method, path string, headers map[string]string, body io.Reader) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, a.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := a.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestMalformedContentTypeIsRefused sends JSON bodies whose Content-Type is
// JSON with parameters mime.ParseMediaType rejects. kin-openapi reads such a
// header leniently (as application/json), so the body was validated by it
// alone and then decoded a second time by encoding/json, case-insensitively
// and keeping the last duplicate: a user's email became "zzz" and their name
// "x/z" through a wrapper in another case. Such a request is refused, and
// nothing changes.
func TestMalformedContentTypeIsRefused(t *testing.T) {
	a, conn := startWithDB(t)
	jake := register(t, a, "jake")
	article := createArticle(t, a, jake.Token, "Dragons")
	for _, ct := range []string{"application/json; ====", "application/json; charset", "application/json ;x", "application/json; a=1; a=2"} {
		for _, c := range []struct{ method, path, body string }{
			{"PUT", "/api/user", `{"user":{"bio":"ok"},"User":{"username":"x/z","email":"zzz"}}`},
			{"PUT", "/api/user", `{"user":{"bio":"ok","Email":"zzz"}}`},
			{"PUT", "/api/articles/" + article.Slug, `{"article":{"title":"Ok"},"Article":{"title":" ","body":" "}}`},
			{"POST", "/api/users", `{"user":{"username":"anna","email":"anna@example.com","password":"password-anna","password":"1"}}`},
			{"POST", "/api/articles/" + article.Slug + "/comments", `{"comment":{"body":"Ok","body":" "}}`},
		} {
			status, body := sendAs(t, a, c.method, c.path, map[string]string{
				"Content-Type": ct, "Authorization": "Token " + jake.Token,
			}, strings.NewReader(c.body))
			if status != http.StatusUnprocessableEntity {
				t.Errorf("%s %s with Content-Type %q: status %d, want 422; body %s", c.method, c.path, ct, status, body)
			}
		}
	}
	var users, comments int
	var username, email, bio, title string
	err := conn.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM comments),
		(SELECT username FROM users WHERE id = 1), (SELECT email FROM users WHERE id = 1), (SELECT bio FROM users WHERE id = 1),
		(SELECT title FROM articles)`).Scan(&users, &comments, &username, &email, &bio, &title)
	if err != nil {
		t.Fatal(err)
	}
	if users != 1 || comments != 0 || username != "jake" || email != "jake@example.com" || bio != "" || title != "Dragons" {
		t.Errorf("after refused requests: %d users, %d comments, jake is %q %q bio %q, title %q", users, comments, username, email, bio, title)
	}
}
