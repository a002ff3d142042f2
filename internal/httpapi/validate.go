package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/sophsapp/sophsapp/internal/auth"
)

// bodyLimits are the most bytes a request body may have. A JSON body is
// read whole and checked by kin-openapi, so it stays small; any other body
// (an upload) is streamed to its handler unread.
type bodyLimits struct {
	json   int64 // MAX_BODY_BYTES
	upload int64 // MAX_UPLOAD_BYTES
}

// transferTimeout replaces REQUEST_TIMEOUT, and the server's read and write
// timeouts, for an operation that moves a file, so that a 50 MiB upload or
// download at a client's pace is not cut off: 10 minutes is ~90 KB/s for
// 50 MiB. Nginx still drops a client that sends nothing for 60 s.
const transferTimeout = 10 * time.Minute

// bodyRule is how the operation op treats a request body, decided here and
// nowhere else: its size limit, and whether the body is streamed to the
// handler rather than read and validated by kin-openapi.
func (l bodyLimits) bodyRule(op *openapi3.Operation) (limit int64, streamed bool) {
	if op.RequestBody == nil || op.RequestBody.Value == nil {
		return l.json, false
	}
	if _, ok := op.RequestBody.Value.Content["application/json"]; ok {
		return l.json, false
	}
	return l.upload, true
}

// sendsFiles reports whether op answers with anything but JSON: a file,
// which may take a slow client longer than REQUEST_TIMEOUT to receive.
func sendsFiles(op *openapi3.Operation) bool {
	for _, resp := range op.Responses.Map() {
		if resp.Value == nil {
			continue
		}
		for mediaType := range resp.Value.Content {
			if mediaType != "application/json" {
				return true
			}
		}
	}
	return false
}

// withTransferDeadline returns ctx with its deadline replaced by one d from
// now. The client going away still cancels it; only the request deadline
// that limits set is dropped.
func withTransferDeadline(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), d)
	stop := context.AfterFunc(parent, func() {
		if !errors.Is(parent.Err(), context.DeadlineExceeded) {
			cancel()
		}
	})
	return ctx, func() { stop(); cancel() }
}

