// Package apidocs serves the API's description of itself: the OpenAPI
// document as YAML and JSON, and an interactive reference (Swagger UI) at
// /api/docs whose files are embedded in the binary, so it works with no
// internet access.
//
// These routes are not operations of the spec: they describe the API
// rather than being part of it, they answer HTML, JavaScript and CSS, and a
// generated client has no use for them.
package apidocs

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
)

//go:embed assets
var assets embed.FS

// Paths served, besides DocsPrefix + an asset name.
const (
	DocsPath   = "/api/docs"
	DocsPrefix = "/api/docs/"
	YAMLPath   = "/api/openapi.yaml"
	JSONPath   = "/api/openapi.json"
)

// CSP is the Content-Security-Policy of the reference page: its own
// scripts, styles and images only (Swagger UI sets inline styles and uses
// data: images), and requests (the spec, "Try it out") to this origin only.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// contentTypes of the assets, fixed here rather than taken from the host's
// mime.types.
var contentTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".png": "image/png",
}

// file is one response, prepared at startup.
type file struct {
	body        []byte
	contentType string
	etag        string
	cache       string
	page        bool // the HTML page: gets the CSP
}

// Handler serves the reference, the assets and the spec.
type Handler struct {
	files map[string]file
}

// Owns reports whether p (a path without a trailing slash) is one of the
// routes this package serves: the spec in both forms, the reference page
// and everything under it.
func Owns(p string) bool {
	return p == YAMLPath || p == JSONPath || p == DocsPath || strings.HasPrefix(p, DocsPrefix)
}

// New prepares every response from specYAML, the API's OpenAPI document.
func New(specYAML []byte) (*Handler, error) {
	doc, err := openapi3.NewLoader().LoadFromData(specYAML)
	if err != nil {
		return nil, fmt.Errorf("apidocs: load spec: %w", err)
	}
	specJSON, err := doc.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("apidocs: spec as JSON: %w", err)
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, specJSON, "", "  "); err != nil {
		return nil, fmt.Errorf("apidocs: indent spec: %w", err)
	}
	indented.WriteByte('\n')
	h := &Handler{files: map[string]file{}}
	// The spec changes with each release: clients revalidate (cheap with
	// the ETag) rather than keep an old copy.
	h.add(YAMLPath, specYAML, "application/yaml; charset=utf-8", "no-cache", false)
	h.add(JSONPath, indented.Bytes(), "application/json; charset=utf-8", "no-cache", false)

	versions := map[string]string{}
	err = fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == "assets/index.html" {
			return err
		}
		b, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "assets/")
		ct, ok := contentTypes[path.Ext(name)]
		if !ok {
			ct = "text/plain; charset=utf-8" // LICENSE, NOTICE
		}
		// Assets are referenced with ?v=<hash>, so a new release's page
		// fetches new files; a day's caching covers the rest.
		h.add(DocsPrefix+name, b, ct, "public, max-age=86400", false)
		versions[path.Base(name)] = h.files[DocsPrefix+name].etag[1:9]
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("apidocs: embedded assets: %w", err)
	}
	page, err := assets.ReadFile("assets/index.html")
	if err != nil {
		return nil, err
	}
	for name, v := range versions {
		page = bytes.ReplaceAll(page, []byte("{{"+name+"}}"), []byte(v))
	}
	if i := bytes.Index(page, []byte("{{")); i >= 0 {
		return nil, fmt.Errorf("apidocs: index.html refers to a missing asset near %q", page[i:min(len(page), i+40)])
	}
	h.add(DocsPath, page, "text/html; charset=utf-8", "no-cache", true)
	return h, nil
}

func (h *Handler) add(p string, body []byte, contentType, cache string, page bool) {
	sum := sha256.Sum256(body)
	h.files[p] = file{
		body:        body,
		contentType: contentType,
		etag:        `"` + hex.EncodeToString(sum[:16]) + `"`,
		cache:       cache,
		page:        page,
	}
}

// allow is the Allow header of every route here.
const allow = "GET, HEAD, OPTIONS"

// ServeHTTP answers GET and HEAD with the file at r.URL.Path (which the
// caller has cleaned and stripped of one trailing slash), 304 when
// If-None-Match names its ETag, and OPTIONS with 204 and Allow. Unknown
// paths and other methods are left to notFound and notAllowed, which write
// the API's JSON errors.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, notFound, notAllowed http.HandlerFunc) {
	f, ok := h.files[r.URL.Path]
	if !ok {
		notFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		w.Header().Set("Allow", allow)
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		w.Header().Set("Allow", allow)
		notAllowed(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", f.contentType)
	hd.Set("ETag", f.etag)
	hd.Set("Cache-Control", f.cache)
	hd.Set("X-Content-Type-Options", "nosniff")
	if f.page {
		hd.Set("Content-Security-Policy", CSP)
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
	}
	// ServeContent answers If-None-Match (304), HEAD and ranges.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
