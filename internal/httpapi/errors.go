package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sophsapp/sophsapp/gen/api"
)

// Errors handlers return to choose a status. Wrap them with context
// (fmt.Errorf("article %q: %w", slug, ErrNotFound)); the wrapping text is
// logged for 5xx only and never reaches the client.
var (
	ErrUnauthorized = errors.New("missing or invalid authorization token")
	// ErrBadCredentials is a failed login; it never says whether the email
	// or the password was wrong.
	ErrBadCredentials = errors.New("email or password is invalid")
	ErrForbidden      = errors.New("forbidden")
	ErrNotFound       = errors.New("not found")
	// ErrIncompleteBody is a request body that could not be read to its
	// end: the client went away, sent less than it announced, or stalled.
	ErrIncompleteBody = errors.New("the request body ended early or arrived too slowly")
	// errPanicked is a handler that panicked: a 500 like any error classify
	// does not know, whose panic and stack recoverer has logged already.
	errPanicked = errors.New("the handler panicked")
)

// NoRouteError is a 404 for a path the API does not serve.
type NoRouteError struct {
	Path string
}

func (e *NoRouteError) Error() string { return "no such endpoint: " + e.Path }

// MethodError is a 405: Path exists, but not with Method. The caller sets
// the Allow header, which it knows.
type MethodError struct {
	Method, Path string
}

func (e *MethodError) Error() string {
	return fmt.Sprintf("method %s is not allowed on %s", e.Method, e.Path)
}

// RetryLater is a 429: the client has to wait After before it tries again
// (Retry-After, in whole seconds).
type RetryLater struct {
	After  time.Duration
	Reason string
}

func (e *RetryLater) Error() string { return fmt.Sprintf("%s: retry after %s", e.Reason, e.After) }

// UnsupportedTypeError is a 415: an upload whose content, as recognised
// from its first bytes, is not of an accepted type.
type UnsupportedTypeError struct {
	Type     string   // what the content is
	Accepted []string // what is accepted
}

func (e *UnsupportedTypeError) Error() string {
	return fmt.Sprintf("files of type %s are not accepted; accepted types: %s", e.Type, strings.Join(e.Accepted, ", "))
}

// QuotaError is a 413: an upload that would take its user's uploads beyond
// the quota.
type QuotaError struct {
	Used  int64 // bytes the user stores, without this upload
	Quota int64
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("this upload would exceed your storage quota of %s (you store %s already); delete some of your uploads to make room",
		humanBytes(e.Quota), humanBytes(e.Used))
}

// RangeError is a 416: a byte range that starts beyond the end of a file of
// Size bytes.
type RangeError struct {
	Size int64
}

func (e *RangeError) Error() string {
	return fmt.Sprintf("the requested range is not satisfiable: the file has %d bytes", e.Size)
}

// humanBytes writes n in the largest binary unit that keeps it at least 1,
// e.g. 50 MiB, 1.5 GiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	v, i := float64(n), -1
	for v >= unit && i < 3 {
		v /= unit
		i++
	}
	return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.1f", v), "0"), ".") + " " + [...]string{"KiB", "MiB", "GiB", "TiB"}[i]
}

// ValidationError is a 422 with one client-facing message per problem.
type ValidationError []string

func (e ValidationError) Error() string { return fmt.Sprintf("validation failed: %q", []string(e)) }

// Invalid returns a ValidationError with the given messages.
func Invalid(msgs ...string) error { return ValidationError(msgs) }

// uniqueMessages names, per unique constraint in schema/, what the client is
// told when a write collides with it.
var uniqueMessages = map[string]string{
	"users_email_key":    "email has already been taken",
	"users_username_key": "username has already been taken",
	"articles_slug_key":  "slug has already been taken",
}

// callerForeignKeys are the foreign keys through which a write refers to
// the caller. Violating one means the caller's account was deleted after
// their token was checked: the credentials are what is wrong.
var callerForeignKeys = map[string]bool{
	"articles_author_id_fkey":   true,
	"comments_author_id_fkey":   true,
	"favorites_user_id_fkey":    true,
	"follows_follower_id_fkey":  true,
	"uploads_user_id_fkey":      true,
	"upload_usage_user_id_fkey": true,
}

// problem is an error with the status, messages and Retry-After (in
// seconds; 0 for none) a client sees.
type problem struct {
	status     int
	msgs       []string
	retryAfter int
}

