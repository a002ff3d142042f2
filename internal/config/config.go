// Package config reads sophsapp's settings from the environment.
//
// Every setting is an environment variable; .env.example at the repository
// root documents each one. Load collects every problem at once, so a bad
// deployment is fixed in one round.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/sophsapp/sophsapp/internal/origin"
)

// Environments accepted by APP_ENV.
const (
	Production  = "production"
	Development = "development"
)

// SniffedTypes are the types net/http's DetectContentType recognises from a
// file's first bytes, without parameters: what UPLOAD_CONTENT_TYPES may list.
// text/plain stands for all of its charsets.
var SniffedTypes = []string{
	"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/x-icon", "image/vnd.microsoft.icon",
	"application/pdf", "application/postscript", "application/zip", "application/x-gzip", "application/x-rar-compressed",
	"application/ogg", "application/wasm", "application/vnd.ms-fontobject",
	"audio/mpeg", "audio/aiff", "audio/midi", "audio/wave", "video/mp4", "video/webm", "video/avi",
	"font/ttf", "font/otf", "font/collection", "font/woff", "font/woff2",
	"text/plain", "text/html", "text/xml", "application/octet-stream",
}

// MinJWTSecretLen is the shortest JWT_SECRET accepted outside development.
const MinJWTSecretLen = 32

// Config is the whole of sophsapp's configuration.
type Config struct {
	// DatabaseURL is a PostgreSQL connection string.
	DatabaseURL string `env:"DATABASE_URL,required,notEmpty"`
	// ListenAddr is the host:port the API listens on when systemd does not
	// pass a socket.
	ListenAddr string `env:"LISTEN_ADDR" envDefault:"127.0.0.1:5000"`
	// DatabaseMaxConns caps the connection pool (and each replica's);
	// 4-8 suits a 2-core host.
	DatabaseMaxConns int32 `env:"DATABASE_MAX_CONNS" envDefault:"8"`
	// DatabaseReplicaURLs lists PostgreSQL streaming replicas, one
	// single-host connection string each, that answer anonymous reads.
	DatabaseReplicaURLs []string `env:"DATABASE_REPLICA_URLS"`
	// ReplicaMaxLag is how far behind the primary a replica may be and
	// still answer reads.
	ReplicaMaxLag time.Duration `env:"REPLICA_MAX_LAG" envDefault:"5s"`
	// DatabaseMigrateURL, when set, is where migrations run instead of
	// DatabaseURL: the primary itself, when DatabaseURL goes through a
	// transaction-pooling PgBouncer that cannot hold the migrations'
	// session-level lock.
	DatabaseMigrateURL string `env:"DATABASE_MIGRATE_URL"`
	// LogLevel is debug, info, warn or error.
	LogLevel slog.Level `env:"LOG_LEVEL" envDefault:"info"`
	// ShutdownDrain is how long the server keeps serving after SIGTERM,
	// closing each connection after its answer and reporting "draining" on
	// its health check, before it shuts down; 0 disables the drain.
	ShutdownDrain time.Duration `env:"SHUTDOWN_DRAIN" envDefault:"5s"`
	// ShutdownTimeout bounds how long in-flight requests may take to finish
	// after the drain. Keep drain + timeout below systemd's TimeoutStopSec.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s"`
	// RequestTimeout is the deadline of every request's context, database
	// work included.
	RequestTimeout time.Duration `env:"REQUEST_TIMEOUT" envDefault:"30s"`
	// TrustedProxies are the peers whose X-Real-IP and X-Forwarded-Proto
	// headers are believed.
	TrustedProxies []netip.Prefix `env:"TRUSTED_PROXIES" envDefault:"127.0.0.1/32,::1/128"`
	// MaxJSONBytes caps the body of every operation that takes JSON; it
	// matches Nginx's server-wide client_max_body_size 1m.
	MaxJSONBytes int64 `env:"MAX_JSON_BYTES" envDefault:"1048576"`
	// MaxUploadBytes caps the body of an upload (an operation whose body is
	// not JSON); it matches Nginx's client_max_body_size 50m on the upload
	// route.
	MaxUploadBytes int64 `env:"MAX_UPLOAD_BYTES" envDefault:"52428800"`
	// UploadContentTypes are the file types an upload may have, as
	// recognised from its first bytes (see SniffedTypes).
	UploadContentTypes []string `env:"UPLOAD_CONTENT_TYPES" envDefault:"image/png,image/jpeg,image/gif,image/webp,application/pdf"`
	// UploadQuotaBytes is the most one user may store in uploads.
	UploadQuotaBytes int64 `env:"UPLOAD_QUOTA_BYTES" envDefault:"1073741824"`
	// PublicBaseURL is the API's public origin, e.g. https://api.example.com;
	// when set, upload URLs are absolute (frontends on another origin need
	// that), otherwise they are relative to the API's origin.
	PublicBaseURL string `env:"PUBLIC_BASE_URL"`
	// MigrateOnStart applies pending migrations before serving.
	MigrateOnStart bool `env:"MIGRATE_ON_START" envDefault:"false"`
	// Env is production or development. Development relaxes JWT_SECRET.
	Env string `env:"APP_ENV" envDefault:"production"`
	// JWTSecret signs the tokens; at least MinJWTSecretLen bytes.
	JWTSecret string `env:"JWT_SECRET"`
	// JWTTTL is how long an issued token stays valid.
	JWTTTL time.Duration `env:"JWT_TTL" envDefault:"72h"`
	// CORSAllowedOrigins are the browser origins (other sites) whose pages
	// may call the API. Unset or empty: development allows local dev
	// servers (origin.Development), production allows none.
	CORSAllowedOrigins origin.List `env:"CORS_ALLOWED_ORIGINS"`
}

