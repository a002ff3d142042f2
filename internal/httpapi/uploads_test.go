package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/oapi-codegen/nullable"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/internal/apptest"
	"github.com/sophsapp/sophsapp/internal/pgtest"
)

// startUploads starts the server with overrides and returns it with a
// connection to its database, to count what is stored.
func startUploads(t *testing.T, overrides map[string]string) (*apptest.App, *pgx.Conn) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	env := apptest.Env(url)
	for k, v := range overrides {
		env[k] = v
	}
	a := apptest.StartEnv(t, env)
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return a, conn
}

// stored counts the rows every upload leaves, and the large objects (there
// should never be any: bytes are stored as rows).
type stored struct{ uploads, chunks, usageBytes, largeObjects int64 }

func countStored(t *testing.T, conn *pgx.Conn) stored {
	t.Helper()
	var s stored
	err := conn.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM uploads), (SELECT count(*) FROM upload_chunks),
		(SELECT COALESCE(sum(bytes), 0) FROM upload_usage), (SELECT count(*) FROM pg_largeobject_metadata)`).
		Scan(&s.uploads, &s.chunks, &s.usageBytes, &s.largeObjects)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// wantStored fails unless the database holds exactly want.
func wantStored(t *testing.T, conn *pgx.Conn, what string, want stored) {
	t.Helper()
	if got := countStored(t, conn); got != want {
		t.Fatalf("%s: stored %+v, want %+v", what, got, want)
	}
}

// multipartBody streams a form with one part per name in names, each
// holding f, as the body of a request; it returns the body and its
// Content-Type.
func multipartBody(f apptest.File, filename, partType string, names ...string) (io.Reader, string) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		for _, name := range names {
			h := textproto.MIMEHeader{}
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, name, filename))
			h.Set("Content-Type", partType)
			part, err := mw.CreatePart(h)
			if err == nil {
				_, err = io.Copy(part, f.Reader())
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(mw.Close())
	}()
	return pr, mw.FormDataContentType()
}

// upload posts body with contentType as token's holder.
func upload(t *testing.T, a *apptest.App, token string, body io.Reader, contentType string) *api.CreateUploadResponse {
	t.Helper()
	var editors []api.RequestEditorFn
	if token != "" {
		editors = append(editors, withToken(token))
	}
	resp, err := a.Client.CreateUploadWithBodyWithResponse(context.Background(), contentType, body, editors...)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// mustUpload uploads f raw and returns the upload.
func mustUpload(t *testing.T, a *apptest.App, token string, f apptest.File) api.Upload {
	t.Helper()
	resp := upload(t, a, token, f.Reader(), "application/octet-stream")
	if resp.StatusCode() != http.StatusCreated || resp.JSON201 == nil {
		t.Fatalf("upload of %d bytes: %d %s", f.Size, resp.StatusCode(), resp.Body)
	}
	return resp.JSON201.Upload
}

func TestUploadRoundTrips(t *testing.T) {
	// text/plain, so that a 1-byte file is of an accepted type.
	a, conn := startUploads(t, map[string]string{"UPLOAD_CONTENT_TYPES": "image/png,application/pdf,text/plain"})
	jake := register(t, a, "jake")
	// The contract transport reads whole bodies into memory to check
	// them; the 50 MB download goes through a plain client instead.
	plain := &http.Client{Timeout: 2 * time.Minute}

	cases := []struct {
		name      string
		file      apptest.File
		multipart bool
		wantType  string
	}{
		{"1 B raw", apptest.File{Magic: []byte("x"), Size: 1}, false, "text/plain; charset=utf-8"},
		{"1 B form", apptest.File{Magic: []byte("y"), Size: 1}, true, "text/plain; charset=utf-8"},
		{"5 MB raw", apptest.File{Magic: apptest.PNG, Size: 5_000_000, Seed: 1}, false, "image/png"},
		{"5 MB form", apptest.File{Magic: apptest.PNG, Size: 5_000_000, Seed: 2}, true, "image/png"},
		{"50 MB raw", apptest.File{Magic: apptest.PDF, Size: 50_000_000, Seed: 3}, false, "application/pdf"},
	}
	var total, chunks int64
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body, ct := c.file.Reader(), "application/octet-stream"
			if c.multipart {
				body, ct = multipartBody(c.file, "file.bin", "application/octet-stream", "file")
			}
			resp := upload(t, a, jake.Token, body, ct)
			if resp.StatusCode() != http.StatusCreated || resp.JSON201 == nil {
				t.Fatalf("status %d: %s", resp.StatusCode(), resp.Body)
			}
			wantMillis(t, resp.Body)
			up := resp.JSON201.Upload
			sum := c.file.SHA256()
			if up.Size != c.file.Size || up.Sha256 != sum || up.ContentType != c.wantType {
				t.Fatalf("upload %+v, want size %d sha256 %s type %s", up, c.file.Size, sum, c.wantType)
			}
			if want := "/api/uploads/" + up.Id.String(); up.Url != want || resp.HTTPResponse.Header.Get("Location") != want {
				t.Fatalf("url %q, Location %q; want %q", up.Url, resp.HTTPResponse.Header.Get("Location"), want)
			}
			client := a.HTTP
			if c.file.Size > 10_000_000 {
				client = plain
			}
			got, n, gotSum := apptest.Download(t, client, "GET", a.URL+up.Url, "", nil)
			if got.StatusCode != http.StatusOK || n != c.file.Size || gotSum != sum {
				t.Fatalf("download: status %d, %d bytes with sha256 %s; want 200, %d bytes with %s", got.StatusCode, n, gotSum, c.file.Size, sum)
			}
			if got.Header.Get("Content-Type") != c.wantType || got.Header.Get("Content-Length") != strconv.FormatInt(c.file.Size, 10) {
				t.Fatalf("download headers %v", got.Header)
			}
			total += c.file.Size
			chunks += chunksOf(c.file.Size)
			wantStored(t, conn, "after upload", stored{uploads: int64(i + 1), chunks: chunks, usageBytes: total})
		})
	}

	t.Run("0 B", func(t *testing.T) {
		for _, multi := range []bool{false, true} {
			body, ct := io.Reader(strings.NewReader("")), "image/png"
			if multi {
				body, ct = multipartBody(apptest.File{}, "empty.png", "image/png", "file")
			}
			resp := upload(t, a, jake.Token, body, ct)
			wantError(t, resp.StatusCode(), resp.Body, http.StatusUnprocessableEntity, "the file is empty")
		}
		if got := countStored(t, conn); got.uploads != int64(len(cases)) {
			t.Fatalf("stored %+v after empty uploads", got)
		}
	})
}

// chunksOf is how many chunk rows a file of size bytes is stored in.
func chunksOf(size int64) int64 { return (size + 256<<10 - 1) / (256 << 10) }

func TestUploadRefused(t *testing.T) {
	a, conn := startUploads(t, nil)
	jake := register(t, a, "jake")
	nothing := stored{}
	textFile := func(content string) apptest.File {
		return apptest.File{Magic: []byte(content), Size: int64(len(content))}
	}
	text := textFile("Dear diary, today I renamed this file to notes.png.\n")
	html := textFile("<!DOCTYPE html><html><script>alert(document.cookie)</script></html>")
	svg := textFile(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`)
	png := apptest.File{Magic: apptest.PNG, Size: 1000}

	t.Run("no token", func(t *testing.T) {
		resp := upload(t, a, "", png.Reader(), "image/png")
		wantError(t, resp.StatusCode(), resp.Body, http.StatusUnauthorized)
	})
	t.Run("text renamed .png", func(t *testing.T) {
		body, ct := multipartBody(text, "notes.png", "image/png", "file")
		resp := upload(t, a, jake.Token, body, ct)
		wantError(t, resp.StatusCode(), resp.Body, http.StatusUnsupportedMediaType,
			"files of type text/plain are not accepted; accepted types: image/png, image/jpeg, image/gif, image/webp, application/pdf")
	})
	for name, f := range map[string]apptest.File{"HTML": html, "SVG": svg} {
		t.Run(name, func(t *testing.T) {
			resp := upload(t, a, jake.Token, f.Reader(), "image/png")
			wantError(t, resp.StatusCode(), resp.Body, http.StatusUnsupportedMediaType)
		})
	}
	t.Run("form without one part named file", func(t *testing.T) {
		for _, names := range [][]string{{"avatar"}, {"file", "file"}, {}} {
			body, ct := multipartBody(png, "a.png", "image/png", names...)
			resp := upload(t, a, jake.Token, body, ct)
			wantError(t, resp.StatusCode(), resp.Body, http.StatusUnprocessableEntity, "the form must hold exactly one part, named file")
		}
	})
	t.Run("malformed form", func(t *testing.T) {
		resp := upload(t, a, jake.Token, strings.NewReader("--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n\x89PNG\r\n\x1a\nno closing boundary"), "multipart/form-data; boundary=b")
		wantError(t, resp.StatusCode(), resp.Body, http.StatusBadRequest)
		resp = upload(t, a, jake.Token, strings.NewReader("no boundary"), "multipart/form-data")
		wantError(t, resp.StatusCode(), resp.Body, http.StatusUnprocessableEntity)
		// Said as such, not as "malformed JSON".
		for _, ct := range []string{"multipart/form-data", "Multipart/Form-Data; charset=utf-8"} {
			resp = upload(t, a, jake.Token, strings.NewReader("no boundary"), ct)
			wantError(t, resp.StatusCode(), resp.Body, http.StatusUnprocessableEntity,
				"the multipart/form-data body has no boundary: its Content-Type must say boundary=...")
		}
		for _, ct := range []string{"multipart/form-data; ===", "multipart/form-data; boundary="} {
			resp = upload(t, a, jake.Token, strings.NewReader("--b--\r\n"), ct)
			wantError(t, resp.StatusCode(), resp.Body, http.StatusUnprocessableEntity, "the Content-Type is not a valid multipart/form-data type")
		}
	})
	t.Run("50 MiB + 1", func(t *testing.T) {
		big := apptest.File{Magic: apptest.PNG, Size: 50<<20 + 1, Seed: 9}
		// With a Content-Length, refused before a byte is read.
		req, _ := http.NewRequest("POST", a.URL+"/api/uploads", big.Reader())
		req.ContentLength = big.Size
		req.Header.Set("Authorization", "Token "+jake.Token)
		req.Header.Set("Content-Type", "image/png")
		resp, err := a.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantError(t, resp.StatusCode, b, http.StatusRequestEntityTooLarge, "request body is larger than 52428800 bytes (50 MiB)")
		// Chunked, refused once the 52428801st byte arrives.
		r := upload(t, a, jake.Token, io.MultiReader(big.Reader()), "image/png")
		wantError(t, r.StatusCode(), r.Body, http.StatusRequestEntityTooLarge, "request body is larger than 52428800 bytes (50 MiB)")
	})
	wantStored(t, conn, "after refusals", nothing)
}

