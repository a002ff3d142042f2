package httpapi

import (
	"context"
	"fmt"

	"github.com/sophsapp/sophsapp/gen/api"
)

// GetTags handles GET /api/tags.
func (s *Server) GetTags(ctx context.Context, _ api.GetTagsRequestObject) (api.GetTagsResponseObject, error) {
	tags, err := s.q.ListTags(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tags: %w", err)
	}
	return api.GetTags200JSONResponse{Tags: tags}, nil
}
