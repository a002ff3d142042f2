package httpapi

import (
	"context"

	"github.com/sophsapp/sophsapp/gen/api"
)

func (s *Server) GetProfileByUsername(ctx context.Context, request api.GetProfileByUsernameRequestObject) (api.GetProfileByUsernameResponseObject, error) {
	return nil, errNotImplemented
}

func (s *Server) FollowUserByUsername(ctx context.Context, request api.FollowUserByUsernameRequestObject) (api.FollowUserByUsernameResponseObject, error) {
	return nil, errNotImplemented
}

func (s *Server) UnfollowUserByUsername(ctx context.Context, request api.UnfollowUserByUsernameRequestObject) (api.UnfollowUserByUsernameResponseObject, error) {
	return nil, errNotImplemented
}