// classify is the one place that maps an error to what the client sees.
// Anything it does not recognise is a 500 with a generic message.
func classify(err error) problem {
	var (
		verr     ValidationError
		later    *RetryLater
		pgErr    *pgconn.PgError
		tooLarge *http.MaxBytesError
		noRoute  *NoRouteError
		method   *MethodError
		badType  *UnsupportedTypeError
		quota    *QuotaError
		badRange *RangeError
		connErr  *pgconn.ConnectError
		netErr   net.Error
	)
	switch {
	case errors.As(err, &verr):
		return problem{http.StatusUnprocessableEntity, verr, 0}
	case errors.As(err, &later):
		return problem{http.StatusTooManyRequests, []string{later.Reason}, max(1, int(math.Ceil(later.After.Seconds())))}
	case errors.Is(err, ErrUnauthorized):
		return problem{http.StatusUnauthorized, []string{ErrUnauthorized.Error()}, 0}
	case errors.Is(err, ErrBadCredentials):
		return problem{http.StatusUnauthorized, []string{ErrBadCredentials.Error()}, 0}
	case errors.Is(err, ErrForbidden):
		return problem{http.StatusForbidden, []string{"you are not allowed to do this"}, 0}
	case errors.Is(err, ErrNotFound), errors.Is(err, pgx.ErrNoRows):
		return problem{http.StatusNotFound, []string{"not found"}, 0}
	case errors.As(err, &noRoute):
		return problem{http.StatusNotFound, []string{noRoute.Error()}, 0}
	case errors.As(err, &method):
		return problem{http.StatusMethodNotAllowed, []string{method.Error()}, 0}
	case errors.As(err, &tooLarge):
		return problem{http.StatusRequestEntityTooLarge, []string{fmt.Sprintf("request body is larger than %d bytes (%s)", tooLarge.Limit, humanBytes(tooLarge.Limit))}, 0}
	case errors.As(err, &quota):
		return problem{http.StatusRequestEntityTooLarge, []string{quota.Error()}, 0}
	case errors.As(err, &badType):
		return problem{http.StatusUnsupportedMediaType, []string{badType.Error()}, 0}
	case errors.As(err, &badRange):
		return problem{http.StatusRequestedRangeNotSatisfiable, []string{badRange.Error()}, 0}
	case errors.Is(err, ErrIncompleteBody):
		// Before the connection errors below: reading the body failed, not
		// the database.
		return problem{http.StatusBadRequest, []string{ErrIncompleteBody.Error()}, 0}
	case errors.As(err, &pgErr):
		switch pgErr.Code {
		case tokenRevokedCode: // check_token: a revoked token, or its user is gone
			return problem{http.StatusUnauthorized, []string{ErrUnauthorized.Error()}, 0}
		case pgerrcode.UniqueViolation:
			if msg, ok := uniqueMessages[pgErr.ConstraintName]; ok {
				return problem{http.StatusUnprocessableEntity, []string{msg}, 0}
			}
			return problem{http.StatusUnprocessableEntity, []string{"already exists"}, 0}
		case pgerrcode.ForeignKeyViolation: // a row referred to is gone
			if callerForeignKeys[pgErr.ConstraintName] {
				return problem{http.StatusUnauthorized, []string{ErrUnauthorized.Error()}, 0}
			}
			return problem{http.StatusNotFound, []string{"not found"}, 0}
		case pgerrcode.CheckViolation: // a value outside the limits in schema/
			return problem{http.StatusUnprocessableEntity, []string{"a value is outside its allowed range"}, 0}
		case pgerrcode.DeadlockDetected, pgerrcode.SerializationFailure: // that outlived inTx's retries
			return problem{http.StatusServiceUnavailable, []string{"the request collided with others, try again"}, 1}
		case pgerrcode.AdminShutdown, pgerrcode.CrashShutdown, pgerrcode.CannotConnectNow, pgerrcode.TooManyConnections,
			pgerrcode.QueryCanceled: // past the request's deadline (see database.newCancelHandler), or by an operator
			return problem{http.StatusServiceUnavailable, []string{"service temporarily unavailable, try again"}, 1}
		}
		if pgerrcode.IsDataException(pgErr.Code) {
			// A value PostgreSQL cannot store, such as a NUL character in
			// text.
			return problem{http.StatusUnprocessableEntity, []string{"a value contains characters or data that cannot be stored"}, 0}
		}
	case errors.As(err, &connErr), pgconn.Timeout(err),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), // connection lost mid-query
		errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &netErr):
		return problem{http.StatusServiceUnavailable, []string{"service temporarily unavailable, try again"}, 1}
	}
	return problem{http.StatusInternalServerError, []string{"internal server error"}, 0}
}

