package config

import (
	"strings"
	"testing"
)

func baseEnv(extra map[string]string) map[string]string {
	env := map[string]string{
		"DATABASE_URL": "postgres://localhost/x",
		"JWT_SECRET":   strings.Repeat("s", MinJWTSecretLen),
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

func TestCORSAllowedOrigins(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		want    string
		allowed string
	}{
		{"production default allows none", nil, "", ""},
		{"production empty allows none", map[string]string{"CORS_ALLOWED_ORIGINS": ""}, "", ""},
		{"development default allows local dev servers", map[string]string{"APP_ENV": Development}, "http://localhost:*,http://127.0.0.1:*", "http://localhost:5173"},
		{"set value wins in development", map[string]string{"APP_ENV": Development, "CORS_ALLOWED_ORIGINS": "https://app.example.com"}, "https://app.example.com", "https://app.example.com"},
		{"any", map[string]string{"CORS_ALLOWED_ORIGINS": "*"}, "*", "https://whatever.example"},
		{"list with spaces", map[string]string{"CORS_ALLOWED_ORIGINS": " https://a.example.com , http://localhost:3000 "}, "https://a.example.com,http://localhost:3000", "http://localhost:3000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Load(baseEnv(c.env))
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.CORSAllowedOrigins.String(); got != c.want {
				t.Errorf("origins %q, want %q", got, c.want)
			}
			if c.allowed != "" && !cfg.CORSAllowedOrigins.Allows(c.allowed) {
				t.Errorf("%q is not allowed", c.allowed)
			}
			if c.want == "" && cfg.CORSAllowedOrigins.Allows("http://localhost:3000") {
				t.Error("an origin is allowed")
			}
		})
	}
}

func TestCORSAllowedOriginsMalformedStopsStartup(t *testing.T) {
	_, err := Load(baseEnv(map[string]string{"CORS_ALLOWED_ORIGINS": "https://app.example.com/,localhost:3000"}))
	if err == nil {
		t.Fatal("a malformed CORS_ALLOWED_ORIGINS was accepted")
	}
	for _, want := range []string{"CORS_ALLOWED_ORIGINS", `"https://app.example.com/"`, "trailing slash", `"localhost:3000"`, "scheme://host"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	t.Logf("message:\n%v", err)
}
