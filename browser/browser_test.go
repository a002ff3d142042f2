// Package browser_test proves in a real browser (Debian's Chromium, driven
// by playwright-core through drive.mjs) what a frontend team relies on: a
// page on another origin can call the API, a page on a disallowed origin
// cannot, and the API reference renders every operation of the spec.
package browser_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/internal/apptest"
	"github.com/sophsapp/sophsapp/internal/nodetest"
	"github.com/sophsapp/sophsapp/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// chromiumPath is Debian's package; the tests never download a browser.
const chromiumPath = "/usr/bin/chromium"

// startChromium runs headless Chromium with a fresh profile until the test
// ends and returns its DevTools WebSocket URL. The browser and everything
// it starts share one process group, killed at cleanup, and die with the
// test process (Pdeathsig) if it is killed first.
func startChromium(t *testing.T) string {
	t.Helper()
	bin := chromiumPath
	if _, err := os.Stat(bin); err != nil {
		p, lookErr := exec.LookPath("chromium")
		if lookErr != nil {
			t.Fatalf("chromium is not installed: install Debian's chromium package (apt-get install chromium); %v", err)
		}
		bin = p
	}
	args := []string{
		"--headless=new",
		"--remote-debugging-port=0",
		"--remote-debugging-address=127.0.0.1",
		"--user-data-dir=" + t.TempDir(),
		"--disable-background-networking",
		"--disable-component-update",
		"--disable-sync",
		"--disable-default-apps",
		"--disable-extensions",
		"--no-first-run",
		"--no-default-browser-check",
		"--disable-gpu",
		"--disable-quic",
		"--disable-dev-shm-usage",
		"--window-size=1280,900",
		"about:blank",
	}
	if os.Geteuid() == 0 {
		args = append([]string{"--no-sandbox"}, args...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := nodetest.Command(ctx, t.TempDir(), nil, bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start chromium: %v", err)
	}
	var logMu sync.Mutex
	var logBuf strings.Builder
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`DevTools listening on (ws://\S+)`)
		for sc.Scan() {
			logMu.Lock()
			logBuf.WriteString(sc.Text() + "\n")
			logMu.Unlock()
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel() // kills the whole process group
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			t.Errorf("chromium did not exit within 15s of SIGKILL")
		}
		if t.Failed() {
			logMu.Lock()
			t.Logf("chromium stderr:\n%s", logBuf.String())
			logMu.Unlock()
		}
	})
	select {
	case ws := <-found:
		return ws
	case err := <-exited:
		logMu.Lock()
		defer logMu.Unlock()
		t.Fatalf("chromium exited at startup: %v\n%s", err, logBuf.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("chromium printed no DevTools URL within 90s")
	}
	return ""
}