// queryCanceled reports whether PostgreSQL cancelled the statement, which
// it does when the request's context ends mid-query.
func queryCanceled(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == pgerrcode.QueryCanceled
}

// errorWriter writes errors as JSON in the API's error shape.
type errorWriter struct {
	log *slog.Logger
}

// handle maps err with classify, logs what the client must not see, and
// writes the response. It is the error hook of every layer: validator,
// parameter binding, strict request decoding and handlers.
func (ew errorWriter) handle(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil && errors.Is(err, context.Canceled) ||
		errors.Is(r.Context().Err(), context.Canceled) && queryCanceled(err) {
		// The client went away; there is nobody to answer.
		ew.write(w, r, 499, "client closed request")
		return
	}
	if answerStarted(w) {
		// Writing the answer failed after its status went out (the access
		// log has that status): there is no second answer to give. A
		// client that went away (Nginx drops the connection when its own
		// client does) is routine; anything else is worth a warning.
		level := slog.LevelWarn
		if r.Context().Err() != nil || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
			level = slog.LevelDebug
		}
		ew.log.Log(r.Context(), level, "answer cut short", "error", err.Error(), "request_id", RequestID(r.Context()))
		return
	}
	p := classify(err)
	if p.status >= 500 && !errors.Is(err, errPanicked) {
		ew.log.ErrorContext(r.Context(), "request failed", "status", p.status, "error", err.Error(), "request_id", RequestID(r.Context()))
	}
	if p.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(p.retryAfter))
	}
	var badRange *RangeError
	if errors.As(err, &badRange) {
		// A 416 names the size, so the client can ask again.
		w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", badRange.Size))
	}
	ew.write(w, r, p.status, p.msgs...)
}

// answerStarted reports whether w's status has been sent, as the
// statusRecorder that the middleware wraps every request's writer in
// knows (found through the writers' Unwrap).
func answerStarted(w http.ResponseWriter) bool {
	for {
		if rec, ok := w.(*statusRecorder); ok {
			return rec.status != 0
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
}

// write sends status with msgs in the API's error shape.
func (ew errorWriter) write(w http.ResponseWriter, r *http.Request, status int, msgs ...string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	if status == http.StatusServiceUnavailable && h.Get("Retry-After") == "" {
		h.Set("Retry-After", "1")
	}
	w.WriteHeader(status)
	var body api.GenericErrorModel
	body.Errors.Body = msgs
	if err := json.NewEncoder(w).Encode(body); err != nil {
		ew.log.DebugContext(r.Context(), "writing error response", "error", err)
	}
}

// decodeProblem words an error of the generated handlers' body decoding (a
// JSON body, or the start of a form) for the client. encoding/json's messages name Go types and struct fields
// ("Go struct field NewUser.user.username of type string"), so none of
// their text is passed on: only the JSON path of a value of the wrong type.
func decodeProblem(err error) error {
	var tooLarge *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooLarge):
		return tooLarge
	case errors.Is(err, http.ErrMissingBoundary):
		return Invalid(msgNoBoundary)
	case errors.Is(err, http.ErrNotMultipart):
		return Invalid("the Content-Type is not a valid multipart/form-data type")
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return Invalid(fmt.Sprintf("body: %s has the wrong type", typeErr.Field))
	case errors.As(err, &typeErr):
		return Invalid("body: a value has the wrong type")
	}
	return Invalid("body: malformed JSON")
}

// paramProblem words a parameter binding error of the generated router for
// the client, naming the parameter but none of the binder's internals.
func paramProblem(err error) error {
	var (
		format   *api.InvalidParamFormatError
		required *api.RequiredParamError
		tooMany  *api.TooManyValuesForParamError
	)
	switch {
	case errors.As(err, &format):
		return Invalid(fmt.Sprintf("parameter %q is invalid", format.ParamName))
	case errors.As(err, &required):
		return Invalid(fmt.Sprintf("parameter %q is required", required.ParamName))
	case errors.As(err, &tooMany):
		return Invalid(fmt.Sprintf("parameter %q is given more than once", tooMany.ParamName))
	}
	return Invalid("a parameter is invalid")
}
