package httpapi

import (
	"context"

	"github.com/sophsapp/sophsapp/gen/api"
)

func (s *Server) GetArticles(ctx context.Context, request api.GetArticlesRequestObject) (api.GetArticlesResponseObject, error) {
	return nil, errNotImplemented
}

func (s *Server) GetArticlesFeed(ctx context.Context, request api.GetArticlesFeedRequestObject) (api.GetArticlesFeedResponseObject, error) {
	return nil, errNotImplemented
}

func (s *Server) CreateArticle(ctx context.Context, request api.CreateArticleRequestObject) (api.CreateArticleResponseObject, error) {
	return nil, errNotImplemented
}

func (s *Server) GetArticle(ctx context.Context, request api.GetArticleRequestObject) (api.GetArticleResponseObject, error) {
	return nil, errNotImplemented
}

func (s *Server) UpdateArticle(ctx context.Context, request api.UpdateArticleRequestObject) (api.UpdateArticleResponseObject, error) {
	return nil, errNotImplemented
}

func (s *Server) DeleteArticle(ctx context.Context, request api.DeleteArticleRequestObject) (api.DeleteArticleResponseObject, error) {
	return nil, errNotImplemented
}

func (s *Server) CreateArticleFavorite(ctx context.Context, request api.CreateArticleFavoriteRequestObject) (api.CreateArticleFavoriteResponseObject, error) {
	return nil, errNotImplemented
}

func (s *Server) DeleteArticleFavorite(ctx context.Context, request api.DeleteArticleFavoriteRequestObject) (api.DeleteArticleFavoriteResponseObject, error) {
	return nil, errNotImplemented
}
