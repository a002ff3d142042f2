package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const (
	unitName   = "sophsAppApi.service"
	socketName = "sophsAppApi.socket"
	// The templates for several instances, one per port, and the name of
	// the instance the tests check.
	templateName       = "sophsAppApi@.service"
	socketTemplateName = "sophsAppApi@.socket"
	instanceUnit       = "sophsAppApi@5001.service"
	instanceSocket     = "sophsAppApi@5001.socket"
)

// maxExposure is the highest `systemd-analyze security` score accepted
// for the unit (0 is fully sandboxed, 10 not at all).
const maxExposure = 1.5

// TestSystemdUnitVerifies runs `systemd-analyze verify` on the units (the
// single one, its socket, and an instance of each template) in a private
// root holding the distribution's units and a stand-in for the ExecStart
// binary. verify only warns (exit 0) about unknown keys and bad values, so
// any output at all fails the test.
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
	for _, name := range []string{socketName, templateName, socketTemplateName} {
		writeFile(t, filepath.Join(unitDir, name), readRepoFile(t, "deploy/systemd/"+name))
	}

	execStart := regexp.MustCompile(`(?m)^ExecStart=(\S+)`).FindStringSubmatch(unit)
	if execStart == nil {
		t.Fatal("the unit has no ExecStart")
	}
	bin := filepath.Join(root, execStart[1])
	mustMkdir(t, filepath.Dir(bin))
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	for _, name := range []string{unitName, socketName, instanceUnit, instanceSocket} {
		out, err := exec.Command(analyze, "verify", "--root="+root, name).CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", name, err, out)
		}
	}
}

// TestSystemdUnitSettings checks what the deployment relies on: the unit's
// name and the settings the runbook and the app's shutdown depend on.
func TestSystemdUnitSettings(t *testing.T) {
	settings := unitSettings(readRepoFile(t, "deploy/systemd/"+unitName))
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
	// systemd must wait longer than the app's graceful stop: the drain,
	// then the shutdown.
	stop := settings["TimeoutStopSec"]
	secs, err := strconv.Atoi(strings.TrimSuffix(strings.Join(stop, ""), "s"))
	drain, shutdown := envExampleSeconds(t, "SHUTDOWN_DRAIN"), envExampleSeconds(t, "SHUTDOWN_TIMEOUT")
	if err != nil || secs <= drain+shutdown {
		t.Errorf("TimeoutStopSec=%q must be longer than SHUTDOWN_DRAIN + SHUTDOWN_TIMEOUT (%ds + %ds)", stop, drain, shutdown)
	}
}

// TestSystemdUnitSecurity fails when the sandboxing score of the unit or
// of an instance of the template, as computed by `systemd-analyze security
// --offline=yes`, exceeds maxExposure.
func TestSystemdUnitSecurity(t *testing.T) {
	analyze := requireTool(t, "systemd-analyze")
	for file, name := range map[string]string{unitName: unitName, templateName: instanceUnit} {
		dir := t.TempDir()
		path := filepath.Join(dir, name)
		writeFile(t, path, readRepoFile(t, "deploy/systemd/"+file))
		out, err := exec.Command(analyze, "security", "--offline=yes", "--no-pager", path).CombinedOutput()
		if err != nil {
			t.Fatalf("systemd-analyze security %s: %v\n%s", name, err, out)
		}
		m := regexp.MustCompile(`Overall exposure level for \S+: (\d+\.\d+)`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("%s: no exposure level in:\n%s", name, out)
		}
		score, _ := strconv.ParseFloat(string(m[1]), 64)
		t.Logf("%s: exposure %.1f", name, score)
		if score > maxExposure {
			t.Errorf("%s: exposure %.1f > %.1f:\n%s", name, score, maxExposure, out)
		}
	}
}

