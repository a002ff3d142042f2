// Package config reads sophsapp's settings from the environment.
//
// Every setting is an environment variable, declared once as a field of
// Config: its `env` and `envDefault` tags say how it is read, its
// `description` tag what it means (`sophsapp help serve` prints them), an
// optional `example` tag a valid value for error messages, and an optional
// `commands` tag which commands use it besides serve. .env.example at the
// repository root documents each one; a test keeps the three in step.
//
// Load collects every problem at once, each variable once, with what it
// expects and an example, so a bad deployment is fixed in one round.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/jackc/pgx/v5/pgxpool"

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

// Commands that read the configuration.
const (
	Serve   = "serve"
	Migrate = "migrate"
)

// Config is the whole of sophsapp's configuration.
type Config struct {
	// DatabaseURL is a PostgreSQL connection string.
	DatabaseURL string `env:"DATABASE_URL" commands:"migrate" description:"PostgreSQL connection string (required)" example:"postgres://sophsapp:secret@127.0.0.1:5432/sophsapp?sslmode=disable"`
	// ListenAddr is the host:port the API listens on when systemd does not
	// pass a socket.
	ListenAddr string `env:"LISTEN_ADDR" envDefault:"127.0.0.1:5000" description:"host:port to listen on (ignored under systemd socket activation)"`
	// JWTSecret signs the tokens; at least MinJWTSecretLen bytes.
	JWTSecret string `env:"JWT_SECRET" description:"token signing secret, at least 32 bytes (required unless APP_ENV=development)" example:"the output of: openssl rand -base64 48"`
	// JWTTTL is how long an issued token stays valid.
	JWTTTL time.Duration `env:"JWT_TTL" envDefault:"72h" description:"token lifetime"`
	// Env is production or development. Development relaxes JWT_SECRET.
	Env string `env:"APP_ENV" envDefault:"production" description:"production or development (development allows an empty JWT_SECRET)"`
	// DatabaseMaxConns caps the connection pool (and each replica's);
	// 4-8 suits a 2-core host.
	DatabaseMaxConns int32 `env:"DATABASE_MAX_CONNS" envDefault:"8" description:"size of the PostgreSQL connection pool (of the primary, and of each replica)"`
	// DatabaseMigrateURL, when set, is where migrations run instead of
	// DatabaseURL, and where the session listening for notifications
	// (database.Listener) connects: the primary itself, when DatabaseURL
	// goes through a transaction-pooling PgBouncer that cannot hold the
	// migrations' session-level lock nor deliver notifications.
	DatabaseMigrateURL string `env:"DATABASE_MIGRATE_URL" commands:"migrate" description:"where migrate, MIGRATE_ON_START and the session listening for notifications connect when not DATABASE_URL: the primary directly, when DATABASE_URL goes through PgBouncer" example:"postgres://sophsapp:secret@10.0.0.11:5432/sophsapp"`
	// DatabaseReplicaURLs lists PostgreSQL streaming replicas, one
	// single-host connection string each, that answer anonymous reads.
	DatabaseReplicaURLs []string `env:"DATABASE_REPLICA_URLS" description:"comma-separated connection strings of streaming replicas (one host each) that answer anonymous reads" example:"postgres://sophsapp:secret@10.0.0.12:5432/sophsapp"`
	// ReplicaMaxLag is how far behind the primary a replica may be and
	// still answer reads.
	ReplicaMaxLag time.Duration `env:"REPLICA_MAX_LAG" envDefault:"5s" description:"a replica further behind the primary answers no reads until it catches up"`
	// MigrateOnStart applies pending migrations before serving.
	MigrateOnStart bool `env:"MIGRATE_ON_START" envDefault:"false" description:"apply pending migrations before serving"`
	// LogLevel is debug, info, warn or error.
	LogLevel slog.Level `env:"LOG_LEVEL" envDefault:"info" commands:"migrate" description:"debug, info, warn or error"`
	// ShutdownDrain is how long the server keeps serving after SIGTERM,
	// closing each connection after its answer and reporting "draining" on
	// its health check, before it shuts down; 0 disables the drain.
	ShutdownDrain time.Duration `env:"SHUTDOWN_DRAIN" envDefault:"5s" description:"after SIGTERM, keep serving this long with Connection: close and health 503 before stopping (0 disables)"`
	// ShutdownTimeout bounds how long in-flight requests may take to finish
	// after the drain. Keep drain + timeout below systemd's TimeoutStopSec.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s" description:"grace period for in-flight requests after the drain"`
	// RequestTimeout is the deadline of every request's context, database
	// work included.
	RequestTimeout time.Duration `env:"REQUEST_TIMEOUT" envDefault:"30s" description:"deadline of every request, database work included"`
	// TrustedProxies are the peers whose X-Real-IP and X-Forwarded-Proto
	// headers are believed.
	TrustedProxies []netip.Prefix `env:"TRUSTED_PROXIES" envDefault:"127.0.0.1/32,::1/128" description:"CIDR prefixes of the proxies whose X-Real-IP and X-Forwarded-Proto are believed"`
	// MaxJSONBytes caps the body of every operation that takes JSON; it
	// matches Nginx's server-wide client_max_body_size 1m.
	MaxJSONBytes int64 `env:"MAX_JSON_BYTES" envDefault:"1048576" description:"largest JSON request body in bytes (Nginx: the server-wide client_max_body_size)"`
	// MaxUploadBytes caps the body of an upload (an operation whose body is
	// not JSON); it matches Nginx's client_max_body_size 50m on the upload
	// route.
	MaxUploadBytes int64 `env:"MAX_UPLOAD_BYTES" envDefault:"52428800" description:"largest uploaded file in bytes (Nginx: client_max_body_size on the upload route)"`
	// UploadContentTypes are the file types an upload may have, as
	// recognised from its first bytes (see SniffedTypes).
	UploadContentTypes []string `env:"UPLOAD_CONTENT_TYPES" envDefault:"image/png,image/jpeg,image/gif,image/webp,application/pdf" description:"comma-separated file types an upload may have, as recognised from its content"`
	// UploadQuotaBytes is the most one user may store in uploads.
	UploadQuotaBytes int64 `env:"UPLOAD_QUOTA_BYTES" envDefault:"1073741824" description:"the most one user may store in uploads, in bytes"`
	// PublicBaseURL is the API's public origin, e.g. https://api.example.com;
	// when set, upload URLs are absolute (frontends on another origin need
	// that), otherwise they are relative to the API's origin.
	PublicBaseURL string `env:"PUBLIC_BASE_URL" description:"the API's public origin; when set, upload URLs are absolute" example:"https://api.example.com"`
	// CORSAllowedOrigins are the browser origins (other sites) whose pages
	// may call the API. Unset or empty: development allows local dev
	// servers (origin.Development), production allows none.
	CORSAllowedOrigins origin.List `env:"CORS_ALLOWED_ORIGINS" description:"browser origins whose pages may call the API (CORS), comma-separated; * for any; empty: none (development: http://localhost:*, http://127.0.0.1:*)" example:"https://app.example.com,http://localhost:*"`
	// PprofAddr, when set, is a loopback host:port that serves Go's
	// profiler (net/http/pprof) on a listener of its own. Off by default.
	PprofAddr string `env:"PPROF_ADDR" description:"loopback host:port for Go's profiler (net/http/pprof) on a listener of its own; empty: off" example:"127.0.0.1:6060"`
}