func TestUploadQuota(t *testing.T) {
	a, conn := startUploads(t, map[string]string{"UPLOAD_QUOTA_BYTES": "1048576"})
	jake := register(t, a, "jake")
	bob := register(t, a, "bob")
	f := func(seed uint64) apptest.File { return apptest.File{Magic: apptest.PNG, Size: 600 << 10, Seed: seed} }
	msg := "this upload would exceed your storage quota of 1 MiB (you store 600 KiB already); delete some of your uploads to make room"

	first := mustUpload(t, a, jake.Token, f(1))
	resp := upload(t, a, jake.Token, f(2).Reader(), "image/png")
	wantError(t, resp.StatusCode(), resp.Body, http.StatusRequestEntityTooLarge, msg)
	mustUpload(t, a, bob.Token, f(3)) // the quota is per user

	// Full: refused before the body is read.
	mustUpload(t, a, jake.Token, apptest.File{Magic: apptest.PNG, Size: 1<<20 - 600<<10, Seed: 4})
	resp = upload(t, a, jake.Token, apptest.File{Magic: apptest.PNG, Size: 10}.Reader(), "image/png")
	wantError(t, resp.StatusCode(), resp.Body, http.StatusRequestEntityTooLarge,
		"this upload would exceed your storage quota of 1 MiB (you store 1 MiB already); delete some of your uploads to make room")

	// Deleting makes room again.
	if d, err := a.Client.DeleteUploadWithResponse(context.Background(), first.Id, withToken(jake.Token)); err != nil || d.StatusCode() != http.StatusNoContent {
		t.Fatalf("delete: %v %v", d, err)
	}
	mustUpload(t, a, jake.Token, f(5))
	wantStored(t, conn, "after quota", stored{uploads: 3, chunks: 3 + 2 + 3, usageBytes: 1<<20 + 600<<10})

	// Two uploads at once that fit only one by one: exactly one is stored,
	// whichever order they commit in.
	alice := register(t, a, "alice")
	var wg sync.WaitGroup
	statuses := make([]int, 2)
	for i := range statuses {
		wg.Go(func() {
			statuses[i] = upload(t, a, alice.Token, f(uint64(10+i)).Reader(), "image/png").StatusCode()
		})
	}
	wg.Wait()
	slices.Sort(statuses)
	if statuses[0] != http.StatusCreated || statuses[1] != http.StatusRequestEntityTooLarge {
		t.Fatalf("parallel uploads over the quota: statuses %v, want one 201 and one 413", statuses)
	}
	wantStored(t, conn, "after parallel uploads", stored{uploads: 4, chunks: 3 + 2 + 3 + 3, usageBytes: 1<<20 + 1200<<10})
}

