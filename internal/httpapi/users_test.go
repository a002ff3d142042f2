package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/internal/apptest"
)

// wantError fails t unless the response has status want and, when msgs are
// given, exactly those messages in the API's error shape.
func wantError(t *testing.T, status int, body []byte, want int, msgs ...string) {
	t.Helper()
	if status != want {
		t.Fatalf("status %d, want %d; body %s", status, want, body)
	}
	if len(msgs) == 0 {
		return
	}
	var e api.GenericErrorModel
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %s: %v", body, err)
	}
	if !slices.Equal(e.Errors.Body, msgs) {
		t.Fatalf("errors %q, want %q", e.Errors.Body, msgs)
	}
}

// newUser is the registration of name with register's conventions.
func newUser(name string) api.NewUser {
	return api.NewUser{Username: name, Email: name + "@example.com", Password: "password-" + name}
}

func TestCreateUser(t *testing.T) {
	a := apptest.Start(t, nil)
	ctx := context.Background()

	resp, err := a.Client.CreateUserWithResponse(ctx, api.CreateUserJSONRequestBody{User: newUser("jake")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != http.StatusCreated || resp.JSON201 == nil {
		t.Fatalf("status %d, body %s", resp.StatusCode(), resp.Body)
	}
	u := resp.JSON201.User
	if u.Username != "jake" || u.Email != "jake@example.com" || u.Bio != nil || u.Image != nil || u.Token == "" {
		t.Fatalf("user %+v", u)
	}
	if strings.Contains(string(resp.Body), "password") {
		t.Fatalf("response mentions the password: %s", resp.Body)
	}
	// The token works at once.
	me, err := a.Client.GetCurrentUserWithResponse(ctx, withToken(u.Token))
	if err != nil {
		t.Fatal(err)
	}
	if me.StatusCode() != http.StatusOK || me.JSON200.User.Username != "jake" {
		t.Fatalf("GET /api/user with the new token: %d %s", me.StatusCode(), me.Body)
	}
}

func TestCreateUserTaken(t *testing.T) {
	a := apptest.Start(t, nil)
	register(t, a, "jake")

	for _, tc := range []struct {
		name string
		user api.NewUser
		msg  string
	}{
		{"same email", api.NewUser{Username: "other", Email: "jake@example.com", Password: "password-x"}, "email has already been taken"},
		{"email in other case", api.NewUser{Username: "other", Email: "JAKE@Example.COM", Password: "password-x"}, "email has already been taken"},
		{"same username", api.NewUser{Username: "jake", Email: "other@example.com", Password: "password-x"}, "username has already been taken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := a.Client.CreateUserWithResponse(context.Background(), api.CreateUserJSONRequestBody{User: tc.user})
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, resp.StatusCode(), resp.Body, http.StatusUnprocessableEntity, tc.msg)
		})
	}
}

