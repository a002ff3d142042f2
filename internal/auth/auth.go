// Package auth issues and checks the API's JWTs and carries the
// authenticated user through a request's context.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrInvalidToken is returned for a token that is malformed, expired, or
// not signed by this service.
var ErrInvalidToken = errors.New("invalid or expired token")

const issuer = "sophsapp"

// Tokens issues and verifies HS256 tokens whose subject is a user id. A
// token also carries the user's token generation when it was issued: a
// password change moves the user to the next generation, which revokes
// the tokens of earlier ones (see Claims).
type Tokens struct {
	secret []byte
	ttl    time.Duration
	now    func() time.Time
}

// NewTokens returns Tokens signing with secret; issued tokens live for ttl.
func NewTokens(secret []byte, ttl time.Duration) *Tokens {
	return &Tokens{secret: secret, ttl: ttl, now: time.Now}
}

// Claims is what a verified token says.
type Claims struct {
	// UserID is the user the token was issued for.
	UserID int64
	// Generation is the user's token generation at issue time; tokens
	// issued before generations existed carry none and read as 0.
	Generation int32
}

// jwtClaims is the token's payload. The random ID makes every token
// distinct, even two issued in the same second for the same user.
type jwtClaims struct {
	jwt.RegisteredClaims
	Generation int32 `json:"gen,omitempty"`
}

// Issue returns a signed token for userID in token generation 0.
func (t *Tokens) Issue(userID int64) (string, error) {
	return t.IssueGeneration(userID, 0)
}

// IssueGeneration returns a signed token for userID in the given token
// generation.
func (t *Tokens) IssueGeneration(userID int64, generation int32) (string, error) {
	now := t.now()
	claims := jwtClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   strconv.FormatInt(userID, 10),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
			ID:        rand.Text(),
		},
		Generation: generation,
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.secret)
}

// Parse verifies token and returns the user id it was issued for.
func (t *Tokens) Parse(token string) (int64, error) {
	c, err := t.ParseClaims(token)
	return c.UserID, err
}

// ParseClaims verifies token and returns what it says.
func (t *Tokens) ParseClaims(token string) (Claims, error) {
	var claims jwtClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.now),
	)
	if err != nil {
		return Claims{}, ErrInvalidToken
	}
	id, err := strconv.ParseInt(claims.Subject, 10, 64)
	if err != nil || id <= 0 || claims.Generation < 0 {
		return Claims{}, ErrInvalidToken
	}
	return Claims{UserID: id, Generation: claims.Generation}, nil
}

// Fingerprint identifies token without storing it: the database keeps the
// fingerprint of the one token a password change leaves valid.
func Fingerprint(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

type userKey struct{}

// User is the authenticated caller of a request.
type User struct {
	ID    int64
	Token string
	// Generation is the token generation the token was issued in.
	Generation int32
}

// WithUser returns ctx carrying u.
func WithUser(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// FromContext returns the authenticated user of ctx, if any.
func FromContext(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(userKey{}).(User)
	return u, ok
}
