package config_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/sophsapp/sophsapp/internal/config"
)

func base() map[string]string {
	return map[string]string{"DATABASE_URL": "postgres://localhost/x", "APP_ENV": config.Development}
}

func TestUploadSettings(t *testing.T) {
	cfg, err := config.Load(base())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxUploadBytes != 50<<20 || cfg.UploadQuotaBytes != 1<<30 || cfg.PublicBaseURL != "" ||
		!slices.Equal(cfg.UploadContentTypes, []string{"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"}) {
		t.Fatalf("defaults: %+v", cfg)
	}

	env := base()
	env["UPLOAD_CONTENT_TYPES"] = "image/png, IMAGE/JPEG ,text/plain"
	env["PUBLIC_BASE_URL"] = "https://api.example.com/"
	cfg, err = config.Load(env)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.UploadContentTypes, []string{"image/png", "image/jpeg", "text/plain"}) || cfg.PublicBaseURL != "https://api.example.com" {
		t.Fatalf("normalised: %q %q", cfg.UploadContentTypes, cfg.PublicBaseURL)
	}
}

func TestUploadSettingsRefused(t *testing.T) {
	for name, c := range map[string]struct{ variable, value, says string }{
		"a type content cannot tell": {"UPLOAD_CONTENT_TYPES", "image/png,image/svg+xml", `"image/svg+xml" is not a type recognised`},
		"no type":                    {"UPLOAD_CONTENT_TYPES", ",", "expected"},
		"a host without scheme":      {"PUBLIC_BASE_URL", "api.example.com", "expected the API's origin"},
		"a query":                    {"PUBLIC_BASE_URL", "https://api.example.com/?x=1", "expected the API's origin"},
		"no upload limit":            {"MAX_UPLOAD_BYTES", "0", "positive"},
		"a negative quota":           {"UPLOAD_QUOTA_BYTES", "-1", "positive"},
	} {
		env := base()
		env[c.variable] = c.value
		_, err := config.Load(env)
		if err == nil || !strings.Contains(err.Error(), c.variable+": ") || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s (%s=%q): %v", name, c.variable, c.value, err)
		}
	}
}
