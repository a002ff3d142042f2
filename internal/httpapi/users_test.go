package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/oapi-codegen/nullable"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/internal/apptest"
	"github.com/sophsapp/sophsapp/internal/auth"
	"github.com/sophsapp/sophsapp/internal/pgtest"
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
	// Both taken: both are reported, on registration and on update.
	resp, err := a.Client.CreateUserWithResponse(context.Background(), api.CreateUserJSONRequestBody{
		User: api.NewUser{Username: "JAKE", Email: "Jake@example.com", Password: "password-x"},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, resp.StatusCode(), resp.Body, http.StatusUnprocessableEntity, "username has already been taken", "email has already been taken")
	anna := register(t, a, "anna")
	put := updateUserRaw(t, a, anna.Token, `{"user":{"username":"jake","email":"jake@example.com"}}`)
	wantError(t, put.StatusCode(), put.Body, http.StatusUnprocessableEntity, "username has already been taken", "email has already been taken")
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

// withAuthorization sends header as the raw Authorization header.
func withAuthorization(header string) api.RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", header)
		return nil
	}
}

// userID returns the id a token of this test server was issued for.
func userID(t *testing.T, token string) int64 {
	t.Helper()
	id, err := auth.NewTokens([]byte(apptest.TestJWTSecret), time.Hour).Parse(token)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestGetCurrentUser(t *testing.T) {
	a := apptest.Start(t, nil)
	jake := register(t, a, "jake")

	for _, header := range []string{"Token " + jake.Token, "Bearer " + jake.Token, "bearer " + jake.Token} {
		resp, err := a.Client.GetCurrentUserWithResponse(context.Background(), withAuthorization(header))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode() != http.StatusOK || resp.JSON200 == nil {
			t.Fatalf("%.6s…: %d %s", header, resp.StatusCode(), resp.Body)
		}
		if got := resp.JSON200.User; got != jake {
			t.Fatalf("%.6s…: user %+v, want %+v", header, got, jake)
		}
	}
}

// badCredentials are Authorization headers every operation must refuse
// with 401, whether it requires a token or only accepts one.
func badCredentials(t *testing.T, a *apptest.App, valid string) map[string]api.RequestEditorFn {
	t.Helper()
	id := userID(t, valid)
	expired, err := auth.NewTokens([]byte(apptest.TestJWTSecret), -time.Minute).Issue(id)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := auth.NewTokens([]byte("another-secret-another-secret-0123456789"), time.Hour).Issue(id)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]api.RequestEditorFn{
		"garbage token":      withToken("not-a-jwt"),
		"expired token":      withToken(expired),
		"foreign secret":     withToken(foreign),
		"tampered token":     withToken(tamperSignature(valid)),
		"unknown scheme":     withAuthorization("Basic " + valid),
		"scheme only":        withAuthorization("Token"),
		"token of no scheme": withAuthorization(valid),
	}
}

// tamperSignature changes the first character of the token's signature,
// which always changes the signature's first byte. Changing the last
// characters does not always: the last one carries two bits that base64
// decoding ignores, so "…xw" and "…xx" can decode to the same signature.
func tamperSignature(token string) string {
	i := strings.LastIndexByte(token, '.') + 1
	c := "A"
	if token[i] == 'A' {
		c = "B"
	}
	return token[:i] + c + token[i+1:]
}

func TestCurrentUserUnauthorized(t *testing.T) {
	a := apptest.Start(t, nil)
	jake := register(t, a, "jake")
	ctx := context.Background()
	editors := badCredentials(t, a, jake.Token)
	editors["no token"] = func(context.Context, *http.Request) error { return nil }

	for name, editor := range editors {
		t.Run(name, func(t *testing.T) {
			get, err := a.Client.GetCurrentUserWithResponse(ctx, editor)
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, get.StatusCode(), get.Body, http.StatusUnauthorized, "missing or invalid authorization token")
			put, err := a.Client.UpdateCurrentUserWithResponse(ctx, api.UpdateCurrentUserJSONRequestBody{
				User: api.UpdateUser{Bio: nullable.NewNullableWithValue("hacked")},
			}, editor)
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, put.StatusCode(), put.Body, http.StatusUnauthorized, "missing or invalid authorization token")
		})
	}
	// Nothing changed.
	me, err := a.Client.GetCurrentUserWithResponse(ctx, withToken(jake.Token))
	if err != nil {
		t.Fatal(err)
	}
	if me.StatusCode() != http.StatusOK || me.JSON200.User.Bio != nil {
		t.Fatalf("after refused updates: %d %s", me.StatusCode(), me.Body)
	}
}

