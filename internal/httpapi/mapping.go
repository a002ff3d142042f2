package httpapi

import (
	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/gen/db"
	"github.com/sophsapp/sophsapp/internal/jsontime"
)

// The API's objects made from the database's rows, each in one place.

// nullIfEmpty returns nil for "": bio and image are stored empty when unset
// and the API shows them as null.
func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// profileOf is the API's view of a user as others see it.
func profileOf(username, bio, image string, following bool) api.Profile {
	return api.Profile{Username: username, Bio: nullIfEmpty(bio), Image: nullIfEmpty(image), Following: following}
}

// userResponse is the API's view of u, carrying token.
func userResponse(u db.User, token string) api.UserOKJSONResponse {
	return api.UserOKJSONResponse{User: api.User{
		Email:    u.Email,
		Username: u.Username,
		Bio:      nullIfEmpty(u.Bio),
		Image:    nullIfEmpty(u.Image),
		Token:    token,
	}}
}

// commentOf is the API's view of a comment with its author (CreateComment's
// row has the same columns).
func commentOf(c db.ListCommentsRow) api.Comment {
	return api.Comment{
		Id:        c.ID,
		Body:      c.Body,
		CreatedAt: jsontime.From(c.CreatedAt),
		UpdatedAt: jsontime.From(c.UpdatedAt),
		Author:    profileOf(c.Username, c.Bio, c.Image, c.Following),
	}
}

// articleOf is the API's view of one article, as GetArticleBySlug reads it.
func articleOf(a db.GetArticleBySlugRow) api.Article {
	return api.Article{
		Slug:           a.Slug,
		Title:          a.Title,
		Description:    a.Description,
		Body:           a.Body,
		TagList:        a.TagList,
		CreatedAt:      jsontime.From(a.CreatedAt),
		UpdatedAt:      jsontime.From(a.UpdatedAt),
		Favorited:      a.Favorited,
		FavoritesCount: int(a.FavoritesCount),
		Author:         profileOf(a.Username, a.Bio, a.Image, a.Following),
	}
}

// articlePreviewOf is the API's view of an article in a list (every list
// statement's row converts to ListArticlesRow).
func articlePreviewOf(r db.ListArticlesRow) api.ArticlePreview {
	return api.ArticlePreview{
		Slug:           r.Slug,
		Title:          r.Title,
		Description:    r.Description,
		TagList:        r.TagList,
		CreatedAt:      jsontime.From(r.CreatedAt),
		UpdatedAt:      jsontime.From(r.UpdatedAt),
		Favorited:      r.Favorited,
		FavoritesCount: int(r.FavoritesCount),
		Author:         profileOf(r.Username, r.Bio, r.Image, r.Following),
	}
}
