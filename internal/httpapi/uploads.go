package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/gen/db"
	"github.com/sophsapp/sophsapp/internal/jsontime"
)

// UploadSettings are the rules uploaded files follow.
type UploadSettings struct {
	// ContentTypes are the accepted types, as http.DetectContentType
	// names them without parameters (UPLOAD_CONTENT_TYPES).
	ContentTypes []string
	// QuotaBytes is the most one user may store (UPLOAD_QUOTA_BYTES).
	QuotaBytes int64
	// PublicBaseURL is the origin of absolute upload URLs, without a
	// trailing slash; "" makes them root-relative (PUBLIC_BASE_URL).
	PublicBaseURL string
}

// uploads is a Server's upload settings and state.
type uploads struct {
	UploadSettings
	// slots bounds the uploads being stored at once. Each holds a database
	// connection for as long as its body takes to arrive, so uploads may
	// take at most half of the pool and never starve the other requests.
	slots chan struct{}
}

func newUploads(s UploadSettings, poolSize int32) uploads {
	return uploads{UploadSettings: s, slots: make(chan struct{}, max(1, poolSize/2))}
}

const (
	// chunkSize is how many bytes of a file one upload_chunks row holds:
	// large enough that a 50 MB upload is 200 inserts, small enough that
	// a transfer holds only this much of it in memory.
	chunkSize = 256 << 10
	// sniffLen is how much of a file http.DetectContentType looks at.
	sniffLen = 512

	// The headers every download carries. An upload never changes, so it
	// may be cached for a year; the browser must use the stored type and,
	// should a file be opened as a page, load and run nothing.
	uploadCacheControl = "public, max-age=31536000, immutable"
	uploadCSP          = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
)

// uploadBody prepares the body of an upload for CreateUpload.
//
// A raw (not multipart) body is handed over as is. The spec accepts any
// Content-Type for it ('*/*': the type is recognised from the content),
// which the generated strict server matches by prefix and so never fills
// in; listing the accepted types instead is not possible either, as
// oapi-codegen v2.8.2 supports one binary request type per operation
// (oapi-codegen/oapi-codegen#1156).
//
// A form gets a multipart reader of its own over a formBody, which bounds
// what the reader may take in while it looks for a part (see formBody).
func uploadBody(f api.StrictHandlerFunc, operationID string) api.StrictHandlerFunc {
	if operationID != "CreateUpload" {
		return f
	}
	return func(ctx context.Context, w http.ResponseWriter, r *http.Request, request any) (any, error) {
		req, ok := request.(api.CreateUploadRequestObject)
		if !ok {
			return f(ctx, w, r, request)
		}
		// Media types are case-insensitive: "Multipart/Form-Data" is a
		// form too, though the generated code matched it as raw.
		mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "multipart/form-data" {
			req.Body, req.MultipartBody = r.Body, nil
			return f(ctx, w, r, req)
		}
		if params["boundary"] == "" {
			return nil, Invalid(msgNoBoundary)
		}
		// The generated reader, if any, has read nothing yet: it is
		// replaced by one over the same body, on the same boundary.
		form := &formBody{r: r.Body}
		req.Body, req.MultipartBody = nil, multipart.NewReader(form, params["boundary"])
		return f(context.WithValue(ctx, formBodyKey{}, form), w, r, req)
	}
}

// msgNoBoundary is the answer to a form whose Content-Type names no
// boundary.
const msgNoBoundary = "the multipart/form-data body has no boundary: its Content-Type must say boundary=..."

// maxPartHeaderBytes is the most a form may send while its reader looks
// for a part: the preamble before the first boundary and a part's headers.
// A browser sends about 150 bytes. Go's multipart reader would take up to
// 10 MiB of headers per part into memory.
const maxPartHeaderBytes = 64 << 10

// errPartHeaders stops a multipart reader that is looking for a part past
// maxPartHeaderBytes.
var errPartHeaders = errors.New("part headers too large")

