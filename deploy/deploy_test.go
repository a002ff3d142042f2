// Package deploy_test proves the deployment kit in deploy/: the shipped
// Nginx site in front of the real app and PostgreSQL, the systemd unit's
// validity and sandboxing score, the install script and the certbot hook.
package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sophsapp/sophsapp/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// requireTool returns the path of an external program the test needs. Its
// absence skips the test on a developer machine but fails it in CI (CI is
// set), where the packages are installed.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	// Debian keeps nginx in /usr/sbin, which a non-root PATH may lack.
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if c := filepath.Join(dir, name); isExecutable(c) {
			return c
		}
	}
	if os.Getenv("CI") == "" {
		t.Skipf("%s is not installed (Debian/Ubuntu: apt-get install %s); CI fails instead of skipping", name, pkgOf(name))
	}
	t.Fatalf("%s is not installed but CI is set: install the %s package", name, pkgOf(name))
	return ""
}

func pkgOf(tool string) string {
	if tool == "systemd-analyze" {
		return "systemd"
	}
	return tool
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// repoFile returns the path of a file of the repository (go test runs in
// the package's directory, deploy/).
func repoFile(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(repoFile(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
