package httpapi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/oapi-codegen/nullable"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/internal/apptest"
)

// getProfile fetches the profile of username with the given request
// editors (none for an anonymous request).
func getProfile(t *testing.T, a *apptest.App, username string, editors ...api.RequestEditorFn) *api.GetProfileByUsernameResponse {
	t.Helper()
	resp, err := a.Client.GetProfileByUsernameWithResponse(context.Background(), username, editors...)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// wantProfile fails t unless resp is a 200 with want.
func wantProfile(t *testing.T, status int, body []byte, got *api.ProfileOK, want api.Profile) {
	t.Helper()
	if status != http.StatusOK || got == nil {
		t.Fatalf("status %d, want 200; body %s", status, body)
	}
	p := got.Profile
	if p.Username != want.Username || p.Following != want.Following || !equalPtr(p.Bio, want.Bio) || !equalPtr(p.Image, want.Image) {
		t.Fatalf("profile %s, want %+v", body, want)
	}
}

func equalPtr(a, b *string) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

func ptr(s string) *string { return &s }

// follow sends POST or DELETE /api/profiles/{username}/follow as token's
// holder and returns the status, body and profile.
func follow(t *testing.T, a *apptest.App, username string, unfollow bool, editors ...api.RequestEditorFn) (int, []byte, *api.ProfileOK) {
	t.Helper()
	ctx := context.Background()
	if unfollow {
		resp, err := a.Client.UnfollowUserByUsernameWithResponse(ctx, username, editors...)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode(), resp.Body, resp.JSON200
	}
	resp, err := a.Client.FollowUserByUsernameWithResponse(ctx, username, editors...)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode(), resp.Body, resp.JSON200
}

func TestGetProfile(t *testing.T) {
	a := apptest.Start(t, nil)
	jake := register(t, a, "jake")
	updateUser(t, a, jake.Token, api.UpdateUser{Bio: nullable.NewNullableWithValue("I work at statefarm")})

	resp := getProfile(t, a, "jake")
	wantProfile(t, resp.StatusCode(), resp.Body, resp.JSON200, api.Profile{Username: "jake", Bio: ptr("I work at statefarm")})
	// One's own profile: not following oneself.
	resp = getProfile(t, a, "jake", withToken(jake.Token))
	wantProfile(t, resp.StatusCode(), resp.Body, resp.JSON200, api.Profile{Username: "jake", Bio: ptr("I work at statefarm")})

	// Names are exact and may hold anything but spaces and slashes.
	odd := "Jöhn.O'Neil?x=1&y%20#z"
	register(t, a, odd)
	resp = getProfile(t, a, odd)
	wantProfile(t, resp.StatusCode(), resp.Body, resp.JSON200, api.Profile{Username: odd})

	for _, name := range []string{"nobody", "JAKE", "jake "} {
		resp = getProfile(t, a, name, withToken(jake.Token))
		wantError(t, resp.StatusCode(), resp.Body, http.StatusNotFound, "not found")
	}
	// A renamed user is found under the new name only.
	name := "jacob"
	updateUser(t, a, jake.Token, api.UpdateUser{Username: &name})
	resp = getProfile(t, a, "jake")
	wantError(t, resp.StatusCode(), resp.Body, http.StatusNotFound, "not found")
	resp = getProfile(t, a, "jacob")
	wantProfile(t, resp.StatusCode(), resp.Body, resp.JSON200, api.Profile{Username: "jacob", Bio: ptr("I work at statefarm")})
}

func TestGetProfileFollowingPerViewer(t *testing.T) {
	a := apptest.Start(t, nil)
	register(t, a, "jake")
	anna := register(t, a, "anna")
	bob := register(t, a, "bob")

	if status, body, _ := follow(t, a, "jake", false, withToken(anna.Token)); status != http.StatusOK {
		t.Fatalf("anna follows jake: %d %s", status, body)
	}
	for _, tc := range []struct {
		viewer    string
		editors   []api.RequestEditorFn
		following bool
	}{
		{"anna", []api.RequestEditorFn{withToken(anna.Token)}, true},
		{"anna with Bearer", []api.RequestEditorFn{withAuthorization("Bearer " + anna.Token)}, true},
		{"bob", []api.RequestEditorFn{withToken(bob.Token)}, false},
		{"anonymous", nil, false},
	} {
		resp := getProfile(t, a, "jake", tc.editors...)
		if resp.StatusCode() != http.StatusOK || resp.JSON200.Profile.Following != tc.following {
			t.Errorf("jake as seen by %s: %d %s, want following %v", tc.viewer, resp.StatusCode(), resp.Body, tc.following)
		}
	}
	// Following is one way.
	resp := getProfile(t, a, "anna", withToken(anna.Token))
	if resp.StatusCode() != http.StatusOK || resp.JSON200.Profile.Following {
		t.Fatalf("anna as seen by herself: %d %s", resp.StatusCode(), resp.Body)
	}
}

func TestGetProfileBadToken(t *testing.T) {
	a := apptest.Start(t, nil)
	jake := register(t, a, "jake")

	// A token is optional here, but a bad one is refused, never taken as
	// an anonymous request.
	for name, editor := range badCredentials(t, a, jake.Token) {
		t.Run(name, func(t *testing.T) {
			resp := getProfile(t, a, "jake", editor)
			wantError(t, resp.StatusCode(), resp.Body, http.StatusUnauthorized, "missing or invalid authorization token")
			// Also for a user that does not exist: the token is checked first.
			resp = getProfile(t, a, "nobody", editor)
			wantError(t, resp.StatusCode(), resp.Body, http.StatusUnauthorized, "missing or invalid authorization token")
		})
	}
}

func TestFollowAndUnfollow(t *testing.T) {
	a := apptest.Start(t, nil)
	jake := register(t, a, "jake")
	updateUser(t, a, jake.Token, api.UpdateUser{Image: nullable.NewNullableWithValue("https://example.com/jake.jpg")})
	anna := register(t, a, "anna")
	asAnna := withToken(anna.Token)
	following := api.Profile{Username: "jake", Image: ptr("https://example.com/jake.jpg"), Following: true}
	notFollowing := following
	notFollowing.Following = false

	// Each step twice: following and unfollowing are idempotent.
	for _, step := range []struct {
		unfollow bool
		want     api.Profile
	}{
		{false, following}, {false, following},
		{true, notFollowing}, {true, notFollowing},
		{false, following},
	} {
		status, body, got := follow(t, a, "jake", step.unfollow, asAnna)
		wantProfile(t, status, body, got, step.want)
		resp := getProfile(t, a, "jake", asAnna)
		wantProfile(t, resp.StatusCode(), resp.Body, resp.JSON200, step.want)
	}
}

func TestFollowRefused(t *testing.T) {
	a := apptest.Start(t, nil)
	jake := register(t, a, "jake")
	register(t, a, "anna")
	asJake := withToken(jake.Token)

	for _, unfollow := range []bool{false, true} {
		status, body, _ := follow(t, a, "nobody", unfollow, asJake)
		wantError(t, status, body, http.StatusNotFound, "not found")

		status, body, _ = follow(t, a, "anna", unfollow)
		wantError(t, status, body, http.StatusUnauthorized, "missing or invalid authorization token")
		for name, editor := range badCredentials(t, a, jake.Token) {
			status, body, _ = follow(t, a, "anna", unfollow, editor)
			if status != http.StatusUnauthorized {
				t.Fatalf("%s (unfollow %v): %d %s", name, unfollow, status, body)
			}
		}
	}
	status, body, _ := follow(t, a, "jake", false, asJake)
	wantError(t, status, body, http.StatusUnprocessableEntity, "you cannot follow yourself")
	status, body, _ = follow(t, a, "jake", true, asJake)
	wantError(t, status, body, http.StatusUnprocessableEntity, "you cannot unfollow yourself")

	// None of it took effect.
	resp := getProfile(t, a, "anna", asJake)
	wantProfile(t, resp.StatusCode(), resp.Body, resp.JSON200, api.Profile{Username: "anna"})
	resp = getProfile(t, a, "jake", asJake)
	wantProfile(t, resp.StatusCode(), resp.Body, resp.JSON200, api.Profile{Username: "jake"})
}