// formBody is the body of an upload form. While armed (for a call of
// NextPart) it lets the multipart reader read at most maxPartHeaderBytes;
// while a part's content is read it does not count.
type formBody struct {
	r     io.Reader
	armed bool
	left  int
}

type formBodyKey struct{}

// nextPart returns the next part of mr, reading at most maxPartHeaderBytes
// of the body of the request ctx belongs to to find it.
func nextPart(ctx context.Context, mr *multipart.Reader) (*multipart.Part, error) {
	form, _ := ctx.Value(formBodyKey{}).(*formBody)
	if form == nil {
		return mr.NextPart()
	}
	form.armed, form.left = true, maxPartHeaderBytes
	defer func() { form.armed = false }()
	return mr.NextPart()
}

func (b *formBody) Read(p []byte) (int, error) {
	if !b.armed {
		return b.r.Read(p)
	}
	if b.left <= 0 {
		return 0, errPartHeaders
	}
	if len(p) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= n
	return n, err
}

// CreateUpload handles POST /api/uploads. The file's type is recognised
// from its first bytes before anything is stored; then the body streams
// into upload_chunks, a chunk at a time, while its SHA-256 is computed, and
// the uploads row comes last. All of it is one transaction: an upload that
// is refused, fails or is cut short stores nothing.
func (s *Server) CreateUpload(ctx context.Context, request api.CreateUploadRequestObject) (api.CreateUploadResponseObject, error) {
	me, err := currentUser(ctx)
	if err != nil {
		return nil, err
	}
	file, finish, err := uploadedFile(ctx, request)
	if err != nil {
		return nil, err
	}
	isMultipart := request.MultipartBody != nil

	head := make([]byte, sniffLen)
	n, err := fill(file, head)
	if err != nil && err != io.EOF {
		return nil, bodyError(err, isMultipart)
	}
	head = head[:n]
	if n == 0 {
		return nil, Invalid("the file is empty")
	}
	contentType := http.DetectContentType(head)
	if !s.uploads.accepts(contentType) {
		return nil, &UnsupportedTypeError{Type: essence(contentType), Accepted: s.uploads.ContentTypes}
	}
	used, err := s.q.GetUploadUsage(ctx, me.ID)
	if err != nil {
		return nil, fmt.Errorf("upload usage of user %d: %w", me.ID, err)
	}
	quota := s.uploads.QuotaBytes
	if used >= quota {
		return nil, &QuotaError{Used: used, Quota: quota}
	}

	select {
	case s.uploads.slots <- struct{}{}:
		defer func() { <-s.uploads.slots }()
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for an upload slot: %w", ctx.Err())
	}
	up := db.Upload{ID: uuid.New(), UserID: me.ID, ContentType: contentType}
	// Not inTx: the body cannot be read twice, so the transaction cannot
	// be retried.
	err = pgx.BeginFunc(ctx, s.primary, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		h := sha256.New()
		size, err := storeChunks(ctx, q, up.ID, io.MultiReader(bytes.NewReader(head), file), h, quota-used, isMultipart)
		if errors.Is(err, errOverQuota) {
			return &QuotaError{Used: used, Quota: quota}
		}
		if err != nil {
			return err
		}
		up.Size = size
		if err := finish(); err != nil {
			return err
		}
		up.Sha256 = h.Sum(nil)
		up.CreatedAt, err = q.CreateUpload(ctx, db.CreateUploadParams{
			ID: up.ID, UserID: up.UserID, ContentType: up.ContentType, Size: up.Size, Sha256: up.Sha256,
		})
		if err != nil {
			return fmt.Errorf("record upload: %w", err)
		}
		// Concurrent uploads by this user were checked against the usage
		// before this one started; now that the usage row is locked, the
		// total is exact.
		total, err := q.GetUploadUsage(ctx, me.ID)
		if err != nil {
			return fmt.Errorf("upload usage of user %d: %w", me.ID, err)
		}
		if total > quota {
			return &QuotaError{Used: total - up.Size, Quota: quota}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := s.uploads.view(up)
	return api.CreateUpload201JSONResponse{
		Body:    api.UploadResponse{Upload: out},
		Headers: api.CreateUpload201ResponseHeaders{Location: out.Url},
	}, nil
}

// uploadedFile returns the file an upload request carries, and a check to
// run once it has been read to its end: a form must hold nothing after its
// one part named file.
func uploadedFile(ctx context.Context, request api.CreateUploadRequestObject) (io.Reader, func() error, error) {
	noCheck := func() error { return nil }
	mr := request.MultipartBody
	if mr == nil {
		return request.Body, noCheck, nil
	}
	onePart := Invalid("the form must hold exactly one part, named file")
	part, err := nextPart(ctx, mr)
	switch {
	case err == io.EOF:
		return nil, nil, onePart
	case err != nil:
		return nil, nil, bodyError(err, true)
	case part.FormName() != "file":
		return nil, nil, onePart
	}
	return part, func() error {
		switch _, err := nextPart(ctx, mr); {
		case err == io.EOF:
			return nil
		case err != nil:
			return bodyError(err, true)
		}
		return onePart
	}, nil
}

// errOverQuota stops storeChunks when the file outgrows the room left.
var errOverQuota = errors.New("over quota")

// storeChunks writes src into upload_chunks for upload id, chunkSize bytes
// a row, hashing it into h, and returns its size. It fails with
// errOverQuota as soon as the file is larger than room.
func storeChunks(ctx context.Context, q *db.Queries, id uuid.UUID, src io.Reader, h hash.Hash, room int64, isMultipart bool) (int64, error) {
	buf := make([]byte, chunkSize)
	var size int64
	for {
		n, rerr := fill(src, buf)
		if n > 0 {
			if size+int64(n) > room {
				return size, errOverQuota
			}
			h.Write(buf[:n])
			if err := q.CreateUploadChunk(ctx, db.CreateUploadChunkParams{UploadID: id, Start: size, Data: buf[:n]}); err != nil {
				return size, fmt.Errorf("store chunk at %d of upload %s: %w", size, id, err)
			}
			size += int64(n)
		}
		switch {
		case rerr == io.EOF:
			return size, nil
		case rerr != nil:
			return size, bodyError(rerr, isMultipart)
		}
	}
}

// fill reads from r until buf is full (nil error) or r fails; unlike
// io.ReadFull it passes r's own io.ErrUnexpectedEOF through unchanged and
// reports the end of r as io.EOF.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// bodyError says why reading an upload's body failed: it is over its limit
// (413), it ended early or stalled (400), or, in a form, it is malformed
// (422).
func bodyError(err error, isMultipart bool) error {
	var tooLarge *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &tooLarge):
		return err
	case errors.Is(err, errPartHeaders):
		return fmt.Errorf("%w: %w", Invalid(fmt.Sprintf("the form's part headers (or its preamble) are longer than %s", humanBytes(maxPartHeaderBytes))), err)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &netErr), !isMultipart:
		return fmt.Errorf("%w: %w", ErrIncompleteBody, err)
	}
	// The parser's messages may quote the body; they are not repeated.
	return fmt.Errorf("%w: %w", Invalid("the multipart/form-data body is malformed"), err)
}

