package httpapi

import (
	"context"
	"fmt"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/gen/db"
)

// GetTags handles GET /api/tags.
func (s *Server) GetTags(ctx context.Context, _ api.GetTagsRequestObject) (api.GetTagsResponseObject, error) {
	var tags []string
	err := s.read(ctx, func(ctx context.Context, q *db.Queries) (err error) {
		tags, err = q.ListTags(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list tags: %w", err)
	}
	return api.GetTags200JSONResponse{Tags: tags}, nil
}
