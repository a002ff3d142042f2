package origin

import (
	"strings"
	"testing"
)

func TestParseRefusesMalformedEntries(t *testing.T) {
	for entry, want := range map[string]string{
		"app.example.com":            "expected scheme://host",
		"ftp://app.example.com":      "scheme other than http or https",
		"https://app.example.com/":   "trailing slash",
		"https://app.example.com/x":  "path",
		"https://app.example.com?a":  "query",
		"https://u@app.example.com":  "user",
		"https://":                   "no host",
		"http://localhost:0":         "port",
		"http://localhost:65536":     "port",
		"http://localhost:08":        "port",
		"http://localhost:x":         "port",
		"http://local*host":          "wildcard",
		"http://*.*.example.com":     "wildcard",
		"https://*.127.0.0.1":        "IP address",
		"https://exa_mple.com":       "host",
		"https://-example.com":       "host",
		"*,https://app.example.com":  "alone",
		"https://a.example.com,nope": `"nope"`,
	} {
		_, err := Parse(entry)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error mentioning %q", entry, err, want)
		}
	}
}

func TestAllows(t *testing.T) {
	cases := []struct {
		list    string
		allowed []string
		refused []string
	}{
		{"", nil, []string{"http://localhost:3000", "null", ""}},
		{"*", []string{"http://localhost:3000", "https://anything.example", "null"}, []string{""}},
		{
			"https://app.example.com",
			[]string{"https://app.example.com", "https://APP.example.com", "https://app.example.com:443"},
			[]string{"http://app.example.com", "https://app.example.com:8443", "https://app.example.com.evil.com", "https://evil.com", "null", "https://app.example.com/"},
		},
		{
			"http://localhost:*,http://127.0.0.1:*",
			[]string{"http://localhost:3000", "http://localhost:4200", "http://127.0.0.1:1", "http://127.0.0.1:65535", "http://localhost"},
			[]string{"https://localhost:3000", "http://localhost:0", "http://localhost:99999", "http://localhost:3000.evil.com", "http://localhost:80@evil.com", "http://localhost.evil.com:3000", "http://127.0.0.2:3000", "http://[::1]:3000"},
		},
		{
			"https://*.example.com",
			[]string{"https://preview-1.example.com", "https://a.b.example.com"},
			[]string{"https://example.com", "https://evilexample.com", "http://a.example.com", "https://a.example.com:8443"},
		},
		{"http://localhost:3000", []string{"http://localhost:3000"}, []string{"http://localhost:3001", "http://localhost"}},
	}
	for _, c := range cases {
		l, err := Parse(c.list)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.list, err)
		}
		for _, o := range c.allowed {
			if !l.Allows(o) {
				t.Errorf("%q refuses %q", c.list, o)
			}
		}
		for _, o := range c.refused {
			if l.Allows(o) {
				t.Errorf("%q allows %q", c.list, o)
			}
		}
	}
}

func TestDevelopmentDefault(t *testing.T) {
	l := Development()
	if l.Any() || l.Empty() || !l.Allows("http://localhost:5173") || l.Allows("https://example.com") {
		t.Errorf("Development() = %s", l)
	}
	if got := l.String(); got != "http://localhost:*,http://127.0.0.1:*" {
		t.Errorf("String() = %q", got)
	}
}
