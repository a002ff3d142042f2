// Package app is the sophsapp command: it reads the configuration and runs
// the serve, migrate and version subcommands.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"time"

	"github.com/joho/godotenv"

	"github.com/sophsapp/sophsapp/internal/config"
	"github.com/sophsapp/sophsapp/internal/database"
)

// version is set at build time with
// -ldflags "-X github.com/sophsapp/sophsapp/internal/app.version=...".
var version = "dev"

// Version returns the build's version.
func Version() string { return version }

// ErrUsage marks a bad command line; main exits 2 for it.
var ErrUsage = errors.New("usage")

const usage = `usage: sophsapp <command>

commands:
  serve     run the HTTP API (migrates first when MIGRATE_ON_START=true)
  migrate   apply pending database migrations and exit
  version   print the version

Configuration comes from the environment and from ./.env when present;
see .env.example.
`

// Run runs the command named by args[1]. environ holds the process
// environment; a .env file in the working directory fills in variables the
// environment does not set. Errors other than ErrUsage are also written to
// stderr.
func Run(ctx context.Context, args []string, environ map[string]string, stdout, stderr io.Writer) error {
	err := run(ctx, args, environ, stdout, stderr)
	if err != nil && !errors.Is(err, ErrUsage) {
		fmt.Fprintln(stderr, "sophsapp:", err)
	}
	return err
}

func run(ctx context.Context, args []string, environ map[string]string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return ErrUsage
	}
	cmd := args[1]
	fs := flag.NewFlagSet("sophsapp "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args[2:]); err != nil {
		return ErrUsage
	}
	switch cmd {
	case "version":
		fmt.Fprintln(stdout, version)
		return nil
	case "serve", "migrate":
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", cmd, usage)
		return ErrUsage
	}

	env, err := withDotEnv(environ, ".env")
	if err != nil {
		return err
	}
	cfg, err := config.Load(env)
	if err != nil {
		return err
	}
	log := NewLogger(stdout, cfg.LogLevel)
	if cmd == "migrate" {
		return migrate(ctx, cfg, log)
	}
	return Serve(ctx, cfg, nil, log)
}

// withDotEnv returns environ with the variables of file added where environ
// lacks them. A missing file is not an error.
func withDotEnv(environ map[string]string, file string) (map[string]string, error) {
	fromFile, err := godotenv.Read(file)
	if errors.Is(err, os.ErrNotExist) {
		return environ, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	out := maps.Clone(fromFile)
	maps.Copy(out, environ)
	return out, nil
}

// NewLogger returns the JSON logger every line of the service goes through,
// with UTC timestamps.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				a.Value = slog.TimeValue(a.Value.Time().UTC())
			}
			return a
		},
	}))
}

func migrate(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	url, what := cfg.MigrationURL()
	if err := database.MigrateAt(ctx, url, what, log); err != nil {
		return err
	}
	log.Info("database is up to date")
	return nil
}
