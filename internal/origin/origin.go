// Package origin parses and matches the browser origins that may call the
// API from another site (CORS_ALLOWED_ORIGINS).
//
// A list is comma-separated. Each entry is one of:
//
//   - any origin (safe here: credentials are a header, never a cookie)
//     https://app.example.com    exactly that origin (default port of the scheme)
//     http://localhost:3000      exactly that origin
//     http://localhost:*         that scheme and host on any port from 1 to 65535
//     https://*.example.com      any subdomain of example.com (not example.com itself)
//
// Schemes are http and https; an entry has no path, query, fragment or user
// information, and no trailing slash: it is written exactly as a browser
// sends its Origin header.
package origin

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// List is a parsed CORS_ALLOWED_ORIGINS. The zero value allows no origin.
type List struct {
	any      bool
	patterns []pattern
	text     []string
}

// pattern is one entry other than "*".
type pattern struct {
	scheme    string
	host      string // lowercase; without "*." when subdomains is set
	subdomain bool   // host was "*.<host>"
	port      string // "" is the scheme's default port, "*" any port
}

// Development is the list used in development mode when
// CORS_ALLOWED_ORIGINS is not set: pages served by a local dev server.
func Development() List {
	l, err := Parse("http://localhost:*,http://127.0.0.1:*")
	if err != nil {
		panic(err)
	}
	return l
}

// Parse reads a comma-separated list. Blank entries are ignored, so ""
// is the empty list.
func Parse(s string) (List, error) {
	var l List
	var problems []string
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if entry == "*" {
			l.any = true
			l.text = append(l.text, entry)
			continue
		}
		p, err := parsePattern(entry)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%q %v", entry, err))
			continue
		}
		l.patterns = append(l.patterns, p)
		l.text = append(l.text, entry)
	}
	if len(problems) > 0 {
		return List{}, errors.New(strings.Join(problems, "; "))
	}
	if l.any && len(l.patterns) > 0 {
		return List{}, errors.New(`"*" already allows every origin: give it alone`)
	}
	return l, nil
}

// UnmarshalText lets caarlos0/env parse the variable into a List.
func (l *List) UnmarshalText(b []byte) error {
	parsed, err := Parse(string(b))
	if err != nil {
		return err
	}
	*l = parsed
	return nil
}

func parsePattern(entry string) (pattern, error) {
	scheme, rest, ok := strings.Cut(entry, "://")
	if !ok {
		return pattern{}, errors.New("is not an origin: expected scheme://host[:port], like https://app.example.com")
	}
	scheme = strings.ToLower(scheme)
	if scheme != "http" && scheme != "https" {
		return pattern{}, errors.New("has a scheme other than http or https")
	}
	if rest == "" {
		return pattern{}, errors.New("has no host")
	}
	if i := strings.IndexAny(rest, "/?#@"); i >= 0 {
		return pattern{}, errors.New("has a path, query, fragment or user part (or a trailing slash): an origin is only scheme://host[:port]")
	}
	host, port := rest, ""
	if h, p, err := net.SplitHostPort(rest); err == nil {
		host, port = h, p
		if port != "*" {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '0' {
				return pattern{}, errors.New("has a port that is not a number from 1 to 65535 or *")
			}
		}
	} else if strings.Contains(strings.TrimSuffix(strings.TrimPrefix(rest, "["), "]"), ":") && !strings.HasPrefix(rest, "[") {
		return pattern{}, errors.New("has a malformed port")
	}
	host = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	p := pattern{scheme: scheme, port: port}
	if strings.HasPrefix(host, "*.") {
		p.subdomain = true
		host = host[2:]
	}
	if host == "" || strings.Contains(host, "*") {
		return pattern{}, errors.New("has a wildcard other than a leading *. in the host or :* as the port")
	}
	if !validHost(host) {
		return pattern{}, errors.New("has a host that is not a domain name or IP address")
	}
	if p.subdomain && net.ParseIP(host) != nil {
		return pattern{}, errors.New("puts *. before an IP address")
	}
	p.host = host
	return p, nil
}

func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// Any reports whether the list is "*".
func (l List) Any() bool { return l.any }

// Empty reports whether no origin is allowed.
func (l List) Empty() bool { return !l.any && len(l.patterns) == 0 }

// String returns the list as it would be written in the variable.
func (l List) String() string { return strings.Join(l.text, ",") }

// Allows reports whether a browser page of origin (an Origin header's
// value) may call the API.
func (l List) Allows(origin string) bool {
	if l.any {
		return origin != ""
	}
	u, err := url.Parse(origin)
	if err != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" {
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port == "" && strings.HasSuffix(u.Host, ":") {
		return false
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '0' {
			return false
		}
	}
	for _, p := range l.patterns {
		if p.matches(scheme, host, port) {
			return true
		}
	}
	return false
}

func (p pattern) matches(scheme, host, port string) bool {
	if scheme != p.scheme {
		return false
	}
	if p.subdomain {
		if !strings.HasSuffix(host, "."+p.host) || !validHost(host) {
			return false
		}
	} else if host != p.host {
		return false
	}
	switch p.port {
	case "*":
		return true
	case "":
		return port == "" || port == defaultPort(scheme)
	default:
		return port == p.port || port == "" && p.port == defaultPort(scheme)
	}
}

func defaultPort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}