// Load parses cfg from environ, a map of variable names to values. The
// error names every variable that is missing or invalid and what it expects.
func Load(environ map[string]string) (Config, error) {
	var cfg Config
	var problems []string
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: environ}); err != nil {
		problems = append(problems, describe(err)...)
	}
	for i, t := range cfg.UploadContentTypes {
		cfg.UploadContentTypes[i] = strings.ToLower(strings.TrimSpace(t))
	}
	cfg.PublicBaseURL = strings.TrimSuffix(cfg.PublicBaseURL, "/")
	problems = append(problems, cfg.check(environ)...)
	if cfg.Env == Development && cfg.CORSAllowedOrigins.Empty() {
		cfg.CORSAllowedOrigins = origin.Development()
	}
	if len(problems) > 0 {
		return cfg, fmt.Errorf("invalid configuration:\n  %s", strings.Join(problems, "\n  "))
	}
	return cfg, nil
}

// MigrationURL returns where migrations run, DATABASE_MIGRATE_URL when it
// is set and DATABASE_URL otherwise, with the name of that setting.
func (c Config) MigrationURL() (url, setting string) {
	if c.DatabaseMigrateURL != "" {
		return c.DatabaseMigrateURL, "DATABASE_MIGRATE_URL"
	}
	return c.DatabaseURL, "DATABASE_URL"
}

// check holds the rules a type alone cannot express.
func (c Config) check(environ map[string]string) []string {
	var p []string
	if c.DatabaseMaxConns < 1 {
		p = append(p, "DATABASE_MAX_CONNS: expected a positive integer")
	}
	if c.ReplicaMaxLag <= 0 {
		p = append(p, "REPLICA_MAX_LAG: expected a positive duration such as 5s")
	}
	if c.ShutdownDrain < 0 {
		p = append(p, "SHUTDOWN_DRAIN: expected a duration of 0 or more such as 5s (0 disables the drain)")
	}
	if c.ShutdownTimeout <= 0 {
		p = append(p, "SHUTDOWN_TIMEOUT: expected a positive duration such as 20s")
	}
	if c.RequestTimeout <= 0 {
		p = append(p, "REQUEST_TIMEOUT: expected a positive duration such as 30s")
	}
	if c.MaxJSONBytes < 1 {
		p = append(p, "MAX_JSON_BYTES: expected a positive number of bytes")
	}
	if c.MaxUploadBytes < 1 {
		p = append(p, "MAX_UPLOAD_BYTES: expected a positive number of bytes")
	}
	if c.UploadQuotaBytes < 1 {
		p = append(p, "UPLOAD_QUOTA_BYTES: expected a positive number of bytes")
	}
	if len(c.UploadContentTypes) == 0 {
		p = append(p, "UPLOAD_CONTENT_TYPES: expected at least one type, e.g. image/png,image/jpeg")
	}
	for _, t := range c.UploadContentTypes {
		if !slices.Contains(SniffedTypes, t) {
			p = append(p, fmt.Sprintf("UPLOAD_CONTENT_TYPES: %q is not a type recognised from a file's content; expected some of %s", t, strings.Join(SniffedTypes, ",")))
		}
	}
	if c.PublicBaseURL != "" {
		if u, err := url.Parse(c.PublicBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			p = append(p, fmt.Sprintf("PUBLIC_BASE_URL: expected the API's origin such as https://api.example.com, got %q", c.PublicBaseURL))
		}
	}
	if c.JWTTTL <= 0 {
		p = append(p, "JWT_TTL: expected a positive duration such as 72h")
	}
	if !slices.Contains([]string{Production, Development}, c.Env) {
		p = append(p, fmt.Sprintf("APP_ENV: expected %q or %q, got %q", Production, Development, c.Env))
	}
	if c.Env != Development && len(c.JWTSecret) < MinJWTSecretLen {
		what := "is not set"
		if _, ok := environ["JWT_SECRET"]; ok {
			what = fmt.Sprintf("is %d bytes", len(c.JWTSecret))
		}
		p = append(p, fmt.Sprintf("JWT_SECRET: expected a random secret of at least %d bytes (e.g. openssl rand -base64 48), but it %s", MinJWTSecretLen, what))
	}
	return p
}

// describe turns caarlos0/env's errors into one line per variable.
func describe(err error) []string {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return []string{err.Error()}
	}
	var out []string
	for _, e := range agg.Errors {
		var notSet env.VarIsNotSetError
		var empty env.EmptyVarError
		var parse env.ParseError
		switch {
		case errors.As(e, &notSet):
			out = append(out, notSet.Key+": required, but not set")
		case errors.As(e, &empty):
			out = append(out, empty.Key+": required, but empty")
		case errors.As(e, &parse):
			out = append(out, fmt.Sprintf("%s: expected %s: %v", varName(parse.Name), expects(parse.Type), parse.Err))
		default:
			out = append(out, e.Error())
		}
	}
	return out
}

// varName maps a Config field name to its environment variable.
func varName(field string) string {
	f, ok := reflect.TypeFor[Config]().FieldByName(field)
	if !ok {
		return field
	}
	name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
	return name
}

func expects(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[time.Duration]():
		return "a duration such as 30s or 5m"
	case reflect.TypeFor[slog.Level]():
		return "one of debug, info, warn, error"
	case reflect.TypeFor[[]netip.Prefix]():
		return "a comma-separated list of CIDR prefixes such as 127.0.0.1/32,::1/128"
	case reflect.TypeFor[[]string]():
		return "a comma-separated list"
	case reflect.TypeFor[bool]():
		return "true or false"
	case reflect.TypeFor[origin.List]():
		return "a comma-separated list of origins such as https://app.example.com,http://localhost:* (or * for any)"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int32, reflect.Int64:
		return "an integer"
	}
	return "a " + t.String()
}
