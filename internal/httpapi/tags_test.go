package httpapi_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/internal/apptest"
)

// tagsInUse returns GET /api/tags.
func tagsInUse(t *testing.T, a *apptest.App) []string {
	t.Helper()
	resp, err := a.Client.GetTagsWithResponse(context.Background(), withToken("ignored: tags need no token"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != http.StatusOK || resp.JSON200 == nil {
		t.Fatalf("tags: %d %s", resp.StatusCode(), resp.Body)
	}
	return resp.JSON200.Tags
}

func TestTags(t *testing.T) {
	a := apptest.Start(t, nil)
	jake := register(t, a, "jake")

	if got := tagsInUse(t, a); got == nil || len(got) != 0 {
		t.Fatalf("tags of an empty site: %#v, want []", got)
	}
	createArticle(t, a, jake.Token, "One", "rare", "go")
	createArticle(t, a, jake.Token, "Two", "go", "db")
	art := createArticle(t, a, jake.Token, "Three", "db", "go", "Go")
	// Most used first, then by name.
	if got, want := tagsInUse(t, a), []string{"go", "db", "Go", "rare"}; !slices.Equal(got, want) {
		t.Fatalf("tags %q, want %q", got, want)
	}

	// A tag no article uses any more is no longer listed.
	resp, err := a.Client.UpdateArticleWithResponse(context.Background(), art.Slug,
		api.UpdateArticleJSONRequestBody{Article: api.UpdateArticle{TagList: &[]string{"go"}}}, withToken(jake.Token))
	if err != nil || resp.StatusCode() != http.StatusOK {
		t.Fatalf("update: %v", err)
	}
	if got, want := tagsInUse(t, a), []string{"go", "db", "rare"}; !slices.Equal(got, want) {
		t.Fatalf("tags %q, want %q", got, want)
	}
}