// essence is a media type without its parameters.
func essence(contentType string) string {
	t, _, _ := strings.Cut(contentType, ";")
	return strings.TrimSpace(t)
}

func (u uploads) accepts(contentType string) bool {
	return slices.Contains(u.ContentTypes, essence(contentType))
}

// view is the API's picture of an upload.
func (u uploads) view(up db.Upload) api.Upload {
	return api.Upload{
		Id:          up.ID,
		Url:         u.PublicBaseURL + "/api/uploads/" + up.ID.String(),
		ContentType: up.ContentType,
		Size:        up.Size,
		Sha256:      hex.EncodeToString(up.Sha256),
		CreatedAt:   jsontime.From(up.CreatedAt),
	}
}

// GetCurrentUserUploads handles GET /api/user/uploads: the caller's uploads,
// newest first, and their number.
func (s *Server) GetCurrentUserUploads(ctx context.Context, request api.GetCurrentUserUploadsRequestObject) (api.GetCurrentUserUploadsResponseObject, error) {
	me, err := currentUser(ctx)
	if err != nil {
		return nil, err
	}
	limit, offset := pageBounds(request.Params.Limit, request.Params.Offset)
	rows, err := s.q.ListUploads(ctx, db.ListUploadsParams{UserID: me.ID, PageLimit: limit, PageOffset: offset})
	if err != nil {
		return nil, fmt.Errorf("uploads of user %d: %w", me.ID, err)
	}
	count, err := s.q.CountUploads(ctx, me.ID)
	if err != nil {
		return nil, fmt.Errorf("count uploads of user %d: %w", me.ID, err)
	}
	out := api.GetCurrentUserUploads200JSONResponse{Uploads: make([]api.Upload, len(rows)), UploadsCount: int(count)}
	for i, up := range rows {
		out.Uploads[i] = s.uploads.view(up)
	}
	return out, nil
}

