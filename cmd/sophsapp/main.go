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
	"time"

	"github.com/sophsapp/sophsapp/internal/app"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	// Caught from here on, before anything else starts. A shell starts
	// background commands with SIGINT ignored, which Notify overrides.
	interruptIgnored := signal.Ignored(os.Interrupt)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go onSignals(sigs, cancel, interruptIgnored)
	err := app.Run(ctx, os.Args, environ(), os.Stdout, os.Stderr)
	cancel()
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

// onSignals calls stop on the first SIGINT or SIGTERM from sigs, which
// starts a graceful stop, and ends the process at once on the second, by
// that signal's default action (as if the program had not caught it), or
// with status 128 + the signal's number when that action is to ignore it
// (SIGINT, when interruptIgnored). Both arrive on the one channel, which
// has room for both, so a second signal sent right after the first is
// never lost while the graceful stop sets up.
func onSignals(sigs <-chan os.Signal, stop context.CancelFunc, interruptIgnored bool) {
	<-sigs
	stop()
	sig := (<-sigs).(syscall.Signal)
	signal.Reset(os.Interrupt, syscall.SIGTERM)
	if sig != syscall.SIGINT || !interruptIgnored {
		_ = syscall.Kill(os.Getpid(), sig)
		// The kernel ends the process before this returns; the exit
		// below is for a signal that somehow did not.
		time.Sleep(100 * time.Millisecond)
	}
	os.Exit(128 + int(sig))
}
