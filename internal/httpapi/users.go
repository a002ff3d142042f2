package httpapi

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/oapi-codegen/nullable"
	"golang.org/x/crypto/bcrypt"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/gen/db"
)

// passwordCost is the bcrypt work factor of stored passwords.
const passwordCost = bcrypt.DefaultCost

// maxPasswordBytes is bcrypt's input limit. The spec caps passwords at 72
// characters, which is more than 72 bytes once they are not ASCII.
const maxPasswordBytes = 72

// dummyHash is compared against when a login names an unknown email, so that
// answering takes as long as for a known one and does not reveal which
// emails are registered.
var dummyHash = sync.OnceValue(func() []byte {
	h, err := bcrypt.GenerateFromPassword([]byte("no user has this password"), passwordCost)
	if err != nil {
		panic(err) // only fails for a password over 72 bytes
	}
	return h
})

// compareHashAndPassword is bcrypt's comparison; a test counts the calls.
var compareHashAndPassword = bcrypt.CompareHashAndPassword

// hashPassword returns the bcrypt hash to store for password.
func hashPassword(password string) (string, error) {
	if len(password) > maxPasswordBytes {
		return "", Invalid("password must be at most 72 bytes")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), passwordCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
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

// nullIfEmpty returns nil for "": bio and image are stored empty when unset
// and the API shows them as null.
func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// CreateUser handles POST /api/users.
func (s *Server) CreateUser(ctx context.Context, request api.CreateUserRequestObject) (api.CreateUserResponseObject, error) {
	if request.Body == nil {
		return nil, Invalid("user can't be blank")
	}
	in := request.Body.User
	hash, err := hashPassword(in.Password)
	if err != nil {
		return nil, err
	}
	// A taken email or username is a unique violation that the error
	// mapper words by constraint name.
	u, err := s.q.CreateUser(ctx, db.CreateUserParams{Username: in.Username, Email: in.Email, PasswordHash: hash})
	if err != nil {
		return nil, fmt.Errorf("create user %q: %w", in.Username, err)
	}
	token, err := s.tokens.Issue(u.ID)
	if err != nil {
		return nil, fmt.Errorf("issue token for user %d: %w", u.ID, err)
	}
	return api.CreateUser201JSONResponse{UserOKJSONResponse: userResponse(u, token)}, nil
}

// Login handles POST /api/users/login. An unknown email and a wrong password
// get the same answer after the same amount of work.
func (s *Server) Login(ctx context.Context, request api.LoginRequestObject) (api.LoginResponseObject, error) {
	if request.Body == nil {
		return nil, Invalid("user can't be blank")
	}
	in := request.Body.User
	u, err := s.q.GetUserByEmail(ctx, in.Email)
	found := err == nil
	hash := dummyHash()
	switch {
	case found:
		hash = []byte(u.PasswordHash)
	case !errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("login: find user: %w", err)
	}
	// bcrypt ignores bytes past the 72nd, so a longer password must not be
	// let in on its prefix; it is still hashed for the timing.
	mismatch := compareHashAndPassword(hash, []byte(in.Password)) != nil
	if !found || mismatch || len(in.Password) > maxPasswordBytes {
		return nil, fmt.Errorf("login: %w", ErrBadCredentials)
	}
	token, err := s.tokens.Issue(u.ID)
	if err != nil {
		return nil, fmt.Errorf("issue token for user %d: %w", u.ID, err)
	}
	return api.Login200JSONResponse{UserOKJSONResponse: userResponse(u, token)}, nil
}

// GetCurrentUser handles GET /api/user. It answers with the token the
// caller sent.
func (s *Server) GetCurrentUser(ctx context.Context, request api.GetCurrentUserRequestObject) (api.GetCurrentUserResponseObject, error) {
	cu, err := currentUser(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.userByID(ctx, cu.ID)
	if err != nil {
		return nil, err
	}
	return api.GetCurrentUser200JSONResponse{UserOKJSONResponse: userResponse(u, cu.Token)}, nil
}

// userByID loads the authenticated user. A valid token for a user that no
// longer exists is a 401, not a 404: the credentials are what is wrong.
func (s *Server) userByID(ctx context.Context, id int64) (db.User, error) {
	u, err := s.q.GetUserByID(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, fmt.Errorf("user %d no longer exists: %w", id, ErrUnauthorized)
	}
	if err != nil {
		return u, fmt.Errorf("load user %d: %w", id, err)
	}
	return u, nil
}

// UpdateCurrentUser handles PUT /api/user. Fields left out stay as they
// are; bio or image given as null or "" is cleared. The answer carries the
// token the caller sent: tokens name the user by id, so they stay valid
// across a change of email, username or password.
func (s *Server) UpdateCurrentUser(ctx context.Context, request api.UpdateCurrentUserRequestObject) (api.UpdateCurrentUserResponseObject, error) {
	cu, err := currentUser(ctx)
	if err != nil {
		return nil, err
	}
	if request.Body == nil {
		return nil, Invalid("user can't be blank")
	}
	in := request.Body.User
	arg := db.UpdateUserParams{
		ID:       cu.ID,
		Email:    in.Email,
		Username: in.Username,
		Bio:      clearable(in.Bio),
		Image:    clearable(in.Image),
	}
	if in.Password != nil {
		hash, err := hashPassword(*in.Password)
		if err != nil {
			return nil, err
		}
		arg.PasswordHash = &hash
	}
	// Keeping one's own email or username is no conflict: the unique
	// indexes only compare against other rows.
	u, err := s.q.UpdateUser(ctx, arg)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("update user %d, which no longer exists: %w", cu.ID, ErrUnauthorized)
	}
	if err != nil {
		return nil, fmt.Errorf("update user %d: %w", cu.ID, err)
	}
	return api.UpdateCurrentUser200JSONResponse{UserOKJSONResponse: userResponse(u, cu.Token)}, nil
}

// clearable turns an optional, nullable text field of a request into an
// UpdateUser argument: nil keeps the column, "" (from null or "") clears it.
func clearable(v nullable.Nullable[string]) *string {
	if !v.IsSpecified() {
		return nil
	}
	s := v.GetOrEmpty() // "" for null
	return &s
}
