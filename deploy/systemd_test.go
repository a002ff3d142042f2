package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const (
	unitName   = "sophsAppApi.service"
	socketName = "sophsAppApi.socket"
)

// maxExposure is the highest `systemd-analyze security` score accepted
// for the unit (0 is fully sandboxed, 10 not at all).
const maxExposure = 1.5

// TestSystemdUnitVerifies runs `systemd-analyze verify` on the unit in a
// private root holding the distribution's units and a stand-in for the
// ExecStart binary. verify only warns (exit 0) about unknown keys and bad
// values, so any output at all fails the test.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze := requireTool(t, "systemd-analyze")
	root := t.TempDir()
	unitDir := filepath.Join(root, "etc", "systemd", "system")
	mustMkdir(t, unitDir)
	mustMkdir(t, filepath.Join(root, "lib", "systemd"))
	// The units the service refers to (network-online.target, ...).
	sysUnits := "/lib/systemd/system"
	if _, err := os.Stat(sysUnits); err != nil {
		sysUnits = "/usr/lib/systemd/system"
	}
	if out, err := exec.Command("cp", "-a", sysUnits, filepath.Join(root, "lib", "systemd", "system")).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v %s", sysUnits, err, out)
	}
	unit := readRepoFile(t, "deploy/systemd/"+unitName)
	writeFile(t, filepath.Join(unitDir, unitName), unit)
	writeFile(t, filepath.Join(unitDir, socketName), readRepoFile(t, "deploy/systemd/"+socketName))

	execStart := regexp.MustCompile(`(?m)^ExecStart=(\S+)`).FindStringSubmatch(unit)
	if execStart == nil {
		t.Fatal("the unit has no ExecStart")
	}
	bin := filepath.Join(root, execStart[1])
	mustMkdir(t, filepath.Dir(bin))
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	for _, name := range []string{unitName, socketName} {
		out, err := exec.Command(analyze, "verify", "--root="+root, name).CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", name, err, out)
		}
	}
}

// TestSystemdUnitSettings checks what the deployment relies on: the unit's
// name and the settings the runbook and the app's shutdown depend on.
func TestSystemdUnitSettings(t *testing.T) {
	unit := readRepoFile(t, "deploy/systemd/"+unitName)
	settings := map[string][]string{}
	for _, line := range strings.Split(unit, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			settings[k] = append(settings[k], v)
		}
	}
	for k, want := range map[string]string{
		"Type":             "notify",
		"NotifyAccess":     "main",
		"User":             "sophsapp",
		"WorkingDirectory": "/opt/sophsapp",
		"EnvironmentFile":  "/opt/sophsapp/.env",
		"ExecStart":        "/usr/local/bin/sophsapp serve",
		"Restart":          "on-failure",
		"KillSignal":       "SIGTERM",
		"Requires":         socketName,
	} {
		if got := settings[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	// systemd must wait longer than the app's graceful stop.
	stop := settings["TimeoutStopSec"]
	secs, err := strconv.Atoi(strings.TrimSuffix(strings.Join(stop, ""), "s"))
	shutdown := envExampleSeconds(t, "SHUTDOWN_TIMEOUT")
	if err != nil || secs <= shutdown {
		t.Errorf("TimeoutStopSec=%q must be longer than SHUTDOWN_TIMEOUT (%ds)", stop, shutdown)
	}
}

// TestSystemdUnitSecurity fails when the unit's sandboxing score, as
// computed by `systemd-analyze security --offline=yes`, exceeds
// maxExposure.
func TestSystemdUnitSecurity(t *testing.T) {
	analyze := requireTool(t, "systemd-analyze")
	dir := t.TempDir()
	path := filepath.Join(dir, unitName)
	writeFile(t, path, readRepoFile(t, "deploy/systemd/"+unitName))
	out, err := exec.Command(analyze, "security", "--offline=yes", "--no-pager", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for \S+: (\d+\.\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("exposure %.1f", score)
	if score > maxExposure {
		t.Errorf("exposure %.1f > %.1f:\n%s", score, maxExposure, out)
	}
}

// TestSystemdSocketMatchesNginx: the socket systemd holds for the app is
// the address Nginx proxies to.
func TestSystemdSocketMatchesNginx(t *testing.T) {
	listen := regexp.MustCompile(`(?m)^ListenStream=(\S+)$`).FindStringSubmatch(readRepoFile(t, "deploy/systemd/"+socketName))
	upstream := regexp.MustCompile(`(?m)^\s*server (\S+);$`).FindStringSubmatch(readRepoFile(t, "deploy/nginx/sophsapp.conf"))
	if listen == nil || upstream == nil || listen[1] != upstream[1] {
		t.Errorf("socket ListenStream %q, Nginx upstream server %q: they must match", listen, upstream)
	}
	if listen != nil && listen[1] != "127.0.0.1:5000" {
		t.Errorf("socket listens on %s: the API (and its /metrics) must stay on loopback 127.0.0.1:5000", listen[1])
	}
}

// envExampleSeconds returns a duration setting of .env.example in seconds.
func envExampleSeconds(t *testing.T, name string) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `=(\d+)s$`).FindStringSubmatch(readRepoFile(t, ".env.example"))
	if m == nil {
		t.Fatalf(".env.example has no %s=<n>s", name)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}
