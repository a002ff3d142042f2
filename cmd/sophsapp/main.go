// Command sophsapp runs the sophsapp API: `sophsapp serve`, `sophsapp
// migrate` and `sophsapp version`.
package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sophsapp/sophsapp/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal starts a graceful stop; a second one, back to the
	// default action, ends the process at once.
	context.AfterFunc(ctx, stop)
	err := app.Run(ctx, os.Args, environ(), os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, app.ErrUsage):
		os.Exit(2)
	case err != nil:
		os.Exit(1)
	}
}

func environ() map[string]string {
	env := make(map[string]string)
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}
