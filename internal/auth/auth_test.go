package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var secret = []byte("unit-test-secret-unit-test-secret-0123")

// at returns Tokens whose clock reads now.
func at(now time.Time, ttl time.Duration) *Tokens {
	t := NewTokens(secret, ttl)
	t.now = func() time.Time { return now }
	return t
}

func TestIssueParse(t *testing.T) {
	tokens := NewTokens(secret, time.Hour)
	for _, id := range []int64{1, 42, 1 << 62} {
		token, err := tokens.Issue(id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tokens.Parse(token)
		if err != nil || got != id {
			t.Fatalf("Parse(Issue(%d)) = %d, %v", id, got, err)
		}
	}
}

func TestParseExpiry(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	token, err := at(start, time.Hour).Issue(7)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		now   time.Time
		valid bool
	}{
		{start, true},
		{start.Add(59 * time.Minute), true},
		{start.Add(time.Hour), false},
		{start.Add(time.Hour + time.Second), false},
		{start.Add(30 * 24 * time.Hour), false},
	} {
		id, err := at(tc.now, time.Hour).Parse(token)
		if tc.valid && (err != nil || id != 7) {
			t.Errorf("at %v: %d, %v; want 7", tc.now.Sub(start), id, err)
		}
		if !tc.valid && !errors.Is(err, ErrInvalidToken) {
			t.Errorf("at %v: %d, %v; want ErrInvalidToken", tc.now.Sub(start), id, err)
		}
	}

	// A negative lifetime issues tokens that are expired from the start.
	expired, err := NewTokens(secret, -time.Minute).Issue(7)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewTokens(secret, time.Hour).Parse(expired); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("expired token: %v, want ErrInvalidToken", err)
	}
}

// sign signs claims with method and key, bypassing Issue.
func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseRejects(t *testing.T) {
	now := time.Now()
	good := jwt.RegisteredClaims{
		Issuer:    issuer,
		Subject:   "7",
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
	}
	with := func(change func(*jwt.RegisteredClaims)) jwt.RegisteredClaims {
		c := good
		change(&c)
		return c
	}
	valid := sign(t, jwt.SigningMethodHS256, secret, good)
	if id, err := NewTokens(secret, time.Hour).Parse(valid); err != nil || id != 7 {
		t.Fatalf("the well-formed token is refused: %d, %v", id, err)
	}
	header, rest, _ := strings.Cut(valid, ".")

	for name, token := range map[string]string{
		"other secret":   sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-0123456"), good),
		"alg none":       sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good),
		"alg HS384":      sign(t, jwt.SigningMethodHS384, secret, good),
		"alg HS512":      sign(t, jwt.SigningMethodHS512, secret, good),
		"other issuer":   sign(t, jwt.SigningMethodHS256, secret, with(func(c *jwt.RegisteredClaims) { c.Issuer = "someone-else" })),
		"no issuer":      sign(t, jwt.SigningMethodHS256, secret, with(func(c *jwt.RegisteredClaims) { c.Issuer = "" })),
		"no expiry":      sign(t, jwt.SigningMethodHS256, secret, with(func(c *jwt.RegisteredClaims) { c.ExpiresAt = nil })),
		"not yet valid":  sign(t, jwt.SigningMethodHS256, secret, with(func(c *jwt.RegisteredClaims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Minute)) })),
		"subject text":   sign(t, jwt.SigningMethodHS256, secret, with(func(c *jwt.RegisteredClaims) { c.Subject = "jake" })),
		"subject zero":   sign(t, jwt.SigningMethodHS256, secret, with(func(c *jwt.RegisteredClaims) { c.Subject = "0" })),
		"subject minus":  sign(t, jwt.SigningMethodHS256, secret, with(func(c *jwt.RegisteredClaims) { c.Subject = "-7" })),
		"no subject":     sign(t, jwt.SigningMethodHS256, secret, with(func(c *jwt.RegisteredClaims) { c.Subject = "" })),
		"no signature":   header + "." + strings.Split(rest, ".")[0] + ".",
		"bad signature":  valid[:len(valid)-4] + "AAAA",
		"empty":          "",
		"not a jwt":      "not-a-jwt",
		"three garbages": "a.b.c",
	} {
		t.Run(name, func(t *testing.T) {
			id, err := NewTokens(secret, time.Hour).Parse(token)
			if !errors.Is(err, ErrInvalidToken) || id != 0 {
				t.Fatalf("Parse = %d, %v; want 0, ErrInvalidToken", id, err)
			}
		})
	}
}

func TestContext(t *testing.T) {
	if u, ok := FromContext(context.Background()); ok {
		t.Fatalf("empty context has user %+v", u)
	}
	want := User{ID: 7, Token: "t"}
	if got, ok := FromContext(WithUser(context.Background(), want)); !ok || got != want {
		t.Fatalf("FromContext = %+v, %v; want %+v", got, ok, want)
	}
}
