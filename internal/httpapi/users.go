package httpapi

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/oapi-codegen/nullable"
	"golang.org/x/crypto/bcrypt"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/gen/db"
	"github.com/sophsapp/sophsapp/internal/auth"
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

// CreateUser handles POST /api/users.
func (s *Server) CreateUser(ctx context.Context, request api.CreateUserRequestObject) (api.CreateUserResponseObject, error) {
	in := request.Body.User
	if err := checkUsername(in.Username); err != nil {
		return nil, err
	}
	hash, err := hashPassword(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	u, err := s.q.CreateUser(ctx, db.CreateUserParams{Username: in.Username, Email: in.Email, PasswordHash: hash})
	if err != nil {
		return nil, s.takenNames(ctx, fmt.Errorf("create user %q: %w", in.Username, err), nil, &in.Username, &in.Email)
	}
	token, err := s.tokens.Issue(u.ID)
	if err != nil {
		return nil, fmt.Errorf("issue token for user %d: %w", u.ID, err)
	}
	return api.CreateUser201JSONResponse{UserOKJSONResponse: userResponse(u, token)}, nil
}

// Login handles POST /api/users/login. An unknown email and a wrong password
// get the same answer after the same amount of work. Failed logins are
// throttled per client address and per account (see throttle.go): a blocked
// login is 429 with Retry-After, whatever the password.
func (s *Server) Login(ctx context.Context, request api.LoginRequestObject) (api.LoginResponseObject, error) {
	in := request.Body.User
	keys := loginKeysFor(ctx, in.Email)
	// Checked before waiting for a hashing slot, so that blocked clients
	// never queue behind real logins, and again once the slot is held
	// (below), so that guesses sent all at once cannot all slip in before
	// the first failure is counted.
	if err := s.loginBlocked(ctx, keys); err != nil {
		return nil, err
	}
	u, err := s.q.GetUserByEmail(ctx, in.Email)
	found := err == nil
	hash := dummyHash()
	switch {
	case found:
		hash = []byte(u.PasswordHash)
	case !errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("login: find user: %w", err)
	}
	var blocked error
	var mismatch bool
	werr := withHashSlot(ctx, func() {
		if blocked = s.loginBlocked(ctx, keys); blocked == nil {
			mismatch = compareHashAndPassword(hash, []byte(in.Password)) != nil
		}
	})
	switch {
	case werr != nil:
		return nil, werr
	case blocked != nil:
		return nil, blocked
	}
	// bcrypt ignores bytes past the 72nd, so a longer password must not be
	// let in on its prefix; it is still hashed for the timing.
	if !found || mismatch || len(in.Password) > maxPasswordBytes {
		if err := s.recordLoginFailure(ctx, keys); err != nil {
			return nil, fmt.Errorf("login: %w", err)
		}
		return nil, fmt.Errorf("login: %w", ErrBadCredentials)
	}
	if err := s.q.ClearLoginFailures(ctx, []string{keys.pair, keys.acct}); err != nil {
		return nil, fmt.Errorf("login: clear failures: %w", err)
	}
	token, err := s.tokens.IssueGeneration(u.ID, u.TokenGeneration)
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
// are; bio or image given as null or "" is cleared; password given as null
// or "" stays. The answer carries the
// token the caller sent, which stays valid: tokens name the user by id, so
// a change of email or username leaves every token valid, and a change of
// password revokes every other token issued before it (stock frontends
// keep using the token they hold, so revoking it would sign the user out
// in the middle of the change).
func (s *Server) UpdateCurrentUser(ctx context.Context, request api.UpdateCurrentUserRequestObject) (api.UpdateCurrentUserResponseObject, error) {
	cu, err := currentUser(ctx)
	if err != nil {
		return nil, err
	}
	in := request.Body.User
	if in.Username != nil {
		if err := checkUsername(*in.Username); err != nil {
			return nil, err
		}
	}
	arg := db.UpdateUserParams{
		ID:       cu.ID,
		Email:    in.Email,
		Username: in.Username,
		Bio:      clearable(in.Bio),
		Image:    clearable(in.Image),
		// The write lands only while the caller's token is still valid
		// (a password change from another device may have revoked it
		// since the request arrived).
		CallerTokenGeneration: cu.Generation,
		CallerTokenSha256:     auth.Fingerprint(cu.Token),
	}
	// "" and null keep the password: settings forms send the blank field.
	if in.Password != nil && *in.Password != "" {
		hash, err := hashPassword(ctx, *in.Password)
		if err != nil {
			return nil, err
		}
		arg.PasswordHash = &hash
		arg.KeptTokenSha256 = auth.Fingerprint(cu.Token)
	}
	// Keeping one's own email or username is no conflict: the unique
	// indexes only compare against other rows.
	u, err := s.q.UpdateUser(ctx, arg)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("update user %d, who no longer exists or whose token was just revoked: %w", cu.ID, ErrUnauthorized)
	}
	if err != nil {
		return nil, s.takenNames(ctx, fmt.Errorf("update user %d: %w", cu.ID, err), &cu.ID, in.Username, in.Email)
	}
	return api.UpdateCurrentUser200JSONResponse{UserOKJSONResponse: userResponse(u, cu.Token)}, nil
}

// takenNames turns err, the failure of a write of a user's username and
// email, into one message for each of them that another user already has,
// so a client learns of both at once. Any other error is returned as is.
// self is the user being updated (nil for a new one).
func (s *Server) takenNames(ctx context.Context, err error, self *int64, username, email *string) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != pgerrcode.UniqueViolation {
		return err
	}
	taken, qerr := s.q.GetTakenNames(ctx, db.GetTakenNamesParams{ID: self, Username: username, Email: email})
	if qerr != nil {
		return err // the constraint's own message still names one of them
	}
	var msgs []string
	if taken.UsernameTaken {
		msgs = append(msgs, uniqueMessages["users_username_key"])
	}
	if taken.EmailTaken {
		msgs = append(msgs, uniqueMessages["users_email_key"])
	}
	if len(msgs) == 0 {
		return err // the other user changed their names in between
	}
	return errors.Join(err, Invalid(msgs...))
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