func TestUploadServing(t *testing.T) {
	a, _ := startUploads(t, map[string]string{"PUBLIC_BASE_URL": "https://api.example.com/"})
	jake := register(t, a, "jake")
	pngFile := apptest.File{Magic: apptest.PNG, Size: 700_000, Seed: 7} // spans three chunks
	png := mustUpload(t, a, jake.Token, pngFile)
	pdf := mustUpload(t, a, jake.Token, apptest.File{Magic: apptest.PDF, Size: 100})
	path := "/api/uploads/" + png.Id.String()
	if png.Url != "https://api.example.com"+path {
		t.Fatalf("url %q with PUBLIC_BASE_URL", png.Url)
	}
	etag := `"` + png.Sha256 + `"`
	get := func(headers map[string]string) (*http.Response, []byte) {
		t.Helper()
		return a.Send(t, "GET", path, headers, nil)
	}
	all, _ := io.ReadAll(pngFile.Reader())

	t.Run("headers", func(t *testing.T) {
		// Credentials are ignored, even a bad token.
		resp, body := get(map[string]string{"Authorization": "Token not-a-token"})
		want := map[string]string{
			"Content-Type":            "image/png",
			"Content-Length":          "700000",
			"ETag":                    etag,
			"Cache-Control":           "public, max-age=31536000, immutable",
			"X-Content-Type-Options":  "nosniff",
			"Content-Disposition":     `inline; filename="` + png.Id.String() + `.png"`,
			"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
			"Accept-Ranges":           "bytes",
		}
		for k, v := range want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s: %q, want %q", k, got, v)
			}
		}
		if resp.StatusCode != http.StatusOK || string(body) != string(all) {
			t.Fatalf("status %d, %d bytes", resp.StatusCode, len(body))
		}
		r, _ := http.Get(a.URL + "/api/uploads/" + pdf.Id.String())
		r.Body.Close()
		if got := r.Header.Get("Content-Disposition"); got != `attachment; filename="`+pdf.Id.String()+`.pdf"` {
			t.Errorf("PDF Content-Disposition %q", got)
		}
	})

	t.Run("If-None-Match", func(t *testing.T) {
		for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
			resp, body := get(map[string]string{"If-None-Match": inm})
			if resp.StatusCode != http.StatusNotModified || len(body) != 0 || resp.Header.Get("ETag") != etag {
				t.Errorf("If-None-Match %s: %d %v", inm, resp.StatusCode, resp.Header)
			}
		}
		if resp, _ := get(map[string]string{"If-None-Match": `"other"`}); resp.StatusCode != http.StatusOK {
			t.Errorf("another ETag: %d", resp.StatusCode)
		}
	})

	t.Run("Range", func(t *testing.T) {
		cases := []struct {
			header, ifRange string
			status          int
			from, to        int // the bytes expected, [from, to)
		}{
			{"bytes=0-9", "", 206, 0, 10},
			{"bytes=262140-262149", "", 206, 262140, 262150}, // across a chunk boundary
			{"bytes=699990-", "", 206, 699990, 700000},
			{"bytes=-5", "", 206, 699995, 700000},
			{"bytes=-800000", "", 206, 0, 700000},
			{"bytes=699999-800000", "", 206, 699999, 700000},
			{"bytes=0-9", etag, 206, 0, 10},
			{"bytes=0-9", `"stale"`, 200, 0, 700000},
			{"bytes=0-9,20-29", "", 200, 0, 700000},
			{"bytes=9-0", "", 200, 0, 700000},
			{"items=0-9", "", 200, 0, 700000},
			{"bytes=x-", "", 200, 0, 700000},
			// Positions past int64: the last position is still "to the
			// end", the suffix still "all of it" (RFC 9110 §14.1.2).
			{"bytes=0-9223372036854775807", "", 206, 0, 700000},
			{"bytes=5-99999999999999999999", "", 206, 5, 700000},
			{"bytes=-99999999999999999999", "", 206, 0, 700000},
		}
		for _, c := range cases {
			h := map[string]string{"Range": c.header}
			if c.ifRange != "" {
				h["If-Range"] = c.ifRange
			}
			resp, body := get(h)
			if resp.StatusCode != c.status || string(body) != string(all[c.from:c.to]) {
				t.Errorf("Range %q If-Range %q: status %d, %d bytes; want %d, bytes %d-%d", c.header, c.ifRange, resp.StatusCode, len(body), c.status, c.from, c.to)
				continue
			}
			if c.status == 206 {
				if want := fmt.Sprintf("bytes %d-%d/700000", c.from, c.to-1); resp.Header.Get("Content-Range") != want {
					t.Errorf("Range %q: Content-Range %q, want %q", c.header, resp.Header.Get("Content-Range"), want)
				}
			}
		}
		for _, unsatisfiable := range []string{"bytes=700000-", "bytes=700000-700010", "bytes=-0", "bytes=9223372036854775807-", "bytes=99999999999999999999-"} {
			resp, body := get(map[string]string{"Range": unsatisfiable})
			wantError(t, resp.StatusCode, body, http.StatusRequestedRangeNotSatisfiable, "the requested range is not satisfiable: the file has 700000 bytes")
			if got := resp.Header.Get("Content-Range"); got != "bytes */700000" {
				t.Errorf("416 Content-Range %q", got)
			}
		}
	})

	t.Run("HEAD", func(t *testing.T) {
		req, _ := http.NewRequest("HEAD", a.URL+path, nil)
		resp, err := a.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.ContentLength != 700000 ||
			resp.Header.Get("ETag") != etag || resp.Header.Get("Content-Type") != "image/png" || resp.Header.Get("Cache-Control") == "" {
			t.Fatalf("HEAD: %d %v", resp.StatusCode, resp.Header)
		}
		req.Header.Set("If-None-Match", etag)
		if resp, err := a.HTTP.Do(req); err != nil || resp.StatusCode != http.StatusNotModified {
			t.Fatalf("HEAD If-None-Match: %v %v", resp, err)
		}
		req, _ = http.NewRequest("HEAD", a.URL+"/api/uploads/00000000-0000-4000-8000-000000000000", nil)
		if resp, err := a.HTTP.Do(req); err != nil || resp.StatusCode != http.StatusNotFound {
			t.Fatalf("HEAD of an unknown upload: %v %v", resp, err)
		}
	})

	t.Run("unknown and malformed ids", func(t *testing.T) {
		resp, err := a.Client.GetUploadWithResponse(context.Background(), png.Id, &api.GetUploadParams{})
		if err != nil || resp.StatusCode() != http.StatusOK {
			t.Fatalf("the generated client: %v %v", resp, err)
		}
		r, _ := http.Get(a.URL + "/api/uploads/00000000-0000-4000-8000-000000000000")
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		wantError(t, r.StatusCode, b, http.StatusNotFound)
		r, _ = http.Get(a.URL + "/api/uploads/not-a-uuid")
		b, _ = io.ReadAll(r.Body)
		r.Body.Close()
		wantError(t, r.StatusCode, b, http.StatusUnprocessableEntity)
	})
}

