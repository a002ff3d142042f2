package httpapi

import (
	"context"
	"fmt"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/gen/db"
)

// GetArticleComments handles GET /api/articles/{slug}/comments: all of the
// article's comments, newest first.
func (s *Server) GetArticleComments(ctx context.Context, request api.GetArticleCommentsRequestObject) (api.GetArticleCommentsResponseObject, error) {
	var rows []db.ListCommentsRow
	err := s.read(ctx, func(ctx context.Context, q *db.Queries) error {
		articleID, err := q.GetArticleID(ctx, request.Slug)
		if err != nil {
			return fmt.Errorf("article %q: %w", request.Slug, err)
		}
		rows, err = q.ListComments(ctx, db.ListCommentsParams{ArticleID: articleID, ViewerID: viewerOf(ctx)})
		if err != nil {
			return fmt.Errorf("comments of %q: %w", request.Slug, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := api.GetArticleComments200JSONResponse{Comments: make([]api.Comment, len(rows))}
	for i, c := range rows {
		out.Comments[i] = commentOf(c)
	}
	return out, nil
}

// CreateArticleComment handles POST /api/articles/{slug}/comments. It
// answers 200, as the RealWorld contract does.
func (s *Server) CreateArticleComment(ctx context.Context, request api.CreateArticleCommentRequestObject) (api.CreateArticleCommentResponseObject, error) {
	me, err := currentUser(ctx)
	if err != nil {
		return nil, err
	}
	c, err := s.q.CreateComment(ctx, db.CreateCommentParams{Slug: request.Slug, AuthorID: me.ID, Body: request.Body.Comment.Body})
	if err != nil {
		return nil, fmt.Errorf("comment on %q: %w", request.Slug, err)
	}
	return api.CreateArticleComment200JSONResponse{Comment: commentOf(db.ListCommentsRow(c))}, nil
}

// DeleteArticleComment handles DELETE /api/articles/{slug}/comments/{id}.
// The comment's author and the article's author may delete it (authors
// moderate the comments on their articles); anyone else gets 403. A comment
// on another article is as unknown as a missing one (404).
func (s *Server) DeleteArticleComment(ctx context.Context, request api.DeleteArticleCommentRequestObject) (api.DeleteArticleCommentResponseObject, error) {
	me, err := currentUser(ctx)
	if err != nil {
		return nil, err
	}
	n, err := s.q.DeleteComment(ctx, db.DeleteCommentParams{ID: request.Id, CallerID: me.ID, Slug: request.Slug})
	if err != nil {
		return nil, fmt.Errorf("delete comment %d on %q: %w", request.Id, request.Slug, err)
	}
	if n > 0 {
		return api.DeleteArticleComment204Response{}, nil
	}
	// Nothing deleted: find out whether the comment is missing or the
	// caller may not delete it.
	owner, err := s.q.GetCommentOwner(ctx, db.GetCommentOwnerParams{Slug: request.Slug, ID: request.Id})
	if err != nil {
		return nil, fmt.Errorf("comment %d on %q: %w", request.Id, request.Slug, err)
	}
	return nil, fmt.Errorf("delete comment %d of user %d: %w", request.Id, owner, ErrForbidden)
}