// drive runs one scenario of drive.mjs against the browser at ws and
// decodes its findings into out.
func drive(t *testing.T, dir, ws, scenario string, config any, out any) {
	t.Helper()
	cfg, err := json.Marshal(config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := nodetest.Command(ctx, dir, nil, "node", "drive.mjs", ws, scenario, string(cfg))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if ctx.Err() != nil {
		t.Fatalf("drive.mjs %s did not finish within 4 minutes\n%s", scenario, stderr.String())
	}
	if err != nil {
		t.Fatalf("drive.mjs %s: %v\n%s%s", scenario, err, stdout, stderr.String())
	}
	if err := json.Unmarshal(stdout, out); err != nil {
		t.Fatalf("drive.mjs %s printed %q: %v\n%s", scenario, stdout, err, stderr.String())
	}
}

// pageLog is what a page showed in its console and network.
type pageLog struct {
	Status         int              `json:"status"`
	Console        []consoleMessage `json:"console"`
	PageErrors     []string         `json:"pageErrors"`
	FailedRequests []string         `json:"failedRequests"`
	ErrorResponses []string         `json:"errorResponses"`
	Result         map[string]any   `json:"result"`
}

type consoleMessage struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

func (l pageLog) errors() []string {
	var out []string
	for _, m := range l.Console {
		if m.Type == "error" {
			out = append(out, m.Text)
		}
	}
	return append(out, l.PageErrors...)
}

// scenarioPage is the frontend: with fetch, as any SPA does, it registers
// and then posts an article with the token, and reports what it saw.
const scenarioPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>frontend on another origin</title>
<link rel="icon" href="data:,"></head>
<body><p>A frontend served from a different origin than the API.</p>
<script>
window.scenario = async function (api, username) {
  const out = {};
  const call = async (name, path, init) => {
    try {
      const r = await fetch(api + path, init);
      out[name + "Status"] = r.status;
      out[name + "RequestID"] = r.headers.get("X-Request-ID");
      out[name + "Body"] = await r.json();
    } catch (e) {
      out[name + "Error"] = String(e);
    }
  };
  await call("tags", "/api/tags", {});
  await call("register", "/api/users", {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Request-ID": "browser-" + username },
    body: JSON.stringify({ user: { username, email: username + "@example.com", password: "password-" + username } }),
  });
  const token = out.registerBody && out.registerBody.user && out.registerBody.user.token;
  await call("article", "/api/articles", {
    method: "POST",
    headers: { "Content-Type": "application/json", "Authorization": "Token " + token },
    body: JSON.stringify({ article: { title: "From the browser " + username, description: "d", body: "b", tagList: ["web", "cors"] } }),
  });
  return out;
};
</script></body></html>`

// servePage serves scenarioPage on a new loopback origin named with
// localhost (the API is on 127.0.0.1: a different origin) and returns
// that origin.
func servePage(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, scenarioPage)
	}))
	t.Cleanup(srv.Close)
	return strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
}

func TestBrowserCrossOriginFrontend(t *testing.T) {
	dir := nodetest.Require(t, ".")
	allowed, blocked := servePage(t), servePage(t)
	a := apptest.Start(t, map[string]string{"CORS_ALLOWED_ORIGINS": allowed})
	ws := startChromium(t)

	var got struct {
		Allowed pageLog `json:"allowed"`
		Blocked pageLog `json:"blocked"`
	}
	drive(t, dir, ws, "cors", map[string]string{"allowedPage": allowed + "/", "blockedPage": blocked + "/", "api": a.URL, "username": "webjake"}, &got)
	t.Logf("allowed page %s: %v", allowed, got.Allowed.Result)
	t.Logf("blocked page %s: %v; console: %q", blocked, got.Blocked.Result, got.Blocked.errors())

	ok := got.Allowed
	if errs := ok.errors(); len(errs) > 0 || len(ok.FailedRequests) > 0 {
		t.Errorf("allowed origin: console errors %q, failed requests %q", errs, ok.FailedRequests)
	}
	r := ok.Result
	if r["tagsStatus"] != 200.0 || r["registerStatus"] != 201.0 || r["articleStatus"] != 201.0 {
		t.Fatalf("allowed origin: %v", r)
	}
	if r["registerRequestID"] != "browser-webjake" {
		t.Errorf("X-Request-ID is not readable from the page: %v", r["registerRequestID"])
	}
	art, _ := r["articleBody"].(map[string]any)["article"].(map[string]any)
	if art["title"] != "From the browser webjake" || fmt.Sprint(art["tagList"]) != "[cors web]" {
		t.Errorf("article %v", art)
	}

	// The disallowed origin reads nothing, and its preflighted writes never
	// reach the API.
	no := got.Blocked.Result
	for _, call := range []string{"tags", "register", "article"} {
		if _, ok := no[call+"Error"]; !ok {
			t.Errorf("disallowed origin: %s was not blocked: %v", call, no)
		}
	}
	if !slices.ContainsFunc(got.Blocked.errors(), func(s string) bool { return strings.Contains(s, "CORS policy") }) {
		t.Errorf("disallowed origin: no CORS error in the console: %q", got.Blocked.errors())
	}
	resp, err := a.Client.GetProfileByUsernameWithResponse(context.Background(), "webjake-blocked")
	if err != nil || resp.StatusCode() != http.StatusNotFound {
		t.Errorf("the blocked page's registration reached the API: %v %d", err, resp.StatusCode())
	}
}

func TestBrowserAPIReference(t *testing.T) {
	dir := nodetest.Require(t, ".")
	a := apptest.Start(t, nil)
	ws := startChromium(t)

	artifacts, err := filepath.Abs("artifacts")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(artifacts, "api-docs.png")
	_ = os.Remove(shot)

	var got struct {
		pageLog
		Operations []string `json:"operations"`
		Title      string   `json:"title"`
	}
	drive(t, dir, ws, "docs", map[string]string{"url": a.URL + "/api/docs", "screenshot": shot}, &got)

	if got.Status != http.StatusOK {
		t.Errorf("/api/docs: status %d", got.Status)
	}
	if errs := got.errors(); len(errs) > 0 || len(got.FailedRequests) > 0 || len(got.ErrorResponses) > 0 {
		t.Errorf("console errors %q, failed requests %q, error responses %q", errs, got.FailedRequests, got.ErrorResponses)
	}
	spec, err := api.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got.Title, spec.Info.Title) {
		t.Errorf("title %q, want it to contain %q", got.Title, spec.Info.Title)
	}
	var want []string
	for _, item := range spec.Paths.Map() {
		for _, op := range item.Operations() {
			want = append(want, op.OperationID)
		}
	}
	slices.Sort(want)
	rendered := slices.Clone(got.Operations)
	slices.Sort(rendered)
	if !slices.Equal(rendered, want) {
		t.Errorf("the reference renders %d operations %q, the spec has %d: %q", len(rendered), rendered, len(want), want)
	}
	st, err := os.Stat(shot)
	if err != nil || st.Size() < 10_000 {
		t.Fatalf("screenshot %s: %v", shot, err)
	}
	t.Logf("screenshot of /api/docs (%d operations): %s", len(rendered), shot)
}