func TestUploadListDeleteAndAvatar(t *testing.T) {
	a, conn := startUploads(t, nil)
	ctx := context.Background()
	jake := register(t, a, "jake")
	bob := register(t, a, "bob")
	var ids []string
	for i := range 3 {
		ids = append(ids, mustUpload(t, a, jake.Token, apptest.File{Magic: apptest.GIF, Size: 300_000, Seed: uint64(i)}).Id.String())
	}
	mustUpload(t, a, bob.Token, apptest.File{Magic: apptest.JPEG, Size: 10})

	list := func(token string, limit, offset int32) ([]string, int) {
		t.Helper()
		resp, err := a.Client.GetCurrentUserUploadsWithResponse(ctx, &api.GetCurrentUserUploadsParams{Limit: &limit, Offset: &offset}, withToken(token))
		if err != nil || resp.JSON200 == nil {
			t.Fatalf("list: %v %s", err, resp.Body)
		}
		var got []string
		for _, u := range resp.JSON200.Uploads {
			got = append(got, u.Id.String())
		}
		return got, resp.JSON200.UploadsCount
	}
	if got, n := list(jake.Token, 2, 0); !slices.Equal(got, []string{ids[2], ids[1]}) || n != 3 {
		t.Fatalf("first page %v (%d), want newest first of %v", got, n, ids)
	}
	if got, n := list(jake.Token, 2, 2); !slices.Equal(got, []string{ids[0]}) || n != 3 {
		t.Fatalf("second page %v (%d)", got, n)
	}

	// The avatar: an upload's url goes into user.image.
	resp, err := a.Client.GetUploadWithResponse(ctx, mustParse(t, ids[0]), &api.GetUploadParams{})
	if err != nil || resp.StatusCode() != http.StatusOK {
		t.Fatal(err)
	}
	url := "/api/uploads/" + ids[0]
	put, err := a.Client.UpdateCurrentUserWithResponse(ctx, api.UpdateCurrentUserJSONRequestBody{User: api.UpdateUser{Image: nullable.NewNullableWithValue(url)}}, withToken(jake.Token))
	if err != nil || put.JSON200 == nil || put.JSON200.User.Image == nil || *put.JSON200.User.Image != url {
		t.Fatalf("set avatar: %v %s", err, put.Body)
	}

	del := func(token, id string) (int, []byte) {
		t.Helper()
		resp, err := a.Client.DeleteUploadWithResponse(ctx, mustParse(t, id), withToken(token))
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode(), resp.Body
	}
	if status, body := del(bob.Token, ids[1]); status != http.StatusForbidden {
		t.Fatalf("delete by another user: %d %s", status, body)
	}
	if status, body := del(jake.Token, ids[1]); status != http.StatusNoContent {
		t.Fatalf("delete by the owner: %d %s", status, body)
	}
	if status, _ := del(jake.Token, ids[1]); status != http.StatusNotFound {
		t.Fatalf("delete again: %d", status)
	}
	var chunks int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM upload_chunks WHERE upload_id = $1", ids[1]).Scan(&chunks); err != nil || chunks != 0 {
		t.Fatalf("chunks of the deleted upload: %d %v", chunks, err)
	}
	r, _ := http.Get(a.URL + "/api/uploads/" + ids[1])
	r.Body.Close()
	if r.StatusCode != http.StatusNotFound {
		t.Fatalf("GET of the deleted upload: %d", r.StatusCode)
	}
	if got, n := list(jake.Token, 20, 0); !slices.Equal(got, []string{ids[2], ids[0]}) || n != 2 {
		t.Fatalf("after delete %v (%d)", got, n)
	}
	// 3 GIFs of 300,000 bytes in 2 chunks each and a JPEG, minus one GIF.
	wantStored(t, conn, "after delete", stored{uploads: 3, chunks: 5, usageBytes: 600_010})
	if resp, err := a.Client.GetCurrentUserUploadsWithResponse(ctx, nil); err != nil || resp.StatusCode() != http.StatusUnauthorized {
		t.Fatalf("list without a token: %v %v", resp, err)
	}
}

