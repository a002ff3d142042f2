package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/internal/apptest"
)

// comment posts body on slug as token's holder and returns the response.
func comment(t *testing.T, a *apptest.App, slug, body string, editors ...api.RequestEditorFn) *api.CreateArticleCommentResponse {
	t.Helper()
	resp, err := a.Client.CreateArticleCommentWithResponse(context.Background(), slug, api.CreateArticleCommentJSONRequestBody{Comment: api.NewComment{Body: body}}, editors...)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// comments lists slug's comments and fails unless it is 200.
func comments(t *testing.T, a *apptest.App, slug string, editors ...api.RequestEditorFn) []api.Comment {
	t.Helper()
	resp, err := a.Client.GetArticleCommentsWithResponse(context.Background(), slug, editors...)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != http.StatusOK || resp.JSON200 == nil {
		t.Fatalf("comments of %s: %d %s", slug, resp.StatusCode(), resp.Body)
	}
	return resp.JSON200.Comments
}

func TestComments(t *testing.T) {
	a := apptest.Start(t, nil)
	ctx := context.Background()
	jake := register(t, a, "jake")
	bob := register(t, a, "bob")
	art := createArticle(t, a, jake.Token, "Discussed")
	other := createArticle(t, a, jake.Token, "Elsewhere")

	if got := comments(t, a, art.Slug); len(got) != 0 {
		t.Fatalf("comments of a new article: %+v", got)
	}
	first := comment(t, a, art.Slug, "first!", withToken(bob.Token))
	if first.StatusCode() != http.StatusOK || first.JSON200 == nil {
		t.Fatalf("create: %d %s", first.StatusCode(), first.Body)
	}
	wantMillis(t, first.Body)
	c1 := first.JSON200.Comment
	if c1.Body != "first!" || c1.Id <= 0 || c1.Author.Username != "bob" || c1.Author.Following || c1.Author.Bio != nil || !c1.CreatedAt.Equal(c1.UpdatedAt.Time) {
		t.Fatalf("comment %+v", c1)
	}
	second := comment(t, a, art.Slug, "second", withToken(jake.Token))
	if second.StatusCode() != http.StatusOK {
		t.Fatalf("create: %d %s", second.StatusCode(), second.Body)
	}
	c2 := second.JSON200.Comment
	comment(t, a, other.Slug, "on the other article", withToken(jake.Token))

	// Newest first, only this article's, following per viewer.
	if follow, err := a.Client.FollowUserByUsernameWithResponse(ctx, "bob", withToken(jake.Token)); err != nil || follow.StatusCode() != http.StatusOK {
		t.Fatalf("follow: %v", err)
	}
	got := comments(t, a, art.Slug, withToken(jake.Token))
	if len(got) != 2 || got[0].Id != c2.Id || got[1].Id != c1.Id || !got[1].Author.Following || got[0].Author.Following {
		t.Fatalf("comments as jake: %+v", got)
	}
	for _, c := range comments(t, a, art.Slug) {
		if c.Author.Following {
			t.Fatalf("anonymous sees following: %+v", c)
		}
	}

	del := func(slug string, id int64, editors ...api.RequestEditorFn) *api.DeleteArticleCommentResponse {
		t.Helper()
		resp, err := a.Client.DeleteArticleCommentWithResponse(ctx, slug, id, editors...)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	carol := register(t, a, "carol")
	r := del(art.Slug, c1.Id, withToken(carol.Token)) // carol wrote neither the comment nor the article
	wantError(t, r.StatusCode(), r.Body, http.StatusForbidden)
	r = del(other.Slug, c1.Id, withToken(bob.Token)) // the comment is not on that article
	wantError(t, r.StatusCode(), r.Body, http.StatusNotFound)
	r = del(art.Slug, c2.Id+1000, withToken(bob.Token))
	wantError(t, r.StatusCode(), r.Body, http.StatusNotFound)
	r = del("no-such-article", c1.Id, withToken(bob.Token))
	wantError(t, r.StatusCode(), r.Body, http.StatusNotFound)
	r = del(art.Slug, c1.Id)
	wantError(t, r.StatusCode(), r.Body, http.StatusUnauthorized)
	if got := comments(t, a, art.Slug); len(got) != 2 {
		t.Fatalf("%d comments after refused deletes, want 2", len(got))
	}

	if r = del(art.Slug, c1.Id, withToken(bob.Token)); r.StatusCode() != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.StatusCode(), r.Body)
	}
	if got := comments(t, a, art.Slug); len(got) != 1 || got[0].Id != c2.Id {
		t.Fatalf("comments after delete: %+v", got)
	}
	r = del(art.Slug, c1.Id, withToken(bob.Token))
	wantError(t, r.StatusCode(), r.Body, http.StatusNotFound)

	// The article's author moderates: jake deletes a comment of bob's.
	third := comment(t, a, art.Slug, "third", withToken(bob.Token))
	if third.StatusCode() != http.StatusOK {
		t.Fatalf("create: %d %s", third.StatusCode(), third.Body)
	}
	if r = del(art.Slug, third.JSON200.Comment.Id, withToken(carol.Token)); r.StatusCode() != http.StatusForbidden {
		t.Fatalf("carol deleting bob's comment: %d %s", r.StatusCode(), r.Body)
	}
	if r = del(art.Slug, third.JSON200.Comment.Id, withToken(jake.Token)); r.StatusCode() != http.StatusNoContent {
		t.Fatalf("the article's author deleting bob's comment: %d %s", r.StatusCode(), r.Body)
	}
	if got := comments(t, a, art.Slug); len(got) != 1 || got[0].Id != c2.Id {
		t.Fatalf("comments after the article's author deleted one: %+v", got)
	}
}

func TestCommentsRefused(t *testing.T) {
	a := apptest.Start(t, nil)
	ctx := context.Background()
	jake := register(t, a, "jake")
	art := createArticle(t, a, jake.Token, "Quiet")

	resp, err := a.Client.GetArticleCommentsWithResponse(ctx, "no-such-article")
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, resp.StatusCode(), resp.Body, http.StatusNotFound)
	r := comment(t, a, "no-such-article", "hello", withToken(jake.Token))
	wantError(t, r.StatusCode(), r.Body, http.StatusNotFound)
	r = comment(t, a, art.Slug, "hello")
	wantError(t, r.StatusCode(), r.Body, http.StatusUnauthorized)
	r = comment(t, a, art.Slug, "hello", withToken("not-a-token"))
	wantError(t, r.StatusCode(), r.Body, http.StatusUnauthorized)
	for _, body := range []string{"", "   ", strings.Repeat("x", 20001)} {
		r = comment(t, a, art.Slug, body, withToken(jake.Token))
		wantError(t, r.StatusCode(), r.Body, http.StatusUnprocessableEntity)
	}
	raw, err := a.Client.CreateArticleCommentWithBodyWithResponse(ctx, art.Slug, "application/json", strings.NewReader(`{"comment":`), withToken(jake.Token))
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, raw.StatusCode(), raw.Body, http.StatusUnprocessableEntity)
	if got := comments(t, a, art.Slug); len(got) != 0 {
		t.Fatalf("refused comments were stored: %+v", got)
	}
}
