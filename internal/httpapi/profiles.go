package httpapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/gen/db"
	"github.com/sophsapp/sophsapp/internal/auth"
)

// profileOf is the API's view of a user as others see it.
func profileOf(username, bio, image string, following bool) api.Profile {
	return api.Profile{Username: username, Bio: nullIfEmpty(bio), Image: nullIfEmpty(image), Following: following}
}

// profile loads the user named username as viewerID sees it (nil for an
// anonymous viewer); an unknown name is ErrNotFound.
func (s *Server) profile(ctx context.Context, username string, viewerID *int64) (db.GetProfileByUsernameRow, error) {
	p, err := s.q.GetProfileByUsername(ctx, db.GetProfileByUsernameParams{Username: username, ViewerID: viewerID})
	if errors.Is(err, pgx.ErrNoRows) {
		return p, fmt.Errorf("profile %q: %w", username, ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("profile %q: %w", username, err)
	}
	return p, nil
}

// GetProfileByUsername handles GET /api/profiles/{username}. With a token,
// following is the caller's; without one it is false.
func (s *Server) GetProfileByUsername(ctx context.Context, request api.GetProfileByUsernameRequestObject) (api.GetProfileByUsernameResponseObject, error) {
	var viewerID *int64
	if u, ok := auth.FromContext(ctx); ok {
		viewerID = &u.ID
	}
	p, err := s.profile(ctx, request.Username, viewerID)
	if err != nil {
		return nil, err
	}
	return api.GetProfileByUsername200JSONResponse{ProfileOKJSONResponse: api.ProfileOKJSONResponse{
		Profile: profileOf(p.Username, p.Bio, p.Image, p.Following),
	}}, nil
}

// FollowUserByUsername handles POST /api/profiles/{username}/follow.
// Following someone already followed changes nothing.
func (s *Server) FollowUserByUsername(ctx context.Context, request api.FollowUserByUsernameRequestObject) (api.FollowUserByUsernameResponseObject, error) {
	cu, err := currentUser(ctx)
	if err != nil {
		return nil, err
	}
	p, err := s.profile(ctx, request.Username, &cu.ID)
	if err != nil {
		return nil, err
	}
	if p.ID == cu.ID {
		return nil, Invalid("you cannot follow yourself")
	}
	if err := s.q.CreateFollow(ctx, db.CreateFollowParams{FollowerID: cu.ID, FolloweeID: p.ID}); err != nil {
		return nil, fmt.Errorf("follow %q: %w", request.Username, err)
	}
	return api.FollowUserByUsername200JSONResponse{ProfileOKJSONResponse: api.ProfileOKJSONResponse{
		Profile: profileOf(p.Username, p.Bio, p.Image, true),
	}}, nil
}

// UnfollowUserByUsername handles DELETE /api/profiles/{username}/follow.
// Unfollowing someone not followed changes nothing.
func (s *Server) UnfollowUserByUsername(ctx context.Context, request api.UnfollowUserByUsernameRequestObject) (api.UnfollowUserByUsernameResponseObject, error) {
	cu, err := currentUser(ctx)
	if err != nil {
		return nil, err
	}
	p, err := s.profile(ctx, request.Username, &cu.ID)
	if err != nil {
		return nil, err
	}
	// Refused like following yourself: there is no such relationship to
	// undo, and a client asking for it has the wrong user in mind.
	if p.ID == cu.ID {
		return nil, Invalid("you cannot unfollow yourself")
	}
	if err := s.q.DeleteFollow(ctx, db.DeleteFollowParams{FollowerID: cu.ID, FolloweeID: p.ID}); err != nil {
		return nil, fmt.Errorf("unfollow %q: %w", request.Username, err)
	}
	return api.UnfollowUserByUsername200JSONResponse{ProfileOKJSONResponse: api.ProfileOKJSONResponse{
		Profile: profileOf(p.Username, p.Bio, p.Image, false),
	}}, nil
}
