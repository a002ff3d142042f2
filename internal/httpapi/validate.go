package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/sophsapp/sophsapp/gen/db"
	"github.com/sophsapp/sophsapp/internal/auth"
)

// bodyLimits are the most bytes a request body may have. A JSON body is
// read whole and checked by kin-openapi, so it stays small; any other body
// (an upload) is streamed to its handler unread.
type bodyLimits struct {
	json   int64 // MAX_JSON_BYTES
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

// isJSON reports whether mediaType (parameters allowed) is JSON.
func isJSON(mediaType string) bool {
	mt, _, err := mime.ParseMediaType(mediaType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// checkContentType refuses a request to an operation that takes a JSON
// body when its Content-Type cannot be parsed. kin-openapi reads such a
// header leniently (everything before the first ";"), so it would validate
// "application/json; ====" as JSON while jsonBodySchema, which parses
// strictly, would not: the body would reach the generated handler's own
// decoder (case-insensitive member names, last duplicate wins) without the
// exact-member check. Both must see the same type, so a header only one of
// them understands is refused.
func checkContentType(op *openapi3.Operation, streamed bool, ct string) error {
	if streamed || op.RequestBody == nil || op.RequestBody.Value == nil || ct == "" {
		return nil
	}
	if _, _, err := mime.ParseMediaType(ct); err != nil {
		return Invalid(fmt.Sprintf("body: header Content-Type %q is malformed", ct))
	}
	return nil
}

// jsonBodySchema returns the schema of op's JSON request body for a request
// with content type ct, or nil when the request does not send JSON to an
// operation that takes it. A streamed body (an upload) is never read here,
// whatever type it claims: its operation accepts any type ('*/*', which
// matches application/json too), and reading it as a JSON document would
// hold up to MAX_UPLOAD_BYTES in memory, before the token is even checked.
func jsonBodySchema(op *openapi3.Operation, streamed bool, ct string) (*openapi3.Schema, bool) {
	if streamed || op.RequestBody == nil || op.RequestBody.Value == nil || !isJSON(ct) {
		return nil, false
	}
	mt, _, _ := mime.ParseMediaType(ct)
	media := op.RequestBody.Value.Content.Get(mt)
	if media == nil {
		return nil, false
	}
	if media.Schema == nil {
		return nil, true
	}
	return media.Schema.Value, true
}

// validate routes a request through the spec before any handler sees it:
// unknown paths are 404, wrong methods 405, a bad token 401, and a request
// that does not match its operation's parameters, body or security is 422
// (or 401 for missing credentials), all in the API's error shape. It caps
// the body by the operation's bodyRule (413 beyond it) and gives file
// transfers transferTimeout instead of the request deadline.
//
// A JSON body is read once (exactly its length), checked by checkJSONBody,
// decoded once and validated against its schema with kin-openapi; the
// request then carries the validated value (validatedBody), which the
// generated handlers bind with exact member names instead of decoding the
// body a second time. kin-openapi validates everything else (parameters,
// security, and bodies that are empty or not JSON).
func validate(router *routeIndex, tokens *auth.Tokens, limits bodyLimits, ew errorWriter) func(http.Handler) http.Handler {
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
	// A JSON body decoded here is validated here too.
	optsWithoutBody := &streamOpts
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			route, params, err := FindRoute(router, r)
			switch {
			case errors.Is(err, routers.ErrMethodNotAllowed):
				// The path exists: say which methods it has. A plain OPTIONS
				// (not a CORS preflight, which withCORS answered) asks just that.
				w.Header().Set("Allow", allowedMethods(router, r))
				if r.Method == http.MethodOptions {
					w.WriteHeader(http.StatusNoContent)
					return
				}
				ew.handle(w, r, &MethodError{Method: r.Method, Path: r.URL.Path})
				return
			case err != nil:
				ew.handle(w, r, &NoRouteError{Path: r.URL.Path})
				return
			}
			info(r.Context()).operation = route.Operation.OperationID
			limit, streamed := limits.bodyRule(route.Operation)
			if r.ContentLength > limit {
				// Refused before a byte of the body is read.
				ew.handle(w, r, &http.MaxBytesError{Limit: limit})
				return
			}
			if r.Body != http.NoBody {
				// A request without a body keeps http.NoBody: kin-openapi's
				// security check reads and copies any other body, even an
				// empty one, for each requirement it tries.
				r.Body = http.MaxBytesReader(w, r.Body, limit)
			}
			if streamed || router.files[route.Operation] {
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
			var problems openapi3.MultiError
			var validated *validatedBody
			ct := r.Header.Get("Content-Type")
			if err := checkContentType(route.Operation, streamed, ct); err != nil {
				ew.handle(w, r, err)
				return
			}
			// Every body but a streamed one is read here, whole and at most
			// to its limit, so that a body that cannot be read (broken
			// chunked framing, cut short) is one answer (400) whichever
			// layer would have read it.
			var data []byte
			if !streamed && r.ContentLength != 0 {
				var err error
				if data, err = readBody(r); err != nil {
					ew.handle(w, r, err)
					return
				}
				r.Body = io.NopCloser(bytes.NewReader(data))
			}
			if schema, ok := jsonBodySchema(route.Operation, streamed, ct); ok {
				if len(bytes.TrimSpace(data)) > 0 {
					// The body is decoded here, once; kin-openapi checks
					// the rest of the request and the value's schema.
					value, err := decodeJSONBody(data, schema)
					if err != nil {
						ew.handle(w, r, err)
						return
					}
					in.Options = optsWithoutBody
					if schema != nil {
						if err := schema.VisitJSON(value, openapi3.VisitAsRequest(), openapi3.MultiErrors()); err != nil {
							problems = append(problems, &openapi3filter.RequestError{Input: in, RequestBody: route.Operation.RequestBody.Value, Reason: "doesn't match schema", Err: err})
						}
					}
					validated = &validatedBody{ReadCloser: io.NopCloser(bytes.NewReader(data)), value: value}
					// kin-openapi's security check would copy the body it
					// does not need.
					r.Body = http.NoBody
				}
			}
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
				var multi openapi3.MultiError
				if errors.As(err, &multi) {
					problems = append(multi, problems...)
				} else {
					problems = append(openapi3.MultiError{err}, problems...)
				}
			}
			if len(problems) > 0 {
				ew.handle(w, r, requestProblem(problems))
				return
			}
			if validated != nil {
				r.Body = *validated
			}
			next.ServeHTTP(w, r)
		})
	}
}