func TestCreateUserInvalid(t *testing.T) {
	a := apptest.Start(t, nil)

	for _, tc := range []struct {
		name string
		body string
		msgs []string
	}{
		{"missing username", `{"user":{"email":"a@example.com","password":"password-a"}}`, []string{"username can't be blank"}},
		{"missing email", `{"user":{"username":"a","password":"password-a"}}`, []string{"email can't be blank"}},
		{"missing password", `{"user":{"username":"a","email":"a@example.com"}}`, []string{"password can't be blank"}},
		{"all missing", `{"user":{}}`, []string{"username can't be blank", "email can't be blank", "password can't be blank"}},
		{"no user", `{}`, []string{"user can't be blank"}},
		{"blank username", `{"user":{"username":"","email":"a@example.com","password":"password-a"}}`, []string{"username must be 1 to 64 characters without spaces or slashes"}},
		{"username with space", `{"user":{"username":"a b","email":"a@example.com","password":"password-a"}}`, []string{"username must be 1 to 64 characters without spaces or slashes"}},
		{"blank email", `{"user":{"username":"a","email":"","password":"password-a"}}`, []string{"email is invalid"}},
		{"malformed email", `{"user":{"username":"a","email":"not-an-email","password":"password-a"}}`, []string{"email is invalid"}},
		{"short password", `{"user":{"username":"a","email":"a@example.com","password":"short"}}`, []string{"password must be 8 to 72 characters"}},
		{"password over 72 bytes", `{"user":{"username":"a","email":"a@example.com","password":"` + strings.Repeat("é", 40) + `"}}`, []string{"password must be at most 72 bytes"}},
		{"wrong type", `{"user":{"username":1,"email":"a@example.com","password":"password-a"}}`, nil},
		{"malformed JSON", `{"user":`, []string{"body: malformed JSON"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := a.Client.CreateUserWithBodyWithResponse(context.Background(), "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, resp.StatusCode(), resp.Body, http.StatusUnprocessableEntity, tc.msgs...)
		})
	}
	// Nothing was created: the name is still free.
	register(t, a, "a")
}

// login logs in with email and password.
func login(t *testing.T, a *apptest.App, email, password string) *api.LoginResponse {
	t.Helper()
	resp, err := a.Client.LoginWithResponse(context.Background(), api.LoginJSONRequestBody{User: api.LoginUser{Email: email, Password: password}})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestLogin(t *testing.T) {
	a := apptest.Start(t, nil)
	jake := register(t, a, "jake")

	for _, email := range []string{"jake@example.com", "JAKE@example.com"} {
		resp := login(t, a, email, "password-jake")
		if resp.StatusCode() != http.StatusOK || resp.JSON200 == nil {
			t.Fatalf("login as %s: %d %s", email, resp.StatusCode(), resp.Body)
		}
		u := resp.JSON200.User
		if u.Username != "jake" || u.Email != jake.Email || u.Token == "" {
			t.Fatalf("login as %s: %+v", email, u)
		}
		me, err := a.Client.GetCurrentUserWithResponse(context.Background(), withToken(u.Token))
		if err != nil {
			t.Fatal(err)
		}
		if me.StatusCode() != http.StatusOK || me.JSON200.User.Username != "jake" {
			t.Fatalf("GET /api/user with the login token: %d %s", me.StatusCode(), me.Body)
		}
	}
}

func TestLoginRefused(t *testing.T) {
	a := apptest.Start(t, nil)
	register(t, a, "jake")

	wrongPassword := login(t, a, "jake@example.com", "password-wrong")
	wantError(t, wrongPassword.StatusCode(), wrongPassword.Body, http.StatusUnauthorized, "email or password is invalid")
	unknownEmail := login(t, a, "nobody@example.com", "password-jake")
	wantError(t, unknownEmail.StatusCode(), unknownEmail.Body, http.StatusUnauthorized, "email or password is invalid")
	if string(wrongPassword.Body) != string(unknownEmail.Body) {
		t.Fatalf("bodies differ: wrong password %s, unknown email %s", wrongPassword.Body, unknownEmail.Body)
	}
	// bcrypt reads only 72 bytes: a longer password sharing them is refused.
	long := register72(t, a)
	over := login(t, a, long.Email, password72+"x")
	wantError(t, over.StatusCode(), over.Body, http.StatusUnauthorized, "email or password is invalid")
	if ok := login(t, a, long.Email, password72); ok.StatusCode() != http.StatusOK {
		t.Fatalf("login with the 72-byte password: %d %s", ok.StatusCode(), ok.Body)
	}

	for _, tc := range []struct {
		name string
		body string
		msgs []string
	}{
		{"blank email", `{"user":{"email":"","password":"password-jake"}}`, []string{"email can't be blank"}},
		{"blank password", `{"user":{"email":"jake@example.com","password":""}}`, []string{"password can't be blank"}},
		{"missing fields", `{"user":{}}`, []string{"email can't be blank", "password can't be blank"}},
		{"malformed JSON", `{"user"`, []string{"body: malformed JSON"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := a.Client.LoginWithBodyWithResponse(context.Background(), "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, resp.StatusCode(), resp.Body, http.StatusUnprocessableEntity, tc.msgs...)
		})
	}
}

// password72 is 36 characters and 72 bytes, bcrypt's limit.
var password72 = strings.Repeat("é", 36)

// register72 registers a user whose password is password72.
func register72(t *testing.T, a *apptest.App) api.User {
	t.Helper()
	resp, err := a.Client.CreateUserWithResponse(context.Background(), api.CreateUserJSONRequestBody{
		User: api.NewUser{Username: "long", Email: "long@example.com", Password: password72},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != http.StatusCreated {
		t.Fatalf("register long: %d %s", resp.StatusCode(), resp.Body)
	}
	return resp.JSON201.User
}