// Var describes one setting.
type Var struct {
	Name, Default, Description, Example string
	// Commands lists the commands that read it.
	Commands []string
	field    reflect.StructField
}

// Vars returns every setting, in the order of Config's fields.
func Vars() []Var {
	t := reflect.TypeFor[Config]()
	out := make([]Var, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if name == "" {
			continue
		}
		v := Var{Name: name, Default: f.Tag.Get("envDefault"), Description: f.Tag.Get("description"), Example: f.Tag.Get("example"), Commands: []string{Serve}, field: f}
		if c := f.Tag.Get("commands"); c != "" {
			v.Commands = append(v.Commands, strings.Split(c, ",")...)
		}
		if v.Example == "" {
			v.Example = v.Default
		}
		out = append(out, v)
	}
	return out
}

// VarsOf returns the settings command reads.
func VarsOf(command string) []Var {
	var out []Var
	for _, v := range Vars() {
		if slices.Contains(v.Commands, command) {
			out = append(out, v)
		}
	}
	return out
}

// Load reads the configuration of `sophsapp serve`, which uses every
// setting. environ maps variable names to values.
func Load(environ map[string]string) (Config, error) { return LoadFor(Serve, environ) }

// LoadFor reads the configuration for command. Only the settings command
// uses are checked; the error names each bad one once, with what it
// expects and an example.
func LoadFor(command string, environ map[string]string) (Config, error) {
	var cfg Config
	p := &problems{environ: environ, vars: map[string]Var{}}
	for _, v := range Vars() {
		p.vars[v.Name] = v
	}
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: environ}); err != nil {
		p.fromParse(err)
	}
	for i, t := range cfg.UploadContentTypes {
		cfg.UploadContentTypes[i] = strings.ToLower(strings.TrimSpace(t))
	}
	cfg.PublicBaseURL = strings.TrimSuffix(cfg.PublicBaseURL, "/")
	cfg.check(p, command)
	if cfg.Env == Development && cfg.CORSAllowedOrigins.Empty() {
		cfg.CORSAllowedOrigins = origin.Development()
	}
	var lines []string
	for _, v := range VarsOf(command) {
		if msg, ok := p.byVar[v.Name]; ok {
			lines = append(lines, msg)
		}
	}
	lines = append(lines, p.other...)
	if len(lines) > 0 {
		return cfg, fmt.Errorf("invalid configuration (`sophsapp help %s` lists every setting):\n  %s", command, strings.Join(lines, "\n  "))
	}
	return cfg, nil
}

