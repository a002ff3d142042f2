package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sophsapp/sophsapp/internal/apptest"
)

// loginFrom logs in as email with password from client address addr (the
// test client is a trusted proxy, so the server believes its X-Real-IP) and
// returns the status and the Retry-After header.
func loginFrom(t *testing.T, a *apptest.App, addr, email, password string) (int, string) {
	t.Helper()
	body := fmt.Sprintf(`{"user":{"email":%q,"password":%q}}`, email, password)
	req, err := http.NewRequest("POST", a.URL+"/api/users/login", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Real-IP", addr)
	resp, err := a.HTTP.Do(req) // the contract check covers the 429 shape and header
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// wantLogin fails unless the login gets status; a 429 must say how long to
// wait.
func wantLogin(t *testing.T, a *apptest.App, addr, email, password string, want int) {
	t.Helper()
	status, retry := loginFrom(t, a, addr, email, password)
	if status != want {
		t.Fatalf("login as %s from %s: status %d, want %d", email, addr, status, want)
	}
	if want == http.StatusTooManyRequests {
		if n, err := strconv.Atoi(retry); err != nil || n < 1 || n > 900 {
			t.Fatalf("login as %s from %s: Retry-After %q", email, addr, retry)
		}
	}
}

// expireBlocks ends every block now, as if the client had waited.
func expireBlocks(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), "UPDATE login_throttle SET blocked_until = now()"); err != nil {
		t.Fatal(err)
	}
}

func TestLoginThrottle(t *testing.T) {
	a, conn := startWithDB(t)
	register(t, a, "jake")
	const email, password = "jake@example.com", "password-jake"

	t.Run("one address on one account", func(t *testing.T) {
		for range 5 {
			wantLogin(t, a, "203.0.113.1", email, "wrong-password", http.StatusUnauthorized)
		}
		// Blocked now, even with the right password.
		wantLogin(t, a, "203.0.113.1", email, password, http.StatusTooManyRequests)
		wantLogin(t, a, "203.0.113.1", email, "wrong-password", http.StatusTooManyRequests)
		// The attacker's address cannot lock the owner out: from elsewhere
		// the right password works at once.
		wantLogin(t, a, "198.51.100.7", email, password, http.StatusOK)
		// However long it keeps trying: each block it waits out buys one
		// more guess, and the owner stays able to log in.
		for range 10 {
			expireBlocks(t, conn)
			wantLogin(t, a, "203.0.113.1", email, "wrong-password", http.StatusUnauthorized)
			wantLogin(t, a, "203.0.113.1", email, "wrong-password", http.StatusTooManyRequests)
			wantLogin(t, a, "198.51.100.7", email, password, http.StatusOK)
		}
	})

	t.Run("one account from several addresses", func(t *testing.T) {
		expireBlocks(t, conn)
		for _, addr := range []string{"192.0.2.1", "192.0.2.2"} {
			for range 5 {
				wantLogin(t, a, addr, email, "wrong-password", http.StatusUnauthorized)
			}
		}
		// 10 failures on the account: every address waits, the owner too.
		wantLogin(t, a, "192.0.2.99", email, password, http.StatusTooManyRequests)
		expireBlocks(t, conn)
		wantLogin(t, a, "192.0.2.99", email, password, http.StatusOK)
		// The success cleared the account's count: one more failure from a
		// new address blocks nobody.
		wantLogin(t, a, "192.0.2.3", email, "wrong-password", http.StatusUnauthorized)
		wantLogin(t, a, "192.0.2.99", email, password, http.StatusOK)
	})

	t.Run("one address on many accounts", func(t *testing.T) {
		for i := range 20 {
			wantLogin(t, a, "2001:db8:1:2::1", fmt.Sprintf("user%d@example.com", i), "wrong-password", http.StatusUnauthorized)
		}
		// The same /64 is one client.
		wantLogin(t, a, "2001:db8:1:2::ffff", email, password, http.StatusTooManyRequests)
		wantLogin(t, a, "2001:db8:1:3::1", email, password, http.StatusOK)
	})

	t.Run("success resets the count", func(t *testing.T) {
		for range 4 {
			wantLogin(t, a, "203.0.113.50", email, "wrong-password", http.StatusUnauthorized)
		}
		wantLogin(t, a, "203.0.113.50", email, password, http.StatusOK)
		for range 4 {
			wantLogin(t, a, "203.0.113.50", email, "wrong-password", http.StatusUnauthorized)
		}
		wantLogin(t, a, "203.0.113.50", email, password, http.StatusOK)
	})
}
