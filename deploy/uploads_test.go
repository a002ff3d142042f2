package deploy_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/internal/apptest"
	"github.com/sophsapp/sophsapp/internal/pgtest"
)

// TestNginxUploads runs two app instances on one database behind the
// shipped site: uploads of up to 50 MiB go through, one byte more is Nginx's
// 413 JSON, a slow client is held by Nginx rather than the app, the caching headers
// come back untouched, and each instance serves what the other stored.
func TestNginxUploads(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	env := apptest.Env(dbURL)
	a1 := apptest.StartEnv(t, env)
	a2 := apptest.StartEnv(t, maps.Clone(env))
	p := startNginx(t, strings.TrimPrefix(a1.URL, "http://"), strings.TrimPrefix(a2.URL, "http://"))
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// HTTP/1.1: see the site's note on 413 over HTTP/2.
	c := p.client("127.0.0.30", false)

	reg := do(t, c, "POST", p.httpsURL("/api/users"), strings.NewReader(`{"user":{"username":"uploader","email":"up@example.com","password":"uploader-password"}}`),
		map[string]string{"Content-Type": "application/json"})
	var user api.UserResponse
	if reg.StatusCode != http.StatusCreated || json.Unmarshal(reg.body, &user) != nil {
		t.Fatalf("register: %d %s", reg.StatusCode, reg.body)
	}
	auth := "Token " + user.User.Token
	// uploadVia posts f raw to base (Nginx or an instance).
	uploadVia := func(t *testing.T, client *http.Client, url string, f apptest.File, id string) (response, api.Upload) {
		t.Helper()
		r := do(t, client, "POST", url, &sizedReader{f.Reader(), f.Size}, map[string]string{"Authorization": auth, "Content-Type": "application/octet-stream", "X-Request-ID": id})
		var up api.UploadResponse
		if r.StatusCode == http.StatusCreated {
			if err := json.Unmarshal(r.body, &up); err != nil {
				t.Fatal(err)
			}
		}
		return r, up.Upload
	}
	// fetch downloads url and returns the response with the body's size and
	// SHA-256, without holding the body in memory.
	fetch := func(t *testing.T, client *http.Client, method, url string, header map[string]string) (*http.Response, int64, string) {
		t.Helper()
		return apptest.Download(t, client, method, url, testServerName, header)
	}

	t.Run("50 MB round trip through Nginx", func(t *testing.T) {
		f := apptest.File{Magic: apptest.PDF, Size: 50_000_000, Seed: 1}
		r, up := uploadVia(t, c, p.httpsURL("/api/uploads"), f, "nginx-upload-50mb")
		if r.StatusCode != http.StatusCreated || up.Size != f.Size || up.Sha256 != f.SHA256() {
			t.Fatalf("upload: %d %s", r.StatusCode, r.body)
		}
		resp, n, sum := fetch(t, c, "GET", p.httpsURL(up.Url), nil)
		if resp.StatusCode != http.StatusOK || n != f.Size || sum != up.Sha256 {
			t.Fatalf("download: %d, %d bytes, sha256 %s", resp.StatusCode, n, sum)
		}
		want := map[string]string{
			"Content-Type":              "application/pdf",
			"Content-Length":            "50000000",
			"ETag":                      `"` + up.Sha256 + `"`,
			"Cache-Control":             "public, max-age=31536000, immutable",
			"X-Content-Type-Options":    "nosniff",
			"Content-Disposition":       `attachment; filename="` + up.Id.String() + `.pdf"`,
			"Content-Security-Policy":   "default-src 'none'; style-src 'unsafe-inline'; sandbox",
			"Accept-Ranges":             "bytes",
			"Strict-Transport-Security": "max-age=63072000",
		}
		for k, v := range want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("through Nginx, %s: %q, want %q", k, got, v)
			}
		}
	})

	t.Run("conditional and range requests through Nginx", func(t *testing.T) {
		f := apptest.File{Magic: apptest.PNG, Size: 300_000, Seed: 2}
		r, up := uploadVia(t, c, p.httpsURL("/api/uploads"), f, "nginx-upload-png")
		if r.StatusCode != http.StatusCreated {
			t.Fatalf("upload: %d %s", r.StatusCode, r.body)
		}
		etag := `"` + up.Sha256 + `"`
		for _, h2 := range []bool{false, true} {
			client := p.client("127.0.0.31", h2)
			if resp, n, _ := fetch(t, client, "GET", p.httpsURL(up.Url), map[string]string{"If-None-Match": etag}); resp.StatusCode != http.StatusNotModified || n != 0 || resp.Header.Get("ETag") != etag {
				t.Errorf("If-None-Match: %d, %d bytes, ETag %q", resp.StatusCode, n, resp.Header.Get("ETag"))
			}
			resp, n, sum := fetch(t, client, "GET", p.httpsURL(up.Url), map[string]string{"Range": "bytes=100-199"})
			first, _ := io.ReadAll(io.LimitReader(f.Reader(), 200))
			wantSum := sha256.Sum256(first[100:])
			if resp.StatusCode != http.StatusPartialContent || n != 100 || sum != hex.EncodeToString(wantSum[:]) || resp.Header.Get("Content-Range") != "bytes 100-199/300000" {
				t.Errorf("Range: %d, %d bytes, Content-Range %q", resp.StatusCode, n, resp.Header.Get("Content-Range"))
			}
			resp, _, _ = fetch(t, client, "GET", p.httpsURL(up.Url), map[string]string{"Range": "bytes=300000-"})
			if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable || resp.Header.Get("Content-Range") != "bytes */300000" {
				t.Errorf("unsatisfiable Range: %d %q", resp.StatusCode, resp.Header.Get("Content-Range"))
			}
			resp, n, _ = fetch(t, client, "HEAD", p.httpsURL(up.Url), nil)
			if resp.StatusCode != http.StatusOK || n != 0 || resp.Header.Get("Content-Length") != "300000" || resp.Header.Get("ETag") != etag {
				t.Errorf("HEAD: %d %v", resp.StatusCode, resp.Header)
			}
		}
	})

	t.Run("each instance serves the other's uploads", func(t *testing.T) {
		direct := &http.Client{Timeout: 30 * time.Second}
		for i, pair := range [][2]*apptest.App{{a1, a2}, {a2, a1}} {
			f := apptest.File{Magic: apptest.GIF, Size: 1_000_000, Seed: uint64(10 + i)}
			id := fmt.Sprintf("stored-by-instance-%d", i+1)
			r, up := uploadVia(t, direct, pair[0].URL+"/api/uploads", f, id)
			if r.StatusCode != http.StatusCreated {
				t.Fatalf("upload to instance %d: %d %s", i+1, r.StatusCode, r.body)
			}
			pair[0].RequestLog(t, id)
			resp, n, sum := fetch(t, direct, "GET", pair[1].URL+up.Url, map[string]string{"X-Request-ID": id + "-read"})
			if resp.StatusCode != http.StatusOK || n != f.Size || sum != f.SHA256() {
				t.Fatalf("the other instance: %d, %d bytes", resp.StatusCode, n)
			}
			pair[1].RequestLog(t, id+"-read")
		}
	})

	t.Run("50 MiB + 1 is Nginx's 413 JSON", func(t *testing.T) {
		before := uploadRows(t, conn)
		f := apptest.File{Magic: apptest.PNG, Size: 50<<20 + 1}
		r := do(t, c, "POST", p.httpsURL("/api/uploads"), &sizedReader{f.Reader(), f.Size}, map[string]string{"Authorization": auth, "Content-Type": "image/png", "X-Request-ID": "nginx-too-large"})
		wantJSONError(t, r, http.StatusRequestEntityTooLarge)
		assertNotProxied(t, a1, "nginx-too-large")
		assertNotProxied(t, a2, "nginx-too-large")
		// Chunked: Nginx counts as the body streams and cuts it off at the
		// limit; whatever the app had received is rolled back.
		r = do(t, c, "POST", p.httpsURL("/api/uploads"), f.Reader(), map[string]string{"Authorization": auth, "Content-Type": "image/png", "X-Request-ID": "nginx-too-large-chunked"})
		wantJSONError(t, r, http.StatusRequestEntityTooLarge)
		apptest.WaitFor(t, "the upload transaction to end after its client went away", func() bool { return apptest.StoringUploads(t, conn) == 0 })
		if after := uploadRows(t, conn); after != before {
			t.Errorf("rows before %v, after %v", before, after)
		}
	})

	t.Run("a slow client never holds the app", func(t *testing.T) {
		before := uploadRows(t, conn)
		// Half of a 4 MB upload, then silence: Nginx keeps the body until it
		// is complete, so the app neither stores anything nor even sees
		// the request, and no upload slot is taken.
		tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", p.httpsAddr,
			&tls.Config{RootCAs: p.roots, ServerName: testServerName, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer tc.Close()
		const id = "nginx-slow-upload"
		fmt.Fprintf(tc, "POST /api/uploads HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nContent-Type: image/png\r\nX-Request-ID: %s\r\nContent-Length: 4000000\r\n\r\n", testServerName, auth, id)
		if _, err := io.Copy(tc, apptest.File{Magic: apptest.PNG, Size: 2_000_000}.Reader()); err != nil {
			t.Fatal(err)
		}
		// Meanwhile a whole upload goes through at once.
		f := apptest.File{Magic: apptest.PNG, Size: 100_000}
		if r, _ := uploadVia(t, c, p.httpsURL("/api/uploads"), f, "nginx-while-slow"); r.StatusCode != http.StatusCreated {
			t.Fatalf("an upload next to a slow one: %d %s", r.StatusCode, r.body)
		}
		if apptest.StoringUploads(t, conn) > 0 {
			t.Fatal("the app is storing an upload whose body has not fully arrived")
		}
		assertNotProxied(t, a1, id)
		assertNotProxied(t, a2, id)
		tc.Close()
		apptest.WaitFor(t, "the upload transaction to end after its client went away", func() bool { return apptest.StoringUploads(t, conn) == 0 })
		if after := uploadRows(t, conn); after[0] != before[0]+1 {
			t.Errorf("uploads before %v, after one complete upload and one abandoned %v", before, after)
		}
	})
}

// uploadRows counts uploads, chunks and large objects.
func uploadRows(t *testing.T, conn *pgx.Conn) [3]int64 {
	t.Helper()
	var n [3]int64
	if err := conn.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM uploads), (SELECT count(*) FROM upload_chunks),
		(SELECT count(*) FROM pg_largeobject_metadata)`).Scan(&n[0], &n[1], &n[2]); err != nil {
		t.Fatal(err)
	}
	return n
}
