package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sophsapp/sophsapp/internal/apptest"
	"github.com/sophsapp/sophsapp/internal/httpapi"
)

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

// heldBody sends head, then holds the request open (sending nothing more)
// until release is closed.
type heldBody struct {
	head    []byte
	release chan struct{}
}

func (b *heldBody) Read(p []byte) (int, error) {
	if len(b.head) > 0 {
		n := copy(p, b.head)
		b.head = b.head[n:]
		return n, nil
	}
	<-b.release
	return 0, io.ErrUnexpectedEOF
}

// answerWhileSending sends a request whose body announces size bytes but
// stops after head, and returns the answer the server gives without
// waiting for the rest. A server that reads the whole body first never
// answers: the test fails after a minute.
func answerWhileSending(t *testing.T, a *apptest.App, method, path string, headers map[string]string, head string, size int64) (int, []byte) {
	t.Helper()
	body := &heldBody{head: []byte(head), release: make(chan struct{})}
	defer close(body.release)
	req, err := http.NewRequest(method, a.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	type result struct {
		status int
		body   []byte
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := a.HTTP.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- result{resp.StatusCode, b, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("%s %s: %v", method, path, r.err)
		}
		return r.status, r.body
	case <-time.After(time.Minute):
		t.Fatalf("%s %s: no answer within a minute while the body was still on its way: the server waits for all of it", method, path)
		return 0, nil
	}
}

// TestUploadBodyIsNeverBufferedAsJSON sends uploads declared as JSON. The
// upload operation's body is streamed, but a JSON Content-Type made the
// validator read the whole body (up to MAX_UPLOAD_BYTES, 50 MiB) into
// memory as if it were a JSON document, before even checking the token:
// eight anonymous clients took the process from 28 MB to 745 MB of RSS.
// Now the body stays the handler's to stream: an anonymous client is
// refused at once, and a signed-in one as soon as the first bytes show the
// type.
func TestUploadBodyIsNeverBufferedAsJSON(t *testing.T) {
	a := apptest.Start(t, nil)
	jake := register(t, a, "jake")
	const size = 50 << 20
	head := `"` + strings.Repeat("a", 64<<10)
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "application/merge-patch+json"} {
		status, body := answerWhileSending(t, a, "POST", "/api/uploads", map[string]string{"Content-Type": ct}, head, size)
		wantError(t, status, body, http.StatusUnauthorized, "missing or invalid authorization token")

		status, body = answerWhileSending(t, a, "POST", "/api/uploads", map[string]string{
			"Content-Type": ct, "Authorization": "Token " + jake.Token,
		}, head, size)
		if status != http.StatusUnsupportedMediaType {
			t.Fatalf("Content-Type %q with a token: status %d, want 415; body %s", ct, status, body)
		}
	}
}

// rawExchange writes request on a new connection to the server, closes
// the sending side when halfClose is set (the client has nothing more to
// send), and returns the parsed answer with its body.
func rawExchange(t *testing.T, a *apptest.App, request string, halfClose bool) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(a.URL, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	if halfClose {
		if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer to %.60q: %v", request, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// TestUnreadableBodyIs400 sends request bodies that cannot be read to
// their end: broken chunked framing, a chunk larger than anything, a body
// shorter than its Content-Length. The client's fault, a 400 in the API's
// error shape, like the same on an upload; they were 500 (framing) and 503
// (truncation, taken for a lost database connection).
func TestUnreadableBodyIs400(t *testing.T) {
	a := apptest.Start(t, nil)
	jake := register(t, a, "jake")
	login := `{"user":{"email":"jake@example.com","password":"password-jake"}}`
	for _, c := range []struct {
		name, request string
		halfClose     bool
	}{
		{"chunk size not hex", "POST /api/users/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" + login + "\r\n0\r\n\r\n", false},
		{"chunk size too large", "POST /api/users/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nabc\r\n0\r\n\r\n", false},
		{"chunk without its CRLF", "POST /api/users/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x", len(login)) + "\r\n" + login + "XX0\r\n\r\n", false},
		{"not JSON, broken chunk", "POST /api/users/login HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n", false},
		{"no type, broken chunk", "POST /api/users/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n", false},
		{"signed in, broken chunk", "PUT /api/user HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Token " + jake.Token + "\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n", false},
		{"shorter than Content-Length", "POST /api/users/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n" + login, true},
		{"chunked, no last chunk", "POST /api/users/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x", len(login)) + "\r\n" + login + "\r\n", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := rawExchange(t, a, c.request, c.halfClose)
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
			}
			wantError(t, resp.StatusCode, body, http.StatusBadRequest, "the request body ended early or arrived too slowly")
		})
	}
}