// DeleteUpload handles DELETE /api/uploads/{id}: the owner's upload and its
// bytes are removed; anyone else's is 403.
func (s *Server) DeleteUpload(ctx context.Context, request api.DeleteUploadRequestObject) (api.DeleteUploadResponseObject, error) {
	me, err := currentUser(ctx)
	if err != nil {
		return nil, err
	}
	n, err := s.q.DeleteUpload(ctx, db.DeleteUploadParams{ID: request.Id, UserID: me.ID})
	if err != nil {
		return nil, fmt.Errorf("delete upload %s: %w", request.Id, err)
	}
	if n > 0 {
		return api.DeleteUpload204Response{}, nil
	}
	up, err := s.q.GetUpload(ctx, request.Id)
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", request.Id, err)
	}
	return nil, fmt.Errorf("delete upload %s of user %d: %w", request.Id, up.UserID, ErrForbidden)
}

// HeadUpload handles HEAD /api/uploads/{id}: GetUpload's headers for the
// whole file.
func (s *Server) HeadUpload(ctx context.Context, request api.HeadUploadRequestObject) (api.HeadUploadResponseObject, error) {
	up, err := s.findUpload(ctx, request.Id)
	if err != nil {
		return nil, err
	}
	etag := etagOf(up)
	if request.Params.IfNoneMatch != nil && etagMatches(*request.Params.IfNoneMatch, etag) {
		return api.HeadUpload304Response{Headers: notModified(etag)}, nil
	}
	return api.HeadUpload200Response{Headers: api.HeadUpload200ResponseHeaders{
		ContentType:           up.ContentType,
		ContentLength:         up.Size,
		ETag:                  etag,
		CacheControl:          uploadCacheControl,
		AcceptRanges:          "bytes",
		ContentDisposition:    disposition(up),
		ContentSecurityPolicy: uploadCSP,
		XContentTypeOptions:   "nosniff",
	}}, nil
}

