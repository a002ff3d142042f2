package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sophsapp/sophsapp/internal/apidocs"
	"github.com/sophsapp/sophsapp/internal/apptest"
	"github.com/sophsapp/sophsapp/internal/httpapi"
)

// fuzzPaths are the API's write routes; %s takes a fuzzed path segment.
var fuzzPaths = []string{
	"/api/users",
	"/api/users/login",
	"/api/user",
	"/api/articles",
	"/api/articles/%s",
	"/api/articles/%s/comments",
	"/api/articles/%s/comments/%s",
	"/api/articles/%s/favorite",
	"/api/profiles/%s/follow",
	"/api/uploads",
	"/api/uploads/%s",
	"/api/user/uploads",
	"%s", // the fuzzed string is the whole path
}

var fuzzMethods = []string{"POST", "PUT", "DELETE", "GET", "PATCH"}

// FuzzAPI sends arbitrary paths, headers and bodies to the write operations
// of a real server over a real database. Whatever comes in, the answer is
// never a 5xx (a panic would be a 500) and always JSON, except a 204 and
// the API reference's pages and files.
//
// A short run is part of `make test`; run longer with
//
//	go test -run '^$' -fuzz '^FuzzAPI$' -fuzztime 10m ./internal/httpapi/
func FuzzAPI(f *testing.F) {
	a := apptest.Start(f, nil)
	user := register(f, a, "fuzzer")
	slug := createArticle(f, a, user.Token, "Fuzz target", "fuzz").Slug

	f.Add(uint8(0), uint8(0), "", uint8(0), "", []byte(`{"user":{"username":"a","email":"a@b.co","password":"12345678"}}`))
	f.Add(uint8(0), uint8(1), "", uint8(0), "", []byte(`{"user":{"email":"fuzzer@example.com","password":"password-fuzzer"}}`))
	f.Add(uint8(1), uint8(2), "", uint8(1), "", []byte(`{"user":{"bio":null,"image":""}}`))
	f.Add(uint8(0), uint8(3), "", uint8(1), "", []byte(`{"article":{"title":"t","description":"d","body":"b","tagList":["x","x"]}}`))
	f.Add(uint8(1), uint8(4), slug, uint8(1), "", []byte(`{"article":{"title":"\u0000"}}`))
	f.Add(uint8(0), uint8(5), slug, uint8(1), "", []byte(`{"comment":{"body":"hi"}}`))
	f.Add(uint8(2), uint8(6), slug+"/9223372036854775808", uint8(1), "", []byte(nil))
	f.Add(uint8(0), uint8(7), slug, uint8(2), "Token abc.def.ghi", []byte(nil))
	f.Add(uint8(0), uint8(8), "fuzzer", uint8(1), "", []byte(nil))
	f.Add(uint8(0), uint8(9), "/api/users?x=%zz", uint8(0), "", []byte(`[1,2,3]`))
	f.Add(uint8(1), uint8(3), "", uint8(1), "", []byte(`{"article":{"title":1e400}}`))
	f.Add(uint8(0), uint8(0), "", uint8(3), "text/plain", []byte(`{"user":{}}`))
	f.Add(uint8(0), uint8(9), "", uint8(1), "", []byte("%PDF-1.7\n"))
	f.Add(uint8(0), uint8(9), "", uint8(3), "multipart/form-data; boundary=b", []byte("--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nGIF89a\r\n--b--\r\n"))
	f.Add(uint8(1), uint8(10), "00000000-0000-4000-8000-000000000000", uint8(1), "", []byte(nil))
	// Inputs that broke the server once, or came close.
	// A Content-Type only kin-openapi understands, around a case-variant
	// wrapper (the handler's second decoder once took "User").
	f.Add(uint8(1), uint8(2), "", uint8(3), "application/json; ====", []byte(`{"user":{"bio":"ok"},"User":{"username":"x/z","email":"zzz"}}`))
	f.Add(uint8(0), uint8(0), "", uint8(3), "application/json; charset", []byte(`{"user":{"username":"a","email":"a@b.co","password":"12345678","password":"1"}}`))
	f.Add(uint8(0), uint8(0), "", uint8(3), "Application/JSON;;", []byte(`{"user":{"username":"a","email":"a@b.co","password":"12345678"}}`))
	// An upload declared as JSON (once read whole into memory), or as a
	// form with no boundary, in another case, or with endless part headers.
	f.Add(uint8(0), uint8(9), "", uint8(3), "application/json", []byte(`"`+strings.Repeat("a", 4096)))
	f.Add(uint8(0), uint8(9), "", uint8(3), "multipart/form-data", []byte("no boundary"))
	f.Add(uint8(0), uint8(9), "", uint8(3), "multipart/form-data; boundary=", []byte("--\r\n"))
	f.Add(uint8(0), uint8(9), "", uint8(3), "Multipart/Form-Data; boundary=b", []byte("--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nGIF89a\r\n--b--\r\n"))
	f.Add(uint8(0), uint8(9), "", uint8(3), "multipart/form-data; boundary=b", []byte("--b\r\nContent-Disposition: form-data; name=\"file\"\r\nX-Pad: "+strings.Repeat("a", 70<<10)+"\r\n\r\nGIF89a\r\n--b--\r\n"))
	f.Add(uint8(0), uint8(9), "", uint8(3), "multipart/form-data; boundary=b", []byte(strings.Repeat("preamble\r\n", 8000)))
	// Hostile JSON: deep, wide, NUL, invalid UTF-8, a lone surrogate, a BOM,
	// a second document, a number past float64, a key folded by Unicode.
	f.Add(uint8(0), uint8(0), "", uint8(0), "", []byte(strings.Repeat("[", 100000)+strings.Repeat("]", 100000)))
	f.Add(uint8(1), uint8(2), "", uint8(1), "", []byte(`{"user":{"bio":"x","junk":[`+strings.Repeat("0,", 20000)+`0]}}`))
	f.Add(uint8(1), uint8(2), "", uint8(1), "", []byte(`{"user":{"email":"a\u0000@b.co","image":"\u0000"}}`))
	f.Add(uint8(0), uint8(3), "", uint8(1), "", []byte("{\"article\":{\"title\":\"t\xff\xfe\",\"description\":\"d\",\"body\":\"b\",\"tagList\":[\"\\ud800\"]}}"))
	f.Add(uint8(0), uint8(1), "", uint8(0), "", []byte("\xef\xbb\xbf{\"user\":{\"email\":\"a@b.co\",\"password\":\"12345678\"}}"))
	f.Add(uint8(0), uint8(1), "", uint8(0), "", []byte(`{"user":{"email":"a@b.co","password":"12345678"}} {"x":1}`))
	f.Add(uint8(0), uint8(3), "", uint8(1), "", []byte(`{"article":{"title":"t","description":"d","body":"b","tagList":[1e999999]}}`))
	f.Add(uint8(0), uint8(0), "", uint8(0), "", []byte(`{"u\u017fer":{}}`))
	// Tokens: alg none, a huge one.
	f.Add(uint8(3), uint8(2), "", uint8(2), "Token eyJhbGciOiJub25lIn0.eyJpc3MiOiJzb3Boc2FwcCIsInN1YiI6IjEiLCJleHAiOjk5OTk5OTk5OTl9.", []byte(nil))
	f.Add(uint8(3), uint8(2), "", uint8(2), "Bearer "+strings.Repeat("a", 8000), []byte(nil))
	// Paths: encoded dots and slashes, invalid UTF-8, NUL, a route under
	// another (Nginx's normalisation would pick the upload location).
	f.Add(uint8(3), uint8(12), "/api/articles/%2e%2e/tags", uint8(0), "", []byte(nil))
	f.Add(uint8(3), uint8(12), "/api/profiles/%ff%fe", uint8(0), "", []byte(nil))
	f.Add(uint8(3), uint8(12), "/api/profiles/a%00b/follow/", uint8(1), "", []byte(nil))
	f.Add(uint8(0), uint8(12), "/api/uploads/../users/login", uint8(0), "", []byte(`{}`))
	f.Add(uint8(3), uint8(12), "/api/articles/?limit=1&limit=2", uint8(0), "", []byte(nil))
	f.Add(uint8(3), uint8(12), "/api/articles?tag=%00&offset=9223372036854775807", uint8(0), "", []byte(nil))
	f.Add(uint8(3), uint8(10), "{00000000-0000-4000-8000-000000000000}", uint8(0), "", []byte(nil))

	client := &http.Client{Timeout: 10 * time.Second}
	f.Fuzz(func(t *testing.T, method, route uint8, segment string, authKind uint8, header string, body []byte) {
		path := fuzzPaths[int(route)%len(fuzzPaths)]
		path = strings.ReplaceAll(path, "%s", segment)
		req, err := http.NewRequest(fuzzMethods[int(method)%len(fuzzMethods)], a.URL+path, bytes.NewReader(body))
		if err != nil || req.URL.Host != strings.TrimPrefix(a.URL, "http://") || !validTarget(req.URL.RequestURI()) {
			return // not an HTTP request to this server
		}
		req.Header.Set("Content-Type", "application/json")
		switch authKind % 4 {
		case 1:
			req.Header.Set("Authorization", "Token "+user.Token)
		case 2:
			req.Header.Set("Authorization", header)
		case 3:
			req.Header.Set("Content-Type", header)
		}
		req.Header.Set("X-Request-ID", header)
		resp, err := client.Do(req)
		if err != nil {
			if strings.Contains(err.Error(), "invalid header") || strings.Contains(err.Error(), "invalid method") {
				return
			}
			t.Fatalf("%s %s: %v", req.Method, path, err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %q → %d %s", req.Method, path, resp.StatusCode, got)
		}
		if resp.StatusCode == http.StatusNoContent ||
			resp.StatusCode < 400 && apidocs.Owns(httpapi.WithoutTrailingSlash(req).URL.Path) {
			return
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") || !json.Valid(got) {
			t.Fatalf("%s %q → %d with %q: %s", req.Method, path, resp.StatusCode, ct, got)
		}
	})
}

// validTarget reports whether target may stand in an HTTP request line:
// visible ASCII only. Go's client writes a raw query as given, spaces
// included, and the server refuses such a request line before any handler
// (Nginx answers it with its JSON 400 in production).
func validTarget(target string) bool {
	for i := 0; i < len(target); i++ {
		if target[i] <= ' ' || target[i] >= 0x7f {
			return false
		}
	}
	return true
}