// TestUploadFormHeadersAreBounded sends forms whose part headers never
// end. Go's multipart reader takes up to 10 MiB of headers per part into
// memory (ten such uploads at once grew the process by 214 MB); the server
// now gives up after a few KiB of them, without waiting for the rest.
func TestUploadFormHeadersAreBounded(t *testing.T) {
	a := apptest.Start(t, nil)
	jake := register(t, a, "jake")
	headers := map[string]string{"Content-Type": "multipart/form-data; boundary=b", "Authorization": "Token " + jake.Token}
	const size = 50 << 20
	for _, c := range []struct{ name, head string }{
		{"one long header", "--b\r\nContent-Disposition: form-data; name=\"file\"\r\nX-Pad: " + strings.Repeat("a", 1<<20)},
		{"many headers", "--b\r\nContent-Disposition: form-data; name=\"file\"\r\n" + strings.Repeat("X-Pad: aaaaaaaaaaaaaaaaaaaaaaaa\r\n", 40000)},
		{"a long preamble", strings.Repeat("preamble\r\n", 100000)},
		{"a second part's headers", "--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nGIF89a\r\n--b\r\nContent-Disposition: form-data; name=\"x\"\r\nX-Pad: " + strings.Repeat("a", 1<<20)},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := answerWhileSending(t, a, "POST", "/api/uploads", headers, c.head, size)
			wantError(t, status, body, http.StatusUnprocessableEntity, "the form's part headers (or its preamble) are longer than 64 KiB")
		})
	}
	// Ordinary forms still work, with a file name and a type, and in any
	// case (media types are case-insensitive; this one used to be taken
	// for a raw file and refused as text/plain).
	f := apptest.File{Magic: apptest.GIF, Size: 200 << 10, Seed: 1}
	for _, upper := range []bool{false, true} {
		r, ct := multipartBody(f, "avatar.gif", "image/gif", "file")
		if upper {
			ct = strings.Replace(ct, "multipart/form-data", "Multipart/Form-Data", 1)
		}
		resp := upload(t, a, jake.Token, r, ct)
		if resp.StatusCode() != http.StatusCreated || resp.JSON201.Upload.Size != f.Size || resp.JSON201.Upload.Sha256 != f.SHA256() {
			t.Fatalf("a form as %q: %d %s", ct, resp.StatusCode(), resp.Body)
		}
	}
}