// GetUpload handles GET /api/uploads/{id}: the whole file (200), one byte
// range of it (206), or 304 when the client's copy is current. The bytes
// stream from upload_chunks to the client a chunk at a time.
func (s *Server) GetUpload(ctx context.Context, request api.GetUploadRequestObject) (api.GetUploadResponseObject, error) {
	up, err := s.findUpload(ctx, request.Id)
	if err != nil {
		return nil, err
	}
	etag := etagOf(up)
	p := request.Params
	if p.IfNoneMatch != nil && etagMatches(*p.IfNoneMatch, etag) {
		return api.GetUpload304Response{Headers: notModified(etag)}, nil
	}
	// A range counts only while the client's If-Range, if any, is the
	// current ETag; otherwise the whole file goes out.
	if p.Range != nil && (p.IfRange == nil || strings.TrimSpace(*p.IfRange) == etag) {
		start, end, ok := parseRange(*p.Range, up.Size)
		if ok && start >= up.Size {
			return nil, &RangeError{Size: up.Size}
		}
		if ok {
			body := &uploadReader{ctx: ctx, q: s.q, id: up.ID, pos: start, end: end}
			return streamedUpload{log: s.log, body: body, response: api.GetUpload206AsteriskResponse{
				Body:        body,
				ContentType: up.ContentType,
				Headers: api.GetUpload206ResponseHeaders{
					ContentLength:         end - start,
					ContentRange:          fmt.Sprintf("bytes %d-%d/%d", start, end-1, up.Size),
					ETag:                  etag,
					CacheControl:          uploadCacheControl,
					AcceptRanges:          "bytes",
					ContentDisposition:    disposition(up),
					ContentSecurityPolicy: uploadCSP,
					XContentTypeOptions:   "nosniff",
				},
			}}, nil
		}
	}
	body := &uploadReader{ctx: ctx, q: s.q, id: up.ID, pos: 0, end: up.Size}
	return streamedUpload{log: s.log, body: body, response: api.GetUpload200AsteriskResponse{
		Body:        body,
		ContentType: up.ContentType,
		Headers: api.GetUpload200ResponseHeaders{
			ContentLength:         up.Size,
			ETag:                  etag,
			CacheControl:          uploadCacheControl,
			AcceptRanges:          "bytes",
			ContentDisposition:    disposition(up),
			ContentSecurityPolicy: uploadCSP,
			XContentTypeOptions:   "nosniff",
		},
	}}, nil
}

func (s *Server) findUpload(ctx context.Context, id uuid.UUID) (db.Upload, error) {
	up, err := s.q.GetUpload(ctx, id)
	if err != nil {
		return up, fmt.Errorf("upload %s: %w", id, err)
	}
	return up, nil
}

// streamedUpload is GetUpload's 200 or 206 answer: the generated response,
// with the headers the spec declares, written as generated. Once those
// headers are out, a failure (the database, or the client going away) can
// no longer become an error response; the connection is aborted instead, so
// the client sees a cut-off transfer rather than JSON glued to the file.
type streamedUpload struct {
	log      *slog.Logger
	body     *uploadReader
	response api.GetUploadResponseObject
}

func (u streamedUpload) VisitGetUploadResponse(w http.ResponseWriter) error {
	if err := u.response.VisitGetUploadResponse(w); err != nil {
		if u.body.err != nil && !errors.Is(u.body.err, context.Canceled) {
			u.log.ErrorContext(u.body.ctx, "download failed midway", "error", u.body.err.Error(), "request_id", RequestID(u.body.ctx))
		}
		panic(http.ErrAbortHandler)
	}
	return nil
}

// uploadReader reads bytes [pos, end) of an upload from its chunks, one
// short query per chunk: a download holds a pooled connection only while a
// chunk arrives, and memory for one chunk at a time.
type uploadReader struct {
	ctx      context.Context
	q        *db.Queries
	id       uuid.UUID
	pos, end int64
	buf      []byte // the rest of the current chunk, for Read
	err      error  // the query that failed, if any
}

// next returns the stored bytes from r.pos on, at most up to r.end.
func (r *uploadReader) next() ([]byte, error) {
	c, err := r.q.GetUploadChunk(r.ctx, db.GetUploadChunkParams{UploadID: r.id, Pos: r.pos})
	if err == nil && r.pos-c.Start >= int64(len(c.Data)) {
		err = errors.New("no chunk holds this byte")
	}
	if err != nil {
		// Deleted while being read, or the database failed.
		r.err = fmt.Errorf("upload %s at byte %d: %w", r.id, r.pos, err)
		return nil, r.err
	}
	data := c.Data[r.pos-c.Start:]
	if rest := r.end - r.pos; int64(len(data)) > rest {
		data = data[:rest]
	}
	return data, nil
}

