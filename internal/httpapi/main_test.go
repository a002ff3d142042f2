package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/internal/apptest"
	"github.com/sophsapp/sophsapp/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// withToken authenticates one client call as the holder of token.
func withToken(token string) api.RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Token "+token)
		return nil
	}
}

// sendAs makes a request with exactly the headers given, through the
// contract-checked client, and returns the status and body.
func sendAs(t testing.TB, a *apptest.App, method, path string, headers map[string]string, body io.Reader) (int, []byte) {
	t.Helper()
	resp, b := a.Send(t, method, path, headers, body)
	return resp.StatusCode, b
}

// send makes a raw JSON request, with token when it is not empty, and
// returns the status and body.
func send(t testing.TB, a *apptest.App, method, path, token string, body io.Reader) (int, []byte) {
	t.Helper()
	headers := map[string]string{"Content-Type": "application/json"}
	if token != "" {
		headers["Authorization"] = "Token " + token
	}
	return sendAs(t, a, method, path, headers, body)
}

// register creates a user named name (email name@example.com, password
// "password-"+name) through the API and returns it with its token.
func register(t testing.TB, a *apptest.App, name string) api.User {
	t.Helper()
	resp, err := a.Client.CreateUserWithResponse(context.Background(), api.CreateUserJSONRequestBody{
		User: api.NewUser{Username: name, Email: name + "@example.com", Password: "password-" + name},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != http.StatusCreated || resp.JSON201 == nil {
		t.Fatalf("register %s: %d %s", name, resp.StatusCode(), resp.Body)
	}
	return resp.JSON201.User
}
