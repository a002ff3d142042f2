package httpapi

import (
	"context"

	"github.com/sophsapp/sophsapp/gen/api"
)

func (s *Server) GetArticleComments(ctx context.Context, request api.GetArticleCommentsRequestObject) (api.GetArticleCommentsResponseObject, error) {
	return nil, errNotImplemented
}

func (s *Server) CreateArticleComment(ctx context.Context, request api.CreateArticleCommentRequestObject) (api.CreateArticleCommentResponseObject, error) {
	return nil, errNotImplemented
}

func (s *Server) DeleteArticleComment(ctx context.Context, request api.DeleteArticleCommentRequestObject) (api.DeleteArticleCommentResponseObject, error) {
	return nil, errNotImplemented
}
