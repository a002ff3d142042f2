package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/sophsapp/sophsapp/internal/auth"
)

// validate routes a request through the spec before any handler sees it:
// unknown paths are 404, wrong methods 405, a bad token 401, and a request
// that does not match its operation's parameters, body or security is 422
// (or 401 for missing credentials), all in the API's error shape.
func validate(router routers.Router, tokens *auth.Tokens, ew errorWriter) func(http.Handler) http.Handler {
	opts := &openapi3filter.Options{
		MultiError: true,
		AuthenticationFunc: func(ctx context.Context, in *openapi3filter.AuthenticationInput) error {
			if _, ok := auth.FromContext(in.RequestValidationInput.Request.Context()); !ok {
				return ErrUnauthorized
			}
			return nil
		},
	}
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
