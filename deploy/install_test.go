package deploy_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// runInstall runs deploy/install.sh against root with args.
func runInstall(t *testing.T, root string, args ...string) string {
	t.Helper()
	cmd := exec.Command("bash", append([]string{repoFile(t, "deploy/install.sh"), "--root", root}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("install.sh %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// TestInstallScript installs twice into a temporary root laid out like
// Debian's and checks the files, that the second run keeps the .env and
// the Nginx settings the operator edited, and that nothing outside the
// root is touched (every host command is only printed).
func TestInstallScript(t *testing.T) {
	root := t.TempDir()
	mustMkdir(t, filepath.Join(root, "etc/nginx/sites-available"))
	mustMkdir(t, filepath.Join(root, "etc/nginx/sites-enabled"))
	writeFile(t, filepath.Join(root, "etc/nginx/sites-available/default"), "server { listen 80 default_server; }\n")
	if err := os.Symlink("/etc/nginx/sites-available/default", filepath.Join(root, "etc/nginx/sites-enabled/default")); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "sophsapp")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho v1\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	out := runInstall(t, root, "--domain", "api.example.test", "--binary", bin)

	wantSame := map[string]string{
		"usr/local/bin/sophsapp":                      bin,
		"etc/systemd/system/sophsAppApi.service":      repoFile(t, "deploy/systemd/sophsAppApi.service"),
		"etc/systemd/system/sophsAppApi.socket":       repoFile(t, "deploy/systemd/sophsAppApi.socket"),
		"etc/systemd/system/sophsAppApi@.service":     repoFile(t, "deploy/systemd/sophsAppApi@.service"),
		"etc/systemd/system/sophsAppApi@.socket":      repoFile(t, "deploy/systemd/sophsAppApi@.socket"),
		"etc/nginx/snippets/sophsapp-upstream.conf":   repoFile(t, "deploy/nginx/sophsapp-upstream.conf"),
		"etc/nginx/sites-available/sophsapp.conf":     repoFile(t, "deploy/nginx/sophsapp.conf"),
		"usr/local/sbin/sophsapp-certbot-deploy-hook": repoFile(t, "deploy/certbot/sophsapp-deploy-hook"),
		"etc/sysctl.d/90-sophsapp.conf":               repoFile(t, "deploy/sysctl/90-sophsapp.conf"),
	}
	for rel, src := range wantSame {
		assertSameFile(t, filepath.Join(root, rel), src)
	}
	assertMode(t, filepath.Join(root, "usr/local/bin/sophsapp"), 0o755)
	assertMode(t, filepath.Join(root, "opt/sophsapp"), 0o750|os.ModeDir)
	assertMode(t, filepath.Join(root, "opt/sophsapp/.env"), 0o640)
	if st, err := os.Stat(filepath.Join(root, "var/www/sophsapp-acme/.well-known/acme-challenge")); err != nil || !st.IsDir() {
		t.Errorf("ACME webroot not created: %v", err)
	}
	// The parent of the site's proxy_cache_path: Nginx creates only the
	// last component.
	assertMode(t, filepath.Join(root, "var/cache/nginx"), 0o755|os.ModeDir)
	if link, err := os.Readlink(filepath.Join(root, "etc/nginx/sites-enabled/sophsapp.conf")); err != nil || link != "/etc/nginx/sites-available/sophsapp.conf" {
		t.Errorf("site not enabled: %q %v", link, err)
	}
	if _, err := os.Lstat(filepath.Join(root, "etc/nginx/sites-enabled/default")); !os.IsNotExist(err) {
		t.Errorf("Debian's default site (default_server on port 80 too) is still enabled: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/nginx/sites-available/default")); err != nil {
		t.Errorf("the default site itself was removed: %v", err)
	}

	// The per-host settings carry the domain; the rest is the shipped file.
	settings := readFile(t, filepath.Join(root, "etc/nginx/snippets/sophsapp-site.conf"))
	if want := strings.Replace(readRepoFile(t, "deploy/nginx/sophsapp-site.conf"), "server_name api.example.com;", "server_name api.example.test;", 1); settings != want {
		t.Errorf("settings:\n%s\nwant:\n%s", settings, want)
	}

	// The .env is .env.example with a fresh secret.
	env := readFile(t, filepath.Join(root, "opt/sophsapp/.env"))
	secret := regexp.MustCompile(`(?m)^JWT_SECRET=(.*)$`).FindStringSubmatch(env)
	if secret == nil || len(secret[1]) < 32 {
		t.Errorf("JWT_SECRET not generated: %q", secret)
	}
	if strings.Replace(env, secret[0], "JWT_SECRET=", 1) != readRepoFile(t, ".env.example") {
		t.Errorf(".env differs from .env.example beyond JWT_SECRET:\n%s", env)
	}

	// Host commands are printed, not run. A fresh .env still needs a
	// DATABASE_URL, so the service is not migrated nor started yet.
	for _, want := range []string{"would run: useradd", "would run: nginx -t", "would run: systemctl reload nginx", "would run: systemctl daemon-reload", "would run: systemctl enable sophsAppApi.service sophsAppApi.socket", "would run: openssl req", "would run: sysctl -q -e -p /etc/sysctl.d/90-sophsapp.conf"} {
		if !strings.Contains(out, want) {
			t.Errorf("first run does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "migrate") && strings.Contains(out, "would run: systemd-run") {
		t.Errorf("first run migrates with an unedited .env:\n%s", out)
	}

	// The operator edits the .env and the settings, and a new binary is
	// deployed.
	edited := strings.Replace(env, "\nDATABASE_URL=\n", "\nDATABASE_URL=postgres://sophsapp:s3cret@127.0.0.1:5432/sophsapp\n", 1)
	if edited == env {
		t.Fatal(".env.example has no empty DATABASE_URL= line for the operator to fill in")
	}
	writeFile(t, filepath.Join(root, "opt/sophsapp/.env"), edited)
	if err := os.Chmod(filepath.Join(root, "opt/sophsapp/.env"), 0o640); err != nil {
		t.Fatal(err)
	}
	editedSettings := settings + "# edited by the operator\n"
	writeFile(t, filepath.Join(root, "etc/nginx/snippets/sophsapp-site.conf"), editedSettings)
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho v2\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	out = runInstall(t, root, "--binary", bin) // no --domain needed any more

	if got := readFile(t, filepath.Join(root, "opt/sophsapp/.env")); got != edited {
		t.Errorf("second run changed the .env:\n%s", got)
	}
	if got := readFile(t, filepath.Join(root, "etc/nginx/snippets/sophsapp-site.conf")); got != editedSettings {
		t.Errorf("second run changed the Nginx settings:\n%s", got)
	}
	assertSameFile(t, filepath.Join(root, "usr/local/bin/sophsapp"), bin)
	for rel, src := range wantSame {
		assertSameFile(t, filepath.Join(root, rel), src)
	}
	for _, want := range []string{"kept existing /opt/sophsapp/.env", "would run: systemd-run", "--uid=sophsapp", "--property=EnvironmentFile=/opt/sophsapp/.env", "/usr/local/bin/sophsapp migrate", "would run: systemctl start sophsAppApi.socket", "would run: systemctl restart sophsAppApi.service", "would run: curl -fsS --max-time 5 -o /dev/null http://127.0.0.1:5000/api/health"} {
		if !strings.Contains(out, want) {
			t.Errorf("second run does not say %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "sophsapp migrate") > strings.Index(out, "systemctl restart sophsAppApi") {
		t.Errorf("second run restarts before migrating:\n%s", out)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "opt/sophsapp"))
	if len(entries) != 1 {
		t.Errorf("leftover files in /opt/sophsapp: %v", entries)
	}
}

// TestInstallScriptInstances installs with --instances: the upstream lists
// one server per port, later runs without the option keep the list and
// restart the instances one after the other with a health check between,
// and --instances single goes back to the single unit.
func TestInstallScriptInstances(t *testing.T) {
	root := t.TempDir()
	mustMkdir(t, filepath.Join(root, "etc/nginx/sites-available"))
	bin := filepath.Join(t.TempDir(), "sophsapp")
	writeFile(t, bin, "#!/bin/sh\n")
	upstream := filepath.Join(root, "etc/nginx/snippets/sophsapp-upstream.conf")

	out := runInstall(t, root, "--domain", "api.example.test", "--binary", bin, "--instances", "5000,5001")
	// The shipped file with the instances in place of its server line, and
	// a first line install.sh reads back on later runs.
	want := "# instances: 5000,5001\n" + strings.Replace(readRepoFile(t, "deploy/nginx/sophsapp-upstream.conf"),
		"\nserver 127.0.0.1:5000 max_fails=0;\n", "\nserver 127.0.0.1:5000 max_fails=0;\nserver 127.0.0.1:5001 max_fails=0;\n", 1)
	if got := readFile(t, upstream); got != want {
		t.Errorf("upstream:\n%s\nwant:\n%s", got, want)
	}
	for _, want := range []string{
		"would run: systemctl disable --now sophsAppApi.service sophsAppApi.socket",
		"would run: systemctl enable sophsAppApi@5000.socket sophsAppApi@5000.service",
		"would run: systemctl enable sophsAppApi@5001.socket sophsAppApi@5001.service",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("first run does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "would run: systemctl enable sophsAppApi.service") {
		t.Errorf("the single unit is enabled next to the instances:\n%s", out)
	}

	// A deploy without --instances keeps the list and rolls through it.
	env := filepath.Join(root, "opt/sophsapp/.env")
	writeFile(t, env, strings.Replace(readFile(t, env), "change-me", "s3cret", 1))
	out = runInstall(t, root, "--binary", bin)
	if got := readFile(t, upstream); got != want {
		t.Errorf("a run without --instances changed the upstream:\n%s", got)
	}
	steps := []string{
		"kept existing /etc/nginx/snippets/sophsapp-upstream.conf (instances on ports 5000 5001)",
		"/usr/local/bin/sophsapp migrate",
		"would run: systemctl start sophsAppApi@5000.socket",
		"would run: systemctl restart sophsAppApi@5000.service",
		"would run: curl -fsS --max-time 5 -o /dev/null http://127.0.0.1:5000/api/health",
		"would run: systemctl start sophsAppApi@5001.socket",
		"would run: systemctl restart sophsAppApi@5001.service",
		"would run: curl -fsS --max-time 5 -o /dev/null http://127.0.0.1:5001/api/health",
	}
	at := 0
	for _, step := range steps {
		i := strings.Index(out[at:], step)
		if i < 0 {
			t.Fatalf("second run does not say %q after the previous steps:\n%s", step, out)
		}
		at += i + len(step)
	}
	if strings.Contains(out, "restart sophsAppApi.service") {
		t.Errorf("second run restarts the single unit:\n%s", out)
	}

	// Fewer instances, then back to the single unit.
	out = runInstall(t, root, "--binary", bin, "--instances", "5000")
	if !strings.Contains(out, "would run: systemctl disable --now sophsAppApi@5001.socket sophsAppApi@5001.service") ||
		strings.Contains(out, "disable --now sophsAppApi@5000") {
		t.Errorf("dropping 5001 from the list:\n%s", out)
	}
	out = runInstall(t, root, "--binary", bin, "--instances", "single")
	assertSameFile(t, upstream, repoFile(t, "deploy/nginx/sophsapp-upstream.conf"))
	for _, want := range []string{
		"would run: systemctl disable --now sophsAppApi@5000.socket sophsAppApi@5000.service",
		"would run: systemctl enable sophsAppApi.service sophsAppApi.socket",
		"would run: systemctl restart sophsAppApi.service",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("--instances single does not say %q:\n%s", want, out)
		}
	}
}

// TestInstallScriptConfD installs on a host without sites-available
// (Amazon Linux, RHEL): the site goes to conf.d.
func TestInstallScriptConfD(t *testing.T) {
	root := t.TempDir()
	bin := filepath.Join(t.TempDir(), "sophsapp")
	writeFile(t, bin, "#!/bin/sh\n")
	runInstall(t, root, "--domain", "api.example.test", "--binary", bin)
	assertSameFile(t, filepath.Join(root, "etc/nginx/conf.d/sophsapp.conf"), repoFile(t, "deploy/nginx/sophsapp.conf"))
	if _, err := os.Stat(filepath.Join(root, "etc/nginx/sites-enabled")); !os.IsNotExist(err) {
		t.Errorf("sites-enabled created on a conf.d host: %v", err)
	}
}

// TestInstallScriptRefusesBadInput: no domain on a first install, or a
// missing binary, stop the script before it writes anything.
func TestInstallScriptRefusesBadInput(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "sophsapp")
	writeFile(t, bin, "#!/bin/sh\n")
	for name, args := range map[string][]string{
		"no domain":  {"--binary", bin},
		"bad domain": {"--binary", bin, "--domain", "x; rm -rf /"},
		"no binary":  {"--binary", bin + ".missing", "--domain", "api.example.test"},
		"bad port":   {"--binary", bin, "--domain", "api.example.test", "--instances", "5000,80"},
		"not a port": {"--binary", bin, "--domain", "api.example.test", "--instances", "5000,x"},
		"twice":      {"--binary", bin, "--domain", "api.example.test", "--instances", "5000,5000"},
		"empty list": {"--binary", bin, "--domain", "api.example.test", "--instances", ","},
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			cmd := exec.Command("bash", append([]string{repoFile(t, "deploy/install.sh"), "--root", root}, args...)...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("install.sh succeeded:\n%s", out)
			}
			if _, err := os.Stat(filepath.Join(root, "etc/nginx/snippets/sophsapp-site.conf")); !os.IsNotExist(err) {
				t.Errorf("settings written despite the error: %v", err)
			}
		})
	}
}

// TestCertbotDeployHook runs the hook as certbot would, with stand-ins
// for nginx and systemctl: it links the certificate and reloads Nginx
// after checking its configuration.
func TestCertbotDeployHook(t *testing.T) {
	dir := t.TempDir()
	lineage := filepath.Join(dir, "letsencrypt/live/api.example.test")
	tlsDir := filepath.Join(dir, "tls")
	stubs := filepath.Join(dir, "bin")
	calls := filepath.Join(dir, "calls")
	mustMkdir(t, lineage)
	mustMkdir(t, stubs)
	writeFile(t, filepath.Join(lineage, "fullchain.pem"), "chain")
	writeFile(t, filepath.Join(lineage, "privkey.pem"), "key")
	// A placeholder like the one install.sh makes, to be replaced.
	mustMkdir(t, tlsDir)
	writeFile(t, filepath.Join(tlsDir, "fullchain.pem"), "self-signed")
	for _, name := range []string{"nginx", "systemctl"} {
		if err := os.WriteFile(filepath.Join(stubs, name), []byte("#!/bin/sh\necho \""+name+" $*\" >> "+calls+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	hook := repoFile(t, "deploy/certbot/sophsapp-deploy-hook")
	run := func(env ...string) ([]byte, error) {
		cmd := exec.Command(hook)
		cmd.Env = append([]string{"PATH=" + stubs + ":/usr/bin:/bin", "SOPHSAPP_TLS_DIR=" + tlsDir}, env...)
		return cmd.CombinedOutput()
	}

	if out, err := run("RENEWED_LINEAGE=" + lineage); err != nil {
		t.Fatalf("hook: %v\n%s", err, out)
	}
	for _, f := range []string{"fullchain.pem", "privkey.pem"} {
		if link, err := os.Readlink(filepath.Join(tlsDir, f)); err != nil || link != filepath.Join(lineage, f) {
			t.Errorf("%s -> %q (%v), want %s", f, link, err, filepath.Join(lineage, f))
		}
	}
	if got := readFile(t, calls); got != "nginx -t -q\nsystemctl reload nginx\n" {
		t.Errorf("commands run:\n%s", got)
	}

	// Outside certbot, or with a broken lineage, it changes nothing.
	os.Remove(calls)
	if out, err := run(); err == nil {
		t.Errorf("hook ran without RENEWED_LINEAGE:\n%s", out)
	}
	if out, err := run("RENEWED_LINEAGE=" + filepath.Join(dir, "nope")); err == nil {
		t.Errorf("hook accepted a missing lineage:\n%s", out)
	}
	if _, err := os.Stat(calls); !os.IsNotExist(err) {
		t.Errorf("nginx or systemctl called in a failed run: %s", readFile(t, calls))
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func assertSameFile(t *testing.T, got, want string) {
	t.Helper()
	a, err := os.ReadFile(got)
	if err != nil {
		t.Error(err)
		return
	}
	if b := readFile(t, want); string(a) != b {
		t.Errorf("%s differs from %s", got, want)
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Error(err)
		return
	}
	if st.Mode() != want {
		t.Errorf("%s: mode %s, want %s", path, st.Mode(), want)
	}
}

// TestSysctlSettings checks the shipped kernel settings: every line a
// comment or "key = value", and autogroup scheduling off.
func TestSysctlSettings(t *testing.T) {
	got := map[string]string{}
	for i, line := range strings.Split(readRepoFile(t, "deploy/sysctl/90-sophsapp.conf"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !ok || key == "" || value == "" || strings.ContainsAny(key, " \t") {
			t.Errorf("line %d is not key = value: %q", i+1, line)
			continue
		}
		got[key] = value
	}
	if got["kernel.sched_autogroup_enabled"] != "0" {
		t.Errorf("kernel.sched_autogroup_enabled = %q, want 0", got["kernel.sched_autogroup_enabled"])
	}
}