// authenticate reads "Authorization: Token <jwt>" (or "Bearer <jwt>") and
// returns ctx carrying the user. No header leaves ctx anonymous and the spec
// decides whether the operation needs a user; a header that is present but
// invalid is an error, never a silent downgrade to anonymous.
//
// A well-signed token is still refused when its user no longer exists or
// it was revoked: issued in an earlier token generation than the user's
// (a password change since), unless it is the token that made the change.
// The request owes that check (a primary-key lookup on the primary), and
// pays it with its first statement (tokencheck.go).
func authenticate(ctx context.Context, tokens *auth.Tokens, header string) (context.Context, error) {
	if header == "" {
		return ctx, nil
	}
	scheme, token, _ := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Token") && !strings.EqualFold(scheme, "Bearer") || token == "" {
		return ctx, ErrUnauthorized
	}
	claims, err := tokens.ParseClaims(token)
	if err != nil {
		return ctx, errors.Join(ErrUnauthorized, err)
	}
	// Whether a password change revoked the token is checked with the
	// request's first statement (tokencheck.go).
	ctx = oweTokenCheck(ctx, db.CheckTokenParams{UserID: claims.UserID, Generation: claims.Generation, TokenSha256: auth.Fingerprint(token)})
	return auth.WithUser(ctx, auth.User{ID: claims.UserID, Token: token, Generation: claims.Generation}), nil
}

// readBody reads r's whole body (at most its operation's limit).
func readBody(r *http.Request) ([]byte, error) {
	var data []byte
	var err error
	if r.ContentLength >= 0 {
		data = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, data)
	} else {
		data, err = io.ReadAll(r.Body)
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, fmt.Errorf("read body: %w", err)
	case err != nil:
		// Broken chunked framing, a body shorter than its Content-Length,
		// a stalled client: the client's fault (400), not the database's
		// (io.ErrUnexpectedEOF alone reads as a lost connection, 503).
		return nil, fmt.Errorf("read body: %w: %w", ErrIncompleteBody, err)
	}
	return data, nil
}

// decodeJSONBody decodes data once checkJSONBody accepts it. Numbers become
// float64 (no request schema has a number that float64 cannot hold).
func decodeJSONBody(data []byte, schema *openapi3.Schema) (any, error) {
	if err := checkJSONBody(data, schema); err != nil {
		return nil, err
	}
	var value any
	if err := json.Unmarshal(data, &value); err != nil {
		return nil, Invalid("body: malformed JSON")
	}
	return value, nil
}

// validatedBody is a request body that also carries the value validated
// from it. oapi-codegen's runtime.BindJSONBody binds that value (member
// names matched exactly) instead of decoding the body again.
type validatedBody struct {
	io.ReadCloser
	value any
}

// ValidatedValue returns the validated value of the body.
func (b validatedBody) ValidatedValue() any { return b.value }

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
// spec may carry its own message in an `x-error` extension, and one for a
// single keyword in `x-error-<keyword>` (e.g. x-error-maxLength); a missing
// required property reads "<name> can't be blank"; anything else is the
// value's JSON path and kin-openapi's reason (which never echoes the value).
func schemaMessage(e *openapi3.SchemaError) string {
	path := e.JSONPointer()
	if e.SchemaField == "required" && len(path) > 0 {
		return path[len(path)-1] + " can't be blank"
	}
	if msg, ok := e.Schema.Extensions["x-error-"+e.SchemaField].(string); ok {
		return msg
	}
	if msg, ok := e.Schema.Extensions["x-error"].(string); ok && e.SchemaField != "type" {
		return msg
	}
	if len(path) == 0 {
		return e.Reason
	}
	return strings.Join(path, ".") + ": " + e.Reason
}
