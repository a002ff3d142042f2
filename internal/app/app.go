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
	"text/tabwriter"
	"time"

	"github.com/joho/godotenv"

	"github.com/sophsapp/sophsapp/internal/config"
	"github.com/sophsapp/sophsapp/internal/database"
)

// version is set at build time with
// -ldflags "-X github.com/sophsapp/sophsapp/internal/app.version=...".
var version = "dev"

// ErrUsage marks a bad command line; main exits 2 for it.
var ErrUsage = errors.New("usage")

const usage = `sophsapp serves the Conduit (RealWorld) JSON API from PostgreSQL.

usage: sophsapp <command> [-h]

commands:
  serve     run the HTTP API (migrates first when MIGRATE_ON_START=true)
  migrate   apply pending database migrations and exit
  version   print the version (also: sophsapp --version)
  help      print this text; "sophsapp help <command>" describes a command
            and lists the settings it reads, with their defaults

Settings are environment variables, also read from ./.env when present
(variables set in the environment win); .env.example documents them.
`

// commands describes each command for `sophsapp help <command>`.
var commands = map[string]string{
	config.Serve: `Runs the HTTP API on LISTEN_ADDR, or on the socket systemd passes
(socket activation), until SIGTERM or SIGINT. It then drains for
SHUTDOWN_DRAIN (it keeps serving, each answer closes its connection and
/api/health answers 503 "draining"), stops accepting connections and lets
in-flight requests finish within SHUTDOWN_TIMEOUT. A second signal stops
it at once. It starts while the database is unreachable (and says so in
its log); requests that need the database answer 503 until it answers.`,
	config.Migrate: `Applies the pending migrations embedded in the binary (schema/) and
exits. Several instances may run it at once: a PostgreSQL advisory lock
serialises them.`,
	"version": `Prints the version of this build.`,
}

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
	switch cmd {
	case "help", "-h", "-help", "--help":
		if len(args) > 2 {
			return help(args[2], stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return nil
	case "--version", "-version":
		cmd = "version"
	}
	if _, ok := commands[cmd]; !ok {
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", cmd, usage)
		return ErrUsage
	}
	fs := flag.NewFlagSet("sophsapp "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	if err := fs.Parse(args[2:]); errors.Is(err, flag.ErrHelp) {
		return help(cmd, stdout, stderr)
	} else if err != nil || fs.NArg() > 0 {
		if err == nil {
			fmt.Fprintf(stderr, "%s takes no arguments, got %q\n", cmd, fs.Args())
		}
		fmt.Fprintf(stderr, "see: sophsapp help %s\n", cmd)
		return ErrUsage
	}
	if cmd == "version" {
		fmt.Fprintln(stdout, version)
		return nil
	}

	env, err := withDotEnv(environ, ".env")
	if err != nil {
		return err
	}
	cfg, err := config.LoadFor(cmd, env)
	if err != nil {
		return err
	}
	// Log lines are written by a goroutine of their own (logwriter.go),
	// and all of them are out before Run returns.
	out := newAsyncWriter(stdout, logBufferLimit)
	defer out.Close()
	if cmd == config.Migrate {
		return migrate(ctx, cfg, NewLogger(out, cfg.LogLevel))
	}
	if err := tuneGC(env); err != nil {
		return err
	}
	return Serve(ctx, cfg, nil, out)
}

// help describes command and the settings it reads, derived from
// config.Config so that every setting appears with its default.
func help(cmd string, stdout, stderr io.Writer) error {
	text, ok := commands[cmd]
	if !ok {
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", cmd, usage)
		return ErrUsage
	}
	fmt.Fprintf(stdout, "usage: sophsapp %s\n\n%s\n", cmd, text)
	vars := config.VarsOf(cmd)
	if len(vars) == 0 {
		return nil
	}
	fmt.Fprint(stdout, "\nSettings (environment variables, also read from ./.env; the environment wins):\n\n")
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  VARIABLE\tDEFAULT\tMEANING")
	for _, v := range vars {
		def := v.Default
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", v.Name, def, v.Description)
	}
	return tw.Flush()
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
	return slog.New(utcHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})})
}

func migrate(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	url, what := cfg.DirectURL()
	if err := database.MigrateAt(ctx, url, what, log); err != nil {
		return err
	}
	log.Info("database is up to date")
	return nil
}