// TestConcurrentPasswordChanges changes one user's password from two
// devices at once. Both requests were checked when they arrived, so both
// answered 200; but the second write ran with a token the first had just
// revoked: its device was told its new password was set while the first
// device's password was lost, and the first device, signed out by the
// second change, had been told the same. (With a stolen token, the thief's
// change made at the moment the owner changed the password won.) A change
// now only lands while the token that asks for it is still valid: one
// device wins, the other gets 401 and its password is not set.
func TestConcurrentPasswordChanges(t *testing.T) {
	a := apptest.Start(t, nil)
	register(t, a, "erin")
	tokenFor := func(password string) string {
		t.Helper()
		resp := login(t, a, "erin@example.com", password)
		if resp.JSON200 == nil {
			t.Fatalf("login: %d %s", resp.StatusCode(), resp.Body)
		}
		return resp.JSON200.User.Token
	}
	devices := []struct{ token, password string }{
		{tokenFor("password-erin"), "password-laptop"},
		{tokenFor("password-erin"), "password-phone"},
	}
	// Both requests are let in and then wait for the password hashing,
	// which follows the token check; then both go at once.
	release := httpapi.HoldHashSlots()
	statuses := make([]int, len(devices))
	var wg sync.WaitGroup
	for i, d := range devices {
		wg.Go(func() {
			statuses[i], _ = send(t, a, "PUT", "/api/user", d.token, strings.NewReader(`{"user":{"password":"`+d.password+`"}}`))
		})
	}
	for deadline := time.Now().Add(time.Minute); httpapi.HashWaiters() < len(devices); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			release()
			t.Fatalf("the password changes did not reach the hashing (%d waiting)", httpapi.HashWaiters())
		}
	}
	release()
	wg.Wait()

	won := -1
	for i, s := range statuses {
		switch {
		case s == http.StatusOK && won < 0:
			won = i
		case s != http.StatusUnauthorized:
			t.Fatalf("statuses %v: want one 200 and one 401", statuses)
		}
	}
	if won < 0 {
		t.Fatalf("statuses %v: want one 200 and one 401", statuses)
	}
	lost := 1 - won
	if status, body := send(t, a, "GET", "/api/user", devices[won].token, nil); status != http.StatusOK {
		t.Errorf("the token whose change landed: %d %s", status, body)
	}
	if status, _ := send(t, a, "GET", "/api/user", devices[lost].token, nil); status != http.StatusUnauthorized {
		t.Errorf("the other token: %d, want 401 (revoked by the change that landed)", status)
	}
	if resp := login(t, a, "erin@example.com", devices[won].password); resp.StatusCode() != http.StatusOK {
		t.Errorf("login with the password that was answered 200: %d %s", resp.StatusCode(), resp.Body)
	}
	if resp := login(t, a, "erin@example.com", devices[lost].password); resp.StatusCode() != http.StatusUnauthorized {
		t.Errorf("login with the password that was refused: %d %s", resp.StatusCode(), resp.Body)
	}
}

// TestLoginTooLong sends a login whose email or password is longer than
// any account's: a 422 that says so, not "can't be blank".
func TestLoginTooLong(t *testing.T) {
	a := apptest.Start(t, nil)
	for _, c := range []struct{ body, msg string }{
		{`{"user":{"email":"jake@example.com","password":"` + strings.Repeat("p", 73) + `"}}`, "password must be at most 72 characters"},
		{`{"user":{"email":"` + strings.Repeat("j", 250) + `@example.com","password":"password-jake"}}`, "email must be at most 254 characters"},
		{`{"user":{"email":"","password":"` + strings.Repeat("p", 73) + `"}}`, "email can't be blank"},
	} {
		status, body := send(t, a, "POST", "/api/users/login", "", strings.NewReader(c.body))
		msgs := errorMessages(t, body)
		if status != http.StatusUnprocessableEntity || !slices.Contains(msgs, c.msg) {
			t.Errorf("status %d %q, want 422 with %q", status, msgs, c.msg)
		}
	}
}

// TestUploadOfDeletedUser deletes a user while their upload is arriving:
// like every other write of a user who is gone, a 401 (it was a 404, "not
// found"), and nothing is stored.
func TestUploadOfDeletedUser(t *testing.T) {
	a, conn := startUploads(t, nil)
	jake := register(t, a, "jake")
	c := sendPartOfUpload(t, a, jake.Token, "deleted-midway", 2_000_000, 1_000_000)
	apptest.WaitFor(t, "the server storing the upload", func() bool { return apptest.StoringUploads(t, conn) > 0 })
	if _, err := conn.Exec(context.Background(), "DELETE FROM users WHERE username = 'jake'"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(c, apptest.File{Magic: apptest.PNG, Size: 2_000_000}.Reader(), 1_000_000); err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	wantError(t, resp.StatusCode, body, http.StatusUnauthorized, "missing or invalid authorization token")
	wantStored(t, conn, "after the upload of a deleted user", stored{})
}
