package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/internal/apptest"
)

// errorMessages returns the messages of an error body.
func errorMessages(t *testing.T, body []byte) []string {
	t.Helper()
	var e api.GenericErrorModel
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %s: %v", body, err)
	}
	return e.Errors.Body
}

// TestBodyIsExactlyWhatWasValidated sends, to every operation with a
// request body, bodies in which the spec's validator and encoding/json (which
// matches member names case-insensitively and keeps the last duplicate) would
// see different values. Each must be refused, and nothing may change.
func TestBodyIsExactlyWhatWasValidated(t *testing.T) {
	a, conn := startWithDB(t)
	jake := register(t, a, "jake")
	article := createArticle(t, a, jake.Token, "Dragons")
	var tagNames []string
	for i := range 41 { // more than the 20 allowed
		tagNames = append(tagNames, fmt.Sprintf("%q", fmt.Sprint("t", i)))
	}
	tags := strings.Join(tagNames, ",")

	valid := map[string]string{
		"user":       `{"username":"anna","email":"anna@example.com","password":"password-anna"}`,
		"login":      `{"email":"jake@example.com","password":"password-jake"}`,
		"update":     `{"bio":"fine"}`,
		"article":    `{"title":"Ok","description":"Ok","body":"Ok"}`,
		"comment":    `{"body":"Ok"}`,
		"artUpdate":  `{"title":"Ok"}`,
		"badUser":    `{"username":"x y","email":"zzz","password":"1"}`,
		"badArticle": `{"title":" ","description":" ","body":" ","tagList":[` + tags + `]}`,
	}
	for _, c := range []struct {
		name, method, path, body string
	}{
		// Top level: the wrapper object's name in another case or twice.
		{"register, wrapper in other case", "POST", "/api/users", `{"user":` + valid["user"] + `,"User":` + valid["badUser"] + `}`},
		{"register, wrapper twice", "POST", "/api/users", `{"user":` + valid["user"] + `,"user":` + valid["badUser"] + `}`},
		{"register, wrapper folded by Unicode (long s)", "POST", "/api/users", `{"user":` + valid["user"] + `,"u\u017fer":` + valid["badUser"] + `}`},
		{"register, escaped duplicate", "POST", "/api/users", `{"user":` + valid["user"] + `,"\u0075ser":` + valid["badUser"] + `}`},
		{"login, wrapper in other case", "POST", "/api/users/login", `{"user":` + valid["login"] + `,"USER":{"email":"jake@example.com","password":"x"}}`},
		{"update user, wrapper in other case", "PUT", "/api/user", `{"user":` + valid["update"] + `,"uSer":{"email":"not-an-email"}}`},
		{"create article, wrapper in other case", "POST", "/api/articles", `{"article":` + valid["article"] + `,"Article":` + valid["badArticle"] + `}`},
		{"update article, wrapper in other case", "PUT", "/api/articles/" + article.Slug, `{"article":` + valid["artUpdate"] + `,"ARTICLE":` + valid["badArticle"] + `}`},
		{"comment, wrapper in other case", "POST", "/api/articles/" + article.Slug + "/comments", `{"comment":` + valid["comment"] + `,"Comment":{"body":" "}}`},
		// Nested: a field of the inner object in another case or twice.
		{"register, field in other case", "POST", "/api/users", `{"user":{"username":"anna","email":"anna@example.com","password":"password-anna","Username":"x/y"}}`},
		{"register, field in other case and type", "POST", "/api/users", `{"user":{"username":"anna","email":"anna@example.com","password":"password-anna","Username":1}}`},
		{"register, field twice", "POST", "/api/users", `{"user":{"username":"anna","email":"anna@example.com","password":"password-anna","password":"1"}}`},
		{"login, field in other case", "POST", "/api/users/login", `{"user":{"email":"jake@example.com","password":"password-jake","Password":"x"}}`},
		{"update user, lone field in other case", "PUT", "/api/user", `{"user":{"bio":"fine","Email":"not-an-email"}}`},
		{"update user, field twice", "PUT", "/api/user", `{"user":{"email":"jake2@example.com","email":"not-an-email"}}`},
		{"create article, lone field in other case", "POST", "/api/articles", `{"article":{"title":"Ok","description":"Ok","body":"Ok","TagList":[` + tags + `]}}`},
		{"create article, field twice", "POST", "/api/articles", `{"article":{"title":"Ok","description":"Ok","body":"Ok","body":" "}}`},
		{"update article, lone field in other case", "PUT", "/api/articles/" + article.Slug, `{"article":{"title":"Ok","Body":" "}}`},
		{"update article, field in other case", "PUT", "/api/articles/" + article.Slug, `{"article":{"title":"Ok","TITLE":" "}}`},
		{"comment, field in other case", "POST", "/api/articles/" + article.Slug + "/comments", `{"comment":{"body":"Ok","BODY":" "}}`},
		{"comment, field twice", "POST", "/api/articles/" + article.Slug + "/comments", `{"comment":{"body":"Ok","body":" "}}`},
		// Deeper: inside a property the schema does not declare.
		{"update user, duplicate deep inside an unknown field", "PUT", "/api/user", `{"user":{"bio":"fine","extra":{"a":{"b":1,"b":2}}}}`},
		// Trailing data after the document.
		{"register, a second document", "POST", "/api/users", `{"user":` + valid["user"] + `} {"user":` + valid["badUser"] + `}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := send(t, a, c.method, c.path, jake.Token, strings.NewReader(c.body))
			if status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422; body %s", status, body)
			}
			for _, m := range errorMessages(t, body) {
				if strings.Contains(m, "Go ") || strings.Contains(m, "struct") || strings.Contains(m, "json:") {
					t.Errorf("message %q speaks of the implementation", m)
				}
			}
		})
	}

	// Nothing changed: jake is the only user, with his email and no bio;
	// the article is as it was, alone and without comments.
	var users, articles, comments int
	var email, bio, title, articleBody string
	err := conn.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM articles),
		(SELECT count(*) FROM comments), (SELECT email FROM users WHERE username = 'jake'),
		(SELECT bio FROM users WHERE username = 'jake'), (SELECT title FROM articles), (SELECT body FROM articles)`).
		Scan(&users, &articles, &comments, &email, &bio, &title, &articleBody)
	if err != nil {
		t.Fatal(err)
	}
	if users != 1 || articles != 1 || comments != 0 || email != "jake@example.com" || bio != "" || title != "Dragons" || articleBody != article.Body {
		t.Errorf("after refused requests: %d users, %d articles, %d comments, email %q bio %q title %q body %q",
			users, articles, comments, email, bio, title, articleBody)
	}
}

// TestUnknownFields checks where the spec refuses members it does not
// declare (registration, login, new articles and comments: stock frontends
// send exactly the declared fields there) and where it ignores them (the
// updates, to which some frontends send whole objects back).
func TestUnknownFields(t *testing.T) {
	a := apptest.Start(t, nil)
	jake := register(t, a, "jake")
	article := createArticle(t, a, jake.Token, "Dragons", "a")

	for _, c := range []struct{ name, method, path, body string }{
		{"register", "POST", "/api/users", `{"user":{"username":"anna","email":"anna@example.com","password":"password-anna","admin":true}}`},
		{"register, top level", "POST", "/api/users", `{"user":{"username":"anna","email":"anna@example.com","password":"password-anna"},"admin":true}`},
		{"login", "POST", "/api/users/login", `{"user":{"email":"jake@example.com","password":"password-jake","remember":true}}`},
		{"create article", "POST", "/api/articles", `{"article":{"title":"Ok","description":"Ok","body":"Ok","slug":"chosen"}}`},
		{"comment", "POST", "/api/articles/" + article.Slug + "/comments", `{"comment":{"body":"Ok","author":"bob"}}`},
	} {
		status, body := send(t, a, c.method, c.path, jake.Token, strings.NewReader(c.body))
		if status != http.StatusUnprocessableEntity {
			t.Errorf("%s: status %d, want 422; body %s", c.name, status, body)
		}
	}

	// The updates take what a frontend sends back whole and change only the
	// declared fields.
	whole, err := json.Marshal(map[string]any{"user": map[string]any{
		"email": jake.Email, "token": jake.Token, "username": "jake", "bio": "new bio", "image": nil,
	}})
	if err != nil {
		t.Fatal(err)
	}
	if status, body := send(t, a, "PUT", "/api/user", jake.Token, strings.NewReader(string(whole))); status != http.StatusOK || !strings.Contains(string(body), `"bio":"new bio"`) {
		t.Errorf("PUT /api/user with the whole user: %d %s", status, body)
	}
	article.Body = "a new body"
	whole, err = json.Marshal(map[string]any{"article": article})
	if err != nil {
		t.Fatal(err)
	}
	if status, body := send(t, a, "PUT", "/api/articles/"+article.Slug, jake.Token, strings.NewReader(string(whole))); status != http.StatusOK || !strings.Contains(string(body), `"body":"a new body"`) {
		t.Errorf("PUT /api/articles/{slug} with the whole article: %d %s", status, body)
	}
}

// TestBodyShapeIsBounded checks that a body the generic decoder would blow
// up (many tiny values, deep nesting) is refused before it is decoded, even
// inside a member an update ignores.
func TestBodyShapeIsBounded(t *testing.T) {
	a := apptest.Start(t, nil)
	jake := register(t, a, "jake")
	for _, c := range []struct{ name, body, msg string }{
		{"many values", `{"user":{"bio":"x","junk":[` + strings.Repeat("0,", 20000) + `0]}}`, "body: more than 10000 JSON values"},
		{"deep", `{"user":{"bio":"x","junk":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}}`, "body: nested deeper than 32 levels"},
	} {
		status, body := send(t, a, "PUT", "/api/user", jake.Token, strings.NewReader(c.body))
		wantError(t, status, body, http.StatusUnprocessableEntity, c.msg)
	}
}

// TestJSONBodyLimit checks that JSON operations take at most MAX_JSON_BYTES
// (1 MiB by default), whether the body declares its length or is chunked,
// and answer 413 in the API's error shape beyond.
func TestJSONBodyLimit(t *testing.T) {
	a := apptest.Start(t, nil)
	const limit = 1 << 20
	// A login whose padding brings the body to exactly n bytes.
	body := func(n int) string {
		head, tail := `{"user":{"email":"jake@example.com","password":"password-jake"}`, `}`
		return head + strings.Repeat(" ", n-len(head)-len(tail)) + tail
	}
	for _, c := range []struct {
		name    string
		size    int
		chunked bool
		want    int
	}{
		{"at the limit", limit, false, http.StatusUnauthorized},
		{"at the limit, chunked", limit, true, http.StatusUnauthorized},
		{"one byte over", limit + 1, false, http.StatusRequestEntityTooLarge},
		{"one byte over, chunked", limit + 1, true, http.StatusRequestEntityTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			var r io.Reader = strings.NewReader(body(c.size))
			if c.chunked {
				r = io.MultiReader(r) // hides the length
			}
			status, b := send(t, a, "POST", "/api/users/login", "", r)
			if status != c.want {
				t.Fatalf("status %d, want %d; body %.300s", status, c.want, b)
			}
			if c.want == http.StatusRequestEntityTooLarge {
				wantError(t, status, b, c.want, "request body is larger than 1048576 bytes (1 MiB)")
			}
		})
	}
}