// DirectURL returns where the work that needs one server session of its
// own connects (migrations, the session listening for notifications):
// DATABASE_MIGRATE_URL when it is set and DATABASE_URL otherwise, with the
// name of that setting.
func (c Config) DirectURL() (url, setting string) {
	if c.DatabaseMigrateURL != "" {
		return c.DatabaseMigrateURL, "DATABASE_MIGRATE_URL"
	}
	return c.DatabaseURL, "DATABASE_URL"
}

// check holds the rules a type alone cannot express, for command.
func (c Config) check(p *problems, command string) {
	// migrate needs DATABASE_URL only when DATABASE_MIGRATE_URL is unset.
	if c.DatabaseURL != "" || command != Migrate || c.DatabaseMigrateURL == "" {
		checkDatabaseURL(p, "DATABASE_URL", c.DatabaseURL)
	}
	if c.DatabaseMigrateURL != "" {
		checkDatabaseURL(p, "DATABASE_MIGRATE_URL", c.DatabaseMigrateURL)
	}
	for _, u := range c.DatabaseReplicaURLs {
		checkDatabaseURL(p, "DATABASE_REPLICA_URLS", u)
	}
	if c.ReplicaMaxLag <= 0 {
		p.bad("REPLICA_MAX_LAG", "a positive duration")
	}
	if _, port, err := net.SplitHostPort(c.ListenAddr); err != nil || !validPort(port) {
		p.bad("LISTEN_ADDR", "host:port")
	}
	if c.DatabaseMaxConns < 1 {
		p.bad("DATABASE_MAX_CONNS", "a positive integer")
	}
	if c.ShutdownDrain < 0 {
		p.bad("SHUTDOWN_DRAIN", "a duration of 0 (no drain) or more")
	}
	if c.ShutdownTimeout <= 0 {
		p.bad("SHUTDOWN_TIMEOUT", "a positive duration")
	}
	if c.RequestTimeout <= 0 {
		p.bad("REQUEST_TIMEOUT", "a positive duration")
	}
	if c.MaxJSONBytes < 1 {
		p.bad("MAX_JSON_BYTES", "a positive number of bytes")
	}
	if c.MaxUploadBytes < 1 {
		p.bad("MAX_UPLOAD_BYTES", "a positive number of bytes")
	}
	if c.UploadQuotaBytes < 1 {
		p.bad("UPLOAD_QUOTA_BYTES", "a positive number of bytes")
	}
	if len(c.UploadContentTypes) == 0 {
		p.bad("UPLOAD_CONTENT_TYPES", "at least one type")
	}
	for _, t := range c.UploadContentTypes {
		if !slices.Contains(SniffedTypes, t) {
			p.bad("UPLOAD_CONTENT_TYPES", fmt.Sprintf("types recognised from a file's content (%q is not a type recognised that way), some of %s", t, strings.Join(SniffedTypes, ",")))
		}
	}
	if c.PublicBaseURL != "" {
		if u, err := url.Parse(c.PublicBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			p.bad("PUBLIC_BASE_URL", "the API's origin (scheme and host)")
		}
	}
	if c.JWTTTL <= 0 {
		p.bad("JWT_TTL", "a positive duration")
	}
	if c.PprofAddr != "" && !isLoopback(c.PprofAddr) {
		p.bad("PPROF_ADDR", "a loopback host:port (the profiler is never public)")
	}
	if !slices.Contains([]string{Production, Development}, c.Env) {
		p.bad("APP_ENV", fmt.Sprintf("%q or %q", Production, Development))
	}
	if c.Env != Development && len(c.JWTSecret) < MinJWTSecretLen {
		p.bad("JWT_SECRET", fmt.Sprintf("a random secret of at least %d bytes", MinJWTSecretLen))
	}
}

