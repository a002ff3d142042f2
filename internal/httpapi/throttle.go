package httpapi

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/sophsapp/sophsapp/gen/db"
)

// Failed logins are counted in PostgreSQL (table login_throttle), so every
// instance behind Nginx sees the same counts, under three keys:
//
//   - pair: one client address guessing one account. From pairThreshold
//     failures on, that address may not log in to that account for a while.
//   - addr: one client address guessing any accounts (credential stuffing).
//   - acct: one account guessed from any addresses. Each address counts at
//     most pairThreshold failures here and accountThreshold is higher, so
//     one address alone can never block an account for its owner: only
//     failures from several addresses can.
//
// A key at or over its threshold is blocked for 2^(failures-threshold)
// seconds, at most maxLoginBlock: 1 s, 2 s, 4 s, ... 15 min. Blocked logins
// are answered 429 with Retry-After, without a password comparison, and are
// not counted. A successful login clears its pair and acct keys (not addr:
// an attacker's own account must not reset the address's count). Counts
// start again a day after their last failure.
const (
	pairThreshold    = 5
	addrThreshold    = 20
	accountThreshold = 10
	maxLoginBlock    = 15 * time.Minute
)

// loginKeys are the login_throttle keys of one login attempt.
type loginKeys struct {
	pair, addr, acct string
}

// loginKeysFor returns the keys of a login to email from the request's
// client address. IPv6 addresses count by their /64, which one client
// usually has whole.
func loginKeysFor(ctx context.Context, email string) loginKeys {
	addr := info(ctx).clientIP
	if a, err := netip.ParseAddr(addr); err == nil {
		a = a.Unmap()
		if a.Is6() {
			p, _ := a.Prefix(64)
			addr = p.String()
		} else {
			addr = a.String()
		}
	}
	acct := strings.ToLower(email)
	return loginKeys{pair: "pair:" + addr + " " + acct, addr: "addr:" + addr, acct: "acct:" + acct}
}

func (k loginKeys) all() []string { return []string{k.pair, k.addr, k.acct} }

// loginBlocked returns a RetryLater when any of keys is blocked.
func (s *Server) loginBlocked(ctx context.Context, keys loginKeys) error {
	wait, err := s.q.GetLoginBlock(ctx, keys.all())
	if err != nil {
		return fmt.Errorf("login: read throttle: %w", err)
	}
	if wait > 0 {
		return &RetryLater{After: time.Duration(wait) * time.Second, Reason: "too many failed logins: try again later"}
	}
	return nil
}

// recordLoginFailure counts a failed login under keys and blocks the keys
// that reached their threshold. It runs to the end even when the client
// has gone, so that hanging up early saves a guess nothing.
func (s *Server) recordLoginFailure(ctx context.Context, keys loginKeys) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	pair, err := s.countFailure(ctx, keys.pair, pairThreshold)
	if err != nil {
		return err
	}
	if _, err := s.countFailure(ctx, keys.addr, addrThreshold); err != nil {
		return err
	}
	if pair <= pairThreshold {
		if _, err := s.countFailure(ctx, keys.acct, accountThreshold); err != nil {
			return err
		}
	}
	if rand.IntN(100) == 0 {
		if err := s.q.PruneLoginThrottle(ctx); err != nil {
			return fmt.Errorf("prune login throttle: %w", err)
		}
	}
	return nil
}

// countFailure adds a failure to key, blocks it when it reached threshold,
// and returns its count.
func (s *Server) countFailure(ctx context.Context, key string, threshold int32) (int32, error) {
	n, err := s.q.RecordLoginFailure(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("count failed login: %w", err)
	}
	if n >= threshold {
		err = s.q.BlockLogin(ctx, db.BlockLoginParams{Key: key, Seconds: int32(loginBlock(n - threshold).Seconds())})
		if err != nil {
			return 0, fmt.Errorf("block login: %w", err)
		}
	}
	return n, nil
}

// loginBlock is how long a key over its threshold by excess stays blocked.
func loginBlock(excess int32) time.Duration {
	if excess >= 30 {
		return maxLoginBlock
	}
	return min(time.Duration(1<<excess)*time.Second, maxLoginBlock)
}

// hashSlots bounds how many bcrypt computations run at once. bcrypt is
// deliberately slow (tens of milliseconds of CPU): unbounded, a flood of
// logins takes every core and starves all other requests; bounded, logins
// queue (up to their request deadline) while the rest of the API answers.
// One core is left to everything else.
var hashSlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)-1))

// hashWaiting counts the requests waiting for a hashing slot (tests use it
// to line up concurrent requests deterministically).
var hashWaiting atomic.Int32

// withHashSlot runs fn once a hashing slot is free, or fails when ctx ends
// first.
func withHashSlot(ctx context.Context, fn func()) error {
	slots := hashSlots
	hashWaiting.Add(1)
	select {
	case slots <- struct{}{}:
		hashWaiting.Add(-1)
	case <-ctx.Done():
		hashWaiting.Add(-1)
		return fmt.Errorf("waiting to hash a password: %w", ctx.Err())
	}
	defer func() { <-slots }()
	fn()
	return nil
}

// hashPassword returns the bcrypt hash to store for password.
func hashPassword(ctx context.Context, password string) (string, error) {
	if len(password) > maxPasswordBytes {
		return "", Invalid("password must be at most 72 bytes")
	}
	var h []byte
	var err error
	if werr := withHashSlot(ctx, func() { h, err = bcrypt.GenerateFromPassword([]byte(password), passwordCost) }); werr != nil {
		return "", werr
	}
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}