func (r *uploadReader) Read(p []byte) (int, error) {
	if r.pos >= r.end {
		return 0, io.EOF
	}
	if len(r.buf) == 0 {
		data, err := r.next()
		if err != nil {
			return 0, err
		}
		r.buf = data
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	r.pos += int64(n)
	return n, nil
}

// WriteTo writes each chunk straight to w (io.Copy uses it), without an
// intermediate buffer.
func (r *uploadReader) WriteTo(w io.Writer) (int64, error) {
	var written int64
	for r.pos < r.end {
		data := r.buf
		if len(data) == 0 {
			var err error
			if data, err = r.next(); err != nil {
				return written, err
			}
		}
		r.buf = nil
		n, err := w.Write(data)
		written += int64(n)
		r.pos += int64(n)
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// etagOf is an upload's strong ETag: its SHA-256.
func etagOf(up db.Upload) string { return `"` + hex.EncodeToString(up.Sha256) + `"` }

func notModified(etag string) api.UploadNotModifiedResponseHeaders {
	return api.UploadNotModifiedResponseHeaders{ETag: etag, CacheControl: uploadCacheControl}
}

// etagMatches reports whether an If-None-Match value names etag; it
// compares weakly, as RFC 9110 prescribes for If-None-Match.
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// parseRange reads a Range header of one byte range against a file of size
// bytes and returns the range [start, end). ok is false when the header is
// to be ignored and the whole file served: another unit, several ranges, or
// invalid syntax (RFC 9110 §14.2). A range starting at or beyond the end
// comes back with start >= size: it is unsatisfiable.
func parseRange(header string, size int64) (start, end int64, ok bool) {
	unit, spec, found := strings.Cut(strings.TrimSpace(header), "=")
	if !found || !strings.EqualFold(strings.TrimSpace(unit), "bytes") || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false
	}
	// A position too large for int64 is still a valid one, past the end
	// of any file: it reads as math.MaxInt64.
	num := func(s string) (int64, bool) {
		if s == "" || strings.TrimLeft(s, "0123456789") != "" {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return math.MaxInt64, true
		}
		return n, true
	}
	if first == "" {
		// The last n bytes.
		n, valid := num(last)
		switch {
		case !valid:
			return 0, 0, false
		case n == 0:
			return size, size, true
		case n > size:
			n = size
		}
		return size - n, size, true
	}
	start, valid := num(first)
	if !valid {
		return 0, 0, false
	}
	end = size
	if last != "" {
		l, valid := num(last)
		if !valid || l < start {
			return 0, 0, false
		}
		end = min(l, size-1) + 1 // l+1 could overflow
	}
	return start, end, true
}

// disposition shows images in the browser and downloads everything else,
// under a file name made of the id.
func disposition(up db.Upload) string {
	kind := "attachment"
	if strings.HasPrefix(up.ContentType, "image/") {
		kind = "inline"
	}
	name := up.ID.String()
	if ext := extension(essence(up.ContentType)); ext != "" {
		name += ext
	}
	return fmt.Sprintf("%s; filename=%q", kind, name)
}

// extension is the usual file extension of a media type, "" if unknown.
func extension(mediaType string) string {
	switch mediaType {
	case "image/jpeg":
		return ".jpg"
	case "image/png", "image/gif", "image/webp", "application/pdf":
		return "." + strings.TrimPrefix(strings.TrimPrefix(mediaType, "image/"), "application/")
	case "text/plain":
		return ".txt"
	}
	if exts, _ := mime.ExtensionsByType(mediaType); len(exts) > 0 {
		return exts[0]
	}
	return ""
}