// checkDatabaseURL reports setting name unless u is a connection string.
// pgx's message can echo the password: it names the problem only.
func checkDatabaseURL(p *problems, name, u string) {
	if u == "" {
		p.bad(name, "a PostgreSQL connection string")
	} else if _, err := pgxpool.ParseConfig(u); err != nil {
		p.bad(name, "a PostgreSQL connection string (URL or key=value)")
	}
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n <= 65535
}

// problems collects one message per variable: the first one found (a value
// that does not parse is not also reported as out of range).
type problems struct {
	environ map[string]string
	vars    map[string]Var
	byVar   map[string]string
	other   []string
}

// bad records that variable name is not what it should be. The value is
// quoted, except the connection strings' and JWT_SECRET's, which are
// secret.
func (p *problems) bad(name, expected string) {
	if _, done := p.byVar[name]; done {
		return
	}
	if p.byVar == nil {
		p.byVar = map[string]string{}
	}
	msg := name + ": expected " + expected
	if ex := p.vars[name].Example; ex != "" {
		msg += ", e.g. " + ex
	}
	value, set := p.environ[name]
	switch {
	case !set:
		msg += "; it is not set"
	case value == "":
		msg += "; it is empty"
	case strings.HasPrefix(name, "DATABASE_"): // may hold a password
		msg += "; the value set is not one"
	case name == "JWT_SECRET":
		msg += fmt.Sprintf("; it is %d bytes", len(value))
	default:
		msg += fmt.Sprintf("; got %q", value)
	}
	p.byVar[name] = msg
}

// fromParse records caarlos0/env's errors, one per variable.
// isLoopback reports whether addr is host:port with a loopback host.
func isLoopback(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func (p *problems) fromParse(err error) {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		p.other = append(p.other, err.Error())
		return
	}
	for _, e := range agg.Errors {
		var parse env.ParseError
		if !errors.As(e, &parse) {
			p.other = append(p.other, e.Error())
			continue
		}
		name := parse.Name
		for _, v := range p.vars {
			if v.field.Name == parse.Name {
				name = v.Name
			}
		}
		expected := expects(parse.Type)
		if parse.Type == reflect.TypeFor[origin.List]() {
			expected += ": " + parse.Err.Error() // which origin is wrong, and why
		}
		p.bad(name, expected)
	}
}

func expects(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[time.Duration]():
		return "a duration (a number with a unit: ms, s, m, h)"
	case reflect.TypeFor[slog.Level]():
		return "one of debug, info, warn, error"
	case reflect.TypeFor[[]netip.Prefix](), reflect.TypeFor[netip.Prefix]():
		return "a comma-separated list of CIDR prefixes"
	case reflect.TypeFor[[]string]():
		return "a comma-separated list"
	case reflect.TypeFor[bool]():
		return "true or false"
	case reflect.TypeFor[origin.List]():
		return "a comma-separated list of origins (scheme://host[:port], no path), or * for any"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int32, reflect.Int64:
		return "an integer"
	}
	return "a " + t.String()
}
