package httpapi

import (
	"context"
	"fmt"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/gen/db"
)

// profile loads, through q, the user named username as viewerID sees it
// (nil for an anonymous viewer); an unknown name is ErrNotFound.
func profile(ctx context.Context, q *db.Queries, username string, viewerID *int64) (db.GetProfileByUsernameRow, error) {
	p, err := q.GetProfileByUsername(ctx, db.GetProfileByUsernameParams{Username: username, ViewerID: viewerID})
	if err != nil {
		return p, fmt.Errorf("profile %q: %w", username, err)
	}
	return p, nil
}

// GetProfileByUsername handles GET /api/profiles/{username}. With a token,
// following is the caller's; without one it is false.
func (s *Server) GetProfileByUsername(ctx context.Context, request api.GetProfileByUsernameRequestObject) (api.GetProfileByUsernameResponseObject, error) {
	var p db.GetProfileByUsernameRow
	err := s.read(ctx, func(ctx context.Context, q *db.Queries) (err error) {
		p, err = profile(ctx, q, request.Username, viewerOf(ctx))
		return err
	})
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
	p, err := s.setFollow(ctx, request.Username, true)
	if err != nil {
		return nil, err
	}
	return api.FollowUserByUsername200JSONResponse{ProfileOKJSONResponse: api.ProfileOKJSONResponse{Profile: p}}, nil
}

// UnfollowUserByUsername handles DELETE /api/profiles/{username}/follow.
// Unfollowing someone not followed changes nothing.
func (s *Server) UnfollowUserByUsername(ctx context.Context, request api.UnfollowUserByUsernameRequestObject) (api.UnfollowUserByUsernameResponseObject, error) {
	p, err := s.setFollow(ctx, request.Username, false)
	if err != nil {
		return nil, err
	}
	return api.UnfollowUserByUsername200JSONResponse{ProfileOKJSONResponse: api.ProfileOKJSONResponse{Profile: p}}, nil
}

// setFollow makes the caller follow (or stop following) username and
// returns the profile as the caller now sees it. Both directions refuse the
// caller's own name: there is no such relationship to make or undo, and a
// client asking for it has the wrong user in mind.
func (s *Server) setFollow(ctx context.Context, username string, follow bool) (api.Profile, error) {
	cu, err := currentUser(ctx)
	if err != nil {
		return api.Profile{}, err
	}
	p, err := profile(ctx, s.q, username, &cu.ID)
	if err != nil {
		return api.Profile{}, err
	}
	verb := "unfollow"
	if follow {
		verb = "follow"
	}
	if p.ID == cu.ID {
		return api.Profile{}, Invalid("you cannot " + verb + " yourself")
	}
	arg := db.CreateFollowParams{FollowerID: cu.ID, FolloweeID: p.ID}
	if follow {
		err = s.q.CreateFollow(ctx, arg)
	} else {
		err = s.q.DeleteFollow(ctx, db.DeleteFollowParams(arg))
	}
	if err != nil {
		return api.Profile{}, fmt.Errorf("%s %q: %w", verb, username, err)
	}
	return profileOf(p.Username, p.Bio, p.Image, follow), nil
}