func mustParse(t *testing.T, id string) api.UploadIdPath {
	t.Helper()
	var u api.UploadIdPath
	if err := u.UnmarshalText([]byte(id)); err != nil {
		t.Fatal(err)
	}
	return u
}

// TestUploadAbortsLeaveNothing cuts uploads off in every way an upload can
// fail midway and counts what is left in the database each time: nothing,
// and no large object either.
func TestUploadAbortsLeaveNothing(t *testing.T) {
	a, conn := startUploads(t, map[string]string{"MAX_UPLOAD_BYTES": "3000000", "UPLOAD_QUOTA_BYTES": "2000000"})
	jake := register(t, a, "jake")
	nothing := stored{}

	t.Run("client disconnects", func(t *testing.T) {
		c := sendPartOfUpload(t, a, jake.Token, "abort-disconnect", 2_000_000, 1_000_000)
		apptest.WaitFor(t, "the server storing the upload", func() bool { return apptest.StoringUploads(t, conn) > 0 })
		c.Close()
		// Logged once the handler is done, after the rollback. 499 when the
		// server noticed the connection close first, 400 when the body's
		// end did.
		if line := a.RequestLog(t, "abort-disconnect"); line["status"] != float64(499) && line["status"] != float64(http.StatusBadRequest) {
			t.Errorf("logged %v", line)
		}
		wantStored(t, conn, "after a disconnect", nothing)
	})
	t.Run("size exceeded", func(t *testing.T) {
		resp := upload(t, a, jake.Token, io.MultiReader(apptest.File{Magic: apptest.PNG, Size: 3_000_001}.Reader()), "image/png")
		wantError(t, resp.StatusCode(), resp.Body, http.StatusRequestEntityTooLarge)
		wantStored(t, conn, "after a body over the limit", nothing)
	})
	t.Run("quota exceeded midway", func(t *testing.T) {
		resp := upload(t, a, jake.Token, apptest.File{Magic: apptest.PNG, Size: 2_500_000}.Reader(), "image/png")
		wantError(t, resp.StatusCode(), resp.Body, http.StatusRequestEntityTooLarge)
		wantStored(t, conn, "after a file over the quota", nothing)
	})
	t.Run("type refused", func(t *testing.T) {
		resp := upload(t, a, jake.Token, apptest.File{Magic: []byte("<html>"), Size: 1_000_000}.Reader(), "image/png")
		wantError(t, resp.StatusCode(), resp.Body, http.StatusUnsupportedMediaType)
		wantStored(t, conn, "after a refused type", nothing)
	})
}