// TestSystemdTemplateMatchesUnit: an instance of sophsAppApi@.service runs
// exactly as sophsAppApi.service does (same user, environment file,
// sandboxing, stop timeout), on the socket of its own instance, and
// sophsAppApi@.socket listens on loopback at the instance's port. Neither
// socket is PartOf= its service: PartOf= propagates restarts, and
// restarting the socket would close it, refusing connections and dropping
// those waiting in its backlog, while the service restarts.
func TestSystemdTemplateMatchesUnit(t *testing.T) {
	unit := unitSections(readRepoFile(t, "deploy/systemd/"+unitName))
	tmpl := unitSections(readRepoFile(t, "deploy/systemd/"+templateName))
	for _, sec := range []string{"Service", "Install"} {
		if !slices.Equal(tmpl[sec], unit[sec]) {
			t.Errorf("[%s] of %s differs from %s's:\n%s\nwant:\n%s", sec, templateName, unitName,
				strings.Join(tmpl[sec], "\n"), strings.Join(unit[sec], "\n"))
		}
	}
	wantUnit := slices.Clone(unit["Unit"])
	for i, line := range wantUnit {
		switch {
		case strings.HasPrefix(line, "Description="):
			wantUnit[i] += " on 127.0.0.1:%i"
		case strings.HasPrefix(line, "Requires="), strings.HasPrefix(line, "After="):
			wantUnit[i] = strings.ReplaceAll(line, socketName, "sophsAppApi@%i.socket")
		}
	}
	if !slices.Equal(tmpl["Unit"], wantUnit) {
		t.Errorf("[Unit] of %s:\n%s\nwant:\n%s", templateName, strings.Join(tmpl["Unit"], "\n"), strings.Join(wantUnit, "\n"))
	}
	// The port comes from the socket: an Environment=LISTEN_ADDR would lose
	// to the one in EnvironmentFile= anyway.
	if s := unitSettings(readRepoFile(t, "deploy/systemd/"+templateName)); s["Environment"] != nil {
		t.Errorf("%s sets Environment=%q: the address is the socket's ListenStream=", templateName, s["Environment"])
	}

	sock := unitSettings(readRepoFile(t, "deploy/systemd/"+socketName))
	tsock := unitSettings(readRepoFile(t, "deploy/systemd/"+socketTemplateName))
	if got := tsock["ListenStream"]; len(got) != 1 || got[0] != "127.0.0.1:%i" {
		t.Errorf("%s: ListenStream=%q, want 127.0.0.1:%%i", socketTemplateName, got)
	}
	for _, k := range []string{"NoDelay", "WantedBy"} {
		if !slices.Equal(tsock[k], sock[k]) {
			t.Errorf("%s: %s=%q, %s has %q", socketTemplateName, k, tsock[k], socketName, sock[k])
		}
	}
	for name, s := range map[string]map[string][]string{socketName: sock, socketTemplateName: tsock} {
		if s["PartOf"] != nil {
			t.Errorf("%s: PartOf=%q: restarting the service would restart, and so close, the socket", name, s["PartOf"])
		}
		if s["Accept"] != nil {
			t.Errorf("%s: Accept=%q: the one service process must get the listening socket", name, s["Accept"])
		}
	}
}

// TestSystemdSocketMatchesNginx: the socket systemd holds for the app is
// the address Nginx proxies to by default, and the site takes its servers
// from the upstream file, the one place listing the instances.
func TestSystemdSocketMatchesNginx(t *testing.T) {
	listen := regexp.MustCompile(`(?m)^ListenStream=(\S+)$`).FindStringSubmatch(readRepoFile(t, "deploy/systemd/"+socketName))
	servers := regexp.MustCompile(`(?m)^server (\S+) max_fails=0;$`).FindAllStringSubmatch(readRepoFile(t, "deploy/nginx/sophsapp-upstream.conf"), -1)
	if listen == nil || len(servers) != 1 || listen[1] != servers[0][1] {
		t.Errorf("socket ListenStream %q, Nginx upstream servers %q: the default is the one instance on the socket", listen, servers)
	}
	if listen != nil && listen[1] != "127.0.0.1:5000" {
		t.Errorf("socket listens on %s: the API (and its /metrics) must stay on loopback 127.0.0.1:5000", listen[1])
	}
	site := readRepoFile(t, "deploy/nginx/sophsapp.conf")
	if n := len(regexp.MustCompile(`(?m)^\s*server\s+\S+.*;`).FindAllString(site, -1)); n != 0 {
		t.Errorf("sophsapp.conf has %d server lines of its own: list the instances in sophsapp-upstream.conf only", n)
	}
	if !strings.Contains(site, "upstream sophsapp {\n    include /etc/nginx/snippets/sophsapp-upstream.conf;\n") {
		t.Error("sophsapp.conf's upstream does not include /etc/nginx/snippets/sophsapp-upstream.conf")
	}
}

// unitSettings returns a unit file's settings, key → values in order.
func unitSettings(unit string) map[string][]string {
	settings := map[string][]string{}
	for _, line := range strings.Split(unit, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			settings[k] = append(settings[k], v)
		}
	}
	return settings
}

// unitSections returns a unit file's setting lines per section, without
// comments and blank lines.
func unitSections(unit string) map[string][]string {
	sections := map[string][]string{}
	sec := ""
	for _, line := range strings.Split(unit, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			sec = strings.Trim(line, "[]")
		default:
			sections[sec] = append(sections[sec], line)
		}
	}
	return sections
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