// validate routes a request through the spec before any handler sees it:
// unknown paths are 404, wrong methods 405, a bad token 401, and a request
// that does not match its operation's parameters, body or security is 422
// (or 401 for missing credentials), all in the API's error shape. It caps
// the body by the operation's bodyRule (413 beyond it) and gives file
// transfers transferTimeout instead of the request deadline.
func validate(router routers.Router, tokens *auth.Tokens, limits bodyLimits, ew errorWriter) func(http.Handler) http.Handler {
	opts := &openapi3filter.Options{
		MultiError: true,
		AuthenticationFunc: func(ctx context.Context, in *openapi3filter.AuthenticationInput) error {
			if _, ok := auth.FromContext(in.RequestValidationInput.Request.Context()); !ok {
				return ErrUnauthorized
			}
			return nil
		},
	}
	// A streamed body is the handler's to read: kin-openapi still checks
	// the path, query, headers and security, but not the body, which it
	// would read whole into memory.
	streamOpts := *opts
	streamOpts.ExcludeRequestBody = true
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			route, params, err := router.FindRoute(r)
			switch {
			case errors.Is(err, routers.ErrMethodNotAllowed):
				ew.write(w, r, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s", r.Method, r.URL.Path))
				return
			case err != nil:
				ew.write(w, r, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
				return
			}
			info(r.Context()).operation = route.Operation.OperationID
			limit, streamed := limits.bodyRule(route.Operation)
			if r.ContentLength > limit {
				// Refused before a byte of the body is read.
				ew.handle(w, r, &http.MaxBytesError{Limit: limit})
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
			if streamed || sendsFiles(route.Operation) {
				ctx, cancel := withTransferDeadline(r.Context(), transferTimeout)
				defer cancel()
				r = r.WithContext(ctx)
				rc := http.NewResponseController(w)
				deadline := time.Now().Add(transferTimeout)
				// Errors mean the connection cannot take a deadline (a
				// test recorder); the server's timeouts then stay.
				_ = rc.SetReadDeadline(deadline)
				_ = rc.SetWriteDeadline(deadline)
			}
			// Operations declared with `security: []` ignore credentials
			// entirely, so a stale token never fails a health check.
			if sec := route.Operation.Security; sec == nil || len(*sec) > 0 {
				ctx, err := authenticate(r.Context(), tokens, r.Header.Get("Authorization"))
				if err != nil {
					ew.handle(w, r, err)
					return
				}
				r = r.WithContext(ctx)
			}
			in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: opts}
			if streamed {
				// kin-openapi sees the request without its body: even
				// with ExcludeRequestBody, checking security reads the
				// whole body into memory (for authentication functions
				// that might want it).
				bodiless := r.WithContext(r.Context())
				bodiless.Body = http.NoBody
				in.Request, in.Options = bodiless, &streamOpts
			}
			if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
				ew.handle(w, r, requestProblem(err))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// requestProblem turns a kin-openapi validation error into the error
// classify understands, with one readable message per problem.
func requestProblem(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return tooLarge
	}
	var secErr *openapi3filter.SecurityRequirementsError
	if errors.As(err, &secErr) {
		return ErrUnauthorized
	}
	var msgs []string
	collect(err, &msgs)
	if len(msgs) == 0 {
		msgs = []string{"invalid request"}
	}
	// A value can break several keywords of one schema (minLength and
	// pattern) that share one x-error message; say it once.
	var unique []string
	for _, m := range msgs {
		if !slices.Contains(unique, m) {
			unique = append(unique, m)
		}
	}
	return ValidationError(unique)
}

// collect appends one message per problem in err, walking kin-openapi's
// nested multi-errors.
func collect(err error, msgs *[]string) {
	var schemaErr *openapi3.SchemaError
	switch e := err.(type) {
	case openapi3.MultiError:
		for _, sub := range e {
			collect(sub, msgs)
		}
	case *openapi3filter.SecurityRequirementsError:
		*msgs = append(*msgs, ErrUnauthorized.Error())
	case *openapi3filter.RequestError:
		switch {
		case e.Parameter != nil:
			reason := e.Reason
			if errors.As(e.Err, &schemaErr) {
				reason = schemaErr.Reason
			} else if reason == "" && e.Err != nil {
				reason = e.Err.Error()
			}
			*msgs = append(*msgs, fmt.Sprintf("%s parameter %q: %s", e.Parameter.In, e.Parameter.Name, reason))
		case e.Err != nil && hasSchemaError(e.Err):
			collect(e.Err, msgs)
		default:
			*msgs = append(*msgs, "body: "+bodyReason(e))
		}
	default:
		if errors.As(err, &schemaErr) {
			*msgs = append(*msgs, schemaMessage(schemaErr))
		} else {
			*msgs = append(*msgs, err.Error())
		}
	}
}

func hasSchemaError(err error) bool {
	var s *openapi3.SchemaError
	var m openapi3.MultiError
	return errors.As(err, &s) || errors.As(err, &m)
}

func bodyReason(e *openapi3filter.RequestError) string {
	var parseErr *openapi3filter.ParseError
	if errors.As(e.Err, &parseErr) {
		return "malformed JSON"
	}
	if e.Reason != "" {
		return e.Reason
	}
	if e.Err != nil {
		return e.Err.Error()
	}
	return "invalid"
}

// schemaMessage words a schema violation for the client. A schema in the
// spec may carry its own message in an `x-error` extension; a missing
// required property reads "<name> can't be blank"; anything else is the
// value's JSON path and kin-openapi's reason (which never echoes the value).
func schemaMessage(e *openapi3.SchemaError) string {
	path := e.JSONPointer()
	if e.SchemaField == "required" && len(path) > 0 {
		return path[len(path)-1] + " can't be blank"
	}
	if msg, ok := e.Schema.Extensions["x-error"].(string); ok && e.SchemaField != "type" {
		return msg
	}
	if len(path) == 0 {
		return e.Reason
	}
	return strings.Join(path, ".") + ": " + e.Reason
}