// sendPartOfUpload sends the headers and the first sent bytes of an upload
// announcing length bytes over a bare connection, and returns the
// connection.
func sendPartOfUpload(t *testing.T, a *apptest.App, token, id string, length, sent int64) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(a.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST /api/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Token %s\r\nContent-Type: image/png\r\nX-Request-ID: %s\r\nContent-Length: %d\r\n\r\n", token, id, length)
	if _, err := io.Copy(c, apptest.File{Magic: apptest.PNG, Size: sent}.Reader()); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestUploadsLeaveConnectionsForTheAPI holds an upload open on a pool of
// two connections: a second upload waits for its turn instead of taking the
// last connection, and the JSON API keeps answering.
func TestUploadsLeaveConnectionsForTheAPI(t *testing.T) {
	a, conn := startUploads(t, map[string]string{"DATABASE_MAX_CONNS": "2", "REQUEST_TIMEOUT": "5s"})
	jake := register(t, a, "jake")
	first := sendPartOfUpload(t, a, jake.Token, "first", 2_000_000, 1_000_000)
	apptest.WaitFor(t, "the first upload being stored", func() bool { return apptest.StoringUploads(t, conn) == 1 })
	second := sendPartOfUpload(t, a, jake.Token, "second", 2_000_000, 1_000_000)
	for range 3 {
		resp, err := a.Client.GetCurrentUserWithResponse(context.Background(), withToken(jake.Token))
		if err != nil || resp.StatusCode() != http.StatusOK {
			t.Fatalf("the API while uploads are in progress: %v %v", resp.Status(), err)
		}
	}
	if n := apptest.StoringUploads(t, conn); n != 1 {
		t.Fatalf("%d uploads are being stored at once on a pool of 2", n)
	}
	first.Close()
	apptest.WaitFor(t, "the second upload being stored once the first is gone", func() bool { return hasLog(a, "first") && apptest.StoringUploads(t, conn) == 1 })
	second.Close()
	apptest.WaitFor(t, "the second upload to end", func() bool { return hasLog(a, "second") })
	wantStored(t, conn, "after both were cut off", stored{})
}

// hasLog reports whether the server logged request id.
func hasLog(a *apptest.App, id string) bool {
	for _, l := range a.LogLines() {
		if l["msg"] == "request" && l["request_id"] == id {
			return true
		}
	}
	return false
}
