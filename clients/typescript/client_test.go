// Package client_test checks the TypeScript client package: it compiles
// under strict settings, and its node:test suite drives a live server
// through the built package.
package client_test

import (
	"testing"
	"time"

	"github.com/sophsapp/sophsapp/internal/apptest"
	"github.com/sophsapp/sophsapp/internal/nodetest"
	"github.com/sophsapp/sophsapp/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestTypeScriptClient builds the package (dist/ with types), type-checks
// the package and its tests in strict mode (tsc --noEmit), and runs the
// tests, compiled against the built package, on a real server.
func TestTypeScriptClient(t *testing.T) {
	dir := nodetest.Require(t, ".")
	a := apptest.Start(t, nil)

	tsc := "node_modules/.bin/tsc"
	nodetest.Run(t, 3*time.Minute, dir, nil, tsc, "-p", "tsconfig.build.json")
	nodetest.Run(t, 3*time.Minute, dir, nil, tsc, "--noEmit", "-p", "tsconfig.json")
	nodetest.Run(t, 3*time.Minute, dir, nil, tsc, "-p", "tsconfig.test.json")
	out := nodetest.Run(t, 3*time.Minute, dir, []string{"SOPHSAPP_URL=" + a.URL}, "node", "--test", "--test-reporter=spec", "build/")
	t.Logf("node --test:\n%s", out)
}