// updateUser sends PUT /api/user as the holder of token and returns the
// updated user, failing t on anything but 200.
func updateUser(t *testing.T, a *apptest.App, token string, u api.UpdateUser) api.User {
	t.Helper()
	resp, err := a.Client.UpdateCurrentUserWithResponse(context.Background(), api.UpdateCurrentUserJSONRequestBody{User: u}, withToken(token))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != http.StatusOK || resp.JSON200 == nil {
		t.Fatalf("update user: %d %s", resp.StatusCode(), resp.Body)
	}
	return resp.JSON200.User
}

// updateUserRaw sends body as PUT /api/user as the holder of token.
func updateUserRaw(t *testing.T, a *apptest.App, token, body string) *api.UpdateCurrentUserResponse {
	t.Helper()
	resp, err := a.Client.UpdateCurrentUserWithBodyWithResponse(context.Background(), "application/json", strings.NewReader(body), withToken(token))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestUpdateCurrentUserCredentials(t *testing.T) {
	a := apptest.Start(t, nil)
	jake := register(t, a, "jake")

	email, username, password := "jake.new@example.com", "jacob", "a-new-password"
	got := updateUser(t, a, jake.Token, api.UpdateUser{Email: &email, Username: &username, Password: &password})
	want := api.User{Email: email, Username: username, Token: jake.Token}
	if got != want {
		t.Fatalf("updated user %+v, want %+v", got, want)
	}
	if strings.Contains(fmt.Sprint(got), password) {
		t.Fatal("the response carries the password")
	}

	// The old credentials are gone, the new ones work.
	for _, c := range []struct{ email, password string }{
		{"jake@example.com", "password-jake"},
		{"jake@example.com", password},
		{email, "password-jake"},
	} {
		resp := login(t, a, c.email, c.password)
		wantError(t, resp.StatusCode(), resp.Body, http.StatusUnauthorized, "email or password is invalid")
	}
	resp := login(t, a, email, password)
	if resp.StatusCode() != http.StatusOK || resp.JSON200.User.Username != username {
		t.Fatalf("login with the new credentials: %d %s", resp.StatusCode(), resp.Body)
	}
	// The token issued before the change still names the user.
	me, err := a.Client.GetCurrentUserWithResponse(context.Background(), withToken(jake.Token))
	if err != nil {
		t.Fatal(err)
	}
	if me.StatusCode() != http.StatusOK || me.JSON200.User.Username != username {
		t.Fatalf("GET /api/user after the change: %d %s", me.StatusCode(), me.Body)
	}
	// The old name and email are free again.
	register(t, a, "jake")
}

func TestUpdateCurrentUserBioAndImage(t *testing.T) {
	a := apptest.Start(t, nil)
	jake := register(t, a, "jake")
	set := func(s string) nullable.Nullable[string] { return nullable.NewNullableWithValue(s) }

	got := updateUser(t, a, jake.Token, api.UpdateUser{Bio: set("I work at statefarm"), Image: set("https://example.com/jake.jpg")})
	if got.Bio == nil || *got.Bio != "I work at statefarm" || got.Image == nil || *got.Image != "https://example.com/jake.jpg" {
		t.Fatalf("after setting bio and image: %+v", got)
	}
	// Fields left out are kept.
	name := "jacob"
	got = updateUser(t, a, jake.Token, api.UpdateUser{Username: &name})
	if got.Bio == nil || *got.Bio != "I work at statefarm" || got.Image == nil || got.Username != "jacob" {
		t.Fatalf("after changing only the username: %+v", got)
	}
	// null clears one field and keeps the other.
	got = updateUser(t, a, jake.Token, api.UpdateUser{Bio: nullable.NewNullNullable[string]()})
	if got.Bio != nil || got.Image == nil {
		t.Fatalf("after bio null: %+v", got)
	}
	resp := updateUserRaw(t, a, jake.Token, `{"user":{"image":null}}`)
	if resp.StatusCode() != http.StatusOK || resp.JSON200.User.Image != nil {
		t.Fatalf("after image null: %d %s", resp.StatusCode(), resp.Body)
	}
	// "" clears too, and the API shows null, never "".
	updateUser(t, a, jake.Token, api.UpdateUser{Bio: set("again"), Image: set("again.png")})
	resp = updateUserRaw(t, a, jake.Token, `{"user":{"bio":"","image":""}}`)
	if resp.StatusCode() != http.StatusOK || !strings.Contains(string(resp.Body), `"bio":null`) || !strings.Contains(string(resp.Body), `"image":null`) {
		t.Fatalf(`after bio and image "": %d %s`, resp.StatusCode(), resp.Body)
	}
	me, err := a.Client.GetCurrentUserWithResponse(context.Background(), withToken(jake.Token))
	if err != nil {
		t.Fatal(err)
	}
	if u := me.JSON200.User; u.Bio != nil || u.Image != nil || u.Username != "jacob" {
		t.Fatalf("GET /api/user after clearing: %+v", u)
	}
}

func TestUpdateCurrentUserConflicts(t *testing.T) {
	a := apptest.Start(t, nil)
	jake := register(t, a, "jake")
	register(t, a, "anna")

	for _, tc := range []struct{ body, msg string }{
		{`{"user":{"email":"anna@example.com"}}`, "email has already been taken"},
		{`{"user":{"email":"Anna@EXAMPLE.com"}}`, "email has already been taken"},
		{`{"user":{"username":"anna"}}`, "username has already been taken"},
	} {
		resp := updateUserRaw(t, a, jake.Token, tc.body)
		wantError(t, resp.StatusCode(), resp.Body, http.StatusUnprocessableEntity, tc.msg)
	}
	// Keeping one's own email (in any case) or username is no conflict.
	resp := updateUserRaw(t, a, jake.Token, `{"user":{"email":"JAKE@example.com","username":"jake"}}`)
	if resp.StatusCode() != http.StatusOK || resp.JSON200.User.Email != "JAKE@example.com" || resp.JSON200.User.Username != "jake" {
		t.Fatalf("keeping own email and username: %d %s", resp.StatusCode(), resp.Body)
	}
}

func TestUpdateCurrentUserInvalid(t *testing.T) {
	a := apptest.Start(t, nil)
	jake := register(t, a, "jake")

	for _, tc := range []struct {
		name, body string
		msgs       []string
	}{
		{"no fields", `{"user":{}}`, []string{"give at least one field to change"}},
		{"no user", `{}`, []string{"user can't be blank"}},
		{"malformed email", `{"user":{"email":"jake.example.com"}}`, []string{"email is invalid"}},
		{"null email", `{"user":{"email":null}}`, nil},
		{"blank username", `{"user":{"username":""}}`, []string{"username must be 1 to 64 characters without spaces or slashes"}},
		{"short password", `{"user":{"password":"short"}}`, []string{"password must be 8 to 72 characters"}},
		{"password over 72 bytes", `{"user":{"password":"` + password72 + `x"}}`, []string{"password must be at most 72 bytes"}},
		{"long bio", `{"user":{"bio":"` + strings.Repeat("b", 2001) + `"}}`, []string{"bio is too long (at most 2000 characters)"}},
		{"long image", `{"user":{"image":"` + strings.Repeat("i", 2049) + `"}}`, []string{"image is too long (at most 2048 characters)"}},
		{"malformed JSON", `{"user":{"bio":`, []string{"body: malformed JSON"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := updateUserRaw(t, a, jake.Token, tc.body)
			wantError(t, resp.StatusCode(), resp.Body, http.StatusUnprocessableEntity, tc.msgs...)
		})
	}
	// Nothing changed.
	if resp := login(t, a, "jake@example.com", "password-jake"); resp.StatusCode() != http.StatusOK || resp.JSON200.User != (api.User{Email: jake.Email, Username: "jake", Token: resp.JSON200.User.Token}) {
		t.Fatalf("after refused updates: %d %s", resp.StatusCode(), resp.Body)
	}
}

func TestDeletedUserToken(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	a := apptest.StartEnv(t, apptest.Env(dbURL))
	jake := register(t, a, "jake")
	register(t, a, "anna")

	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "DELETE FROM users WHERE username = 'jake'"); err != nil {
		t.Fatal(err)
	}

	// The token is still well signed, but names nobody.
	get, err := a.Client.GetCurrentUserWithResponse(context.Background(), withToken(jake.Token))
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, get.StatusCode(), get.Body, http.StatusUnauthorized, "missing or invalid authorization token")
	put := updateUserRaw(t, a, jake.Token, `{"user":{"bio":"back"}}`)
	wantError(t, put.StatusCode(), put.Body, http.StatusUnauthorized, "missing or invalid authorization token")
}
