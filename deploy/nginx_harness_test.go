package deploy_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testServerName is the site's name in the tests; the certificate is made
// for it and clients send it as SNI and Host.
const testServerName = "api.example.test"

// proxy is a private Nginx running the shipped site.
type proxy struct {
	prefix     string
	httpAddr   string // host:port of the port-80 server
	httpsAddr  string // host:port of the port-443 server
	webroot    string // ACME webroot
	accessLog  string
	errorLog   string
	roots      *x509.CertPool
	nginx      string
	mainConfig string
}

// startNginx renders the shipped site for a private prefix, checks it with
// `nginx -t`, and runs Nginx in front of the app instances at upstreams
// (host:port each, at least one) until the test ends.
func startNginx(t *testing.T, upstreams ...string) *proxy {
	t.Helper()
	nginx := requireTool(t, "nginx")
	prefix := t.TempDir()
	for _, d := range []string{"conf", "logs", "tmp", "tls", "acme/.well-known/acme-challenge"} {
		if err := os.MkdirAll(filepath.Join(prefix, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p := &proxy{
		prefix:     prefix,
		httpAddr:   freeAddr(t),
		httpsAddr:  freeAddr(t),
		webroot:    filepath.Join(prefix, "acme"),
		accessLog:  filepath.Join(prefix, "logs", "sophsapp.access.log"),
		errorLog:   filepath.Join(prefix, "logs", "sophsapp.error.log"),
		nginx:      nginx,
		mainConfig: filepath.Join(prefix, "conf", "nginx.conf"),
	}
	certFile, keyFile := filepath.Join(prefix, "tls", "fullchain.pem"), filepath.Join(prefix, "tls", "privkey.pem")
	p.roots = writeSelfSignedCert(t, certFile, keyFile)
	settingsFile := filepath.Join(prefix, "conf", "sophsapp-site.conf")
	upstreamFile := filepath.Join(prefix, "conf", "sophsapp-upstream.conf")
	if len(upstreams) == 0 {
		t.Fatal("startNginx: no upstream")
	}

	settings := render(t, readRepoFile(t, "deploy/nginx/sophsapp-site.conf"), []subst{
		{"server_name api.example.com;", "server_name " + testServerName + ";", 1},
		{"/etc/nginx/sophsapp-tls/fullchain.pem", certFile, 1},
		{"/etc/nginx/sophsapp-tls/privkey.pem", keyFile, 1},
	})
	// The instances, one server line each, as install.sh --instances
	// writes them.
	var servers []string
	for _, u := range upstreams {
		servers = append(servers, "server "+u+" max_fails=0;")
	}
	upstreamConf := render(t, readRepoFile(t, "deploy/nginx/sophsapp-upstream.conf"), []subst{
		{"\nserver 127.0.0.1:5000 max_fails=0;\n", "\n" + strings.Join(servers, "\n") + "\n", 1},
	})
	site := render(t, readRepoFile(t, "deploy/nginx/sophsapp.conf"), []subst{
		{"listen 80 default_server;", "listen " + p.httpAddr + " default_server;", 1},
		{"    listen [::]:80 default_server;\n", "", 1},
		{"listen 443 ssl http2;", "listen " + p.httpsAddr + " ssl http2;", 1},
		{"    listen [::]:443 ssl http2;\n", "", 1},
		{"include /etc/nginx/snippets/sophsapp-site.conf;", "include " + settingsFile + ";", 2},
		{"/var/log/nginx/sophsapp.access.log", p.accessLog, 2},
		{"/var/log/nginx/sophsapp.error.log", p.errorLog, 2},
		{"root /var/www/sophsapp-acme;", "root " + p.webroot + ";", 1},
		{"/var/cache/nginx/sophsapp", filepath.Join(prefix, "cache"), 1},
		{"include /etc/nginx/snippets/sophsapp-upstream.conf;", "include " + upstreamFile + ";", 1},
	})
	writeFile(t, settingsFile, settings)
	writeFile(t, upstreamFile, upstreamConf)
	writeFile(t, filepath.Join(prefix, "conf", "sophsapp.conf"), site)

	// The stand-in for the distribution's nginx.conf: what Debian's has in
	// http {}, with every path inside the prefix.
	user := ""
	if os.Geteuid() == 0 {
		// Workers read the webroot and write temp files inside the test's
		// private (0700) temporary directory.
		user = "user root;"
	}
	mime := ""
	if _, err := os.Stat("/etc/nginx/mime.types"); err == nil {
		mime = "include /etc/nginx/mime.types;"
	}
	writeFile(t, p.mainConfig, fmt.Sprintf(`%[2]s
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log notice;
events { worker_connections 512; }
http {
    %[3]s
    default_type application/octet-stream;
    sendfile on;
    client_body_temp_path %[1]s/tmp/body;
    proxy_temp_path %[1]s/tmp/proxy;
    fastcgi_temp_path %[1]s/tmp/fastcgi;
    uwsgi_temp_path %[1]s/tmp/uwsgi;
    scgi_temp_path %[1]s/tmp/scgi;
    access_log %[1]s/logs/access.log;
    include %[1]s/conf/sophsapp.conf;
}
`, prefix, user, mime))

	// nginx -t must pass on the rendered configuration, without warnings.
	out, err := exec.Command(nginx, "-t", "-p", prefix, "-c", p.mainConfig).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	if bytes.Contains(out, []byte("[warn]")) || !bytes.Contains(out, []byte("test is successful")) {
		t.Fatalf("nginx -t:\n%s", out)
	}

	var stderr bytes.Buffer
	cmd := exec.Command(nginx, "-p", prefix, "-c", p.mainConfig, "-g", "daemon off;")
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		// SIGTERM is Nginx's fast shutdown; the master takes its workers
		// down. Kill the process group if it does not.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			for _, f := range []string{"logs/error.log", "logs/sophsapp.error.log"} {
				b, _ := os.ReadFile(filepath.Join(prefix, f))
				t.Logf("nginx %s:\n%s", f, b)
			}
			t.Logf("nginx output:\n%s", stderr.String())
		}
	})
	for _, addr := range []string{p.httpAddr, p.httpsAddr} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-exited:
				t.Fatalf("nginx exited at startup:\n%s", stderr.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("nginx does not listen on %s after 10s", addr)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return p
}

// subst replaces old by new in a shipped file; n is how many times old must
// occur, so a changed file fails loudly instead of being tested half
// rendered.
type subst struct {
	old, new string
	n        int
}

func render(t *testing.T, text string, subs []subst) string {
	t.Helper()
	for _, s := range subs {
		if got := strings.Count(text, s.old); got != s.n {
			t.Fatalf("render: %q occurs %d times in the shipped file, want %d", s.old, got, s.n)
		}
		text = strings.ReplaceAll(text, s.old, s.new)
	}
	return text
}

// client returns an HTTPS/HTTP client that connects from the loopback
// address from (so Nginx sees a client address different from its own),
// trusts the test certificate, and does not follow redirects. http2 selects
// the protocol over TLS.
func (p *proxy) client(from string, http2 bool) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext:         d.DialContext,
		TLSClientConfig:     &tls.Config{RootCAs: p.roots, ServerName: testServerName},
		ForceAttemptHTTP2:   http2,
		MaxIdleConnsPerHost: 100,
	}
	if !http2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (p *proxy) httpsURL(path string) string { return "https://" + p.httpsAddr + path }
func (p *proxy) httpURL(path string) string  { return "http://" + p.httpAddr + path }

// accessLogWait bounds the wait for Nginx's access log, which the shipped
// site buffers for up to a second.
const accessLogWait = 10 * time.Second

// accessLogLine returns Nginx's access-log line for request id.
func (p *proxy) accessLogLine(t *testing.T, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(accessLogWait)
	for {
		b, err := os.ReadFile(p.accessLog)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(b, []byte("\n")) {
			var m map[string]any
			if json.Unmarshal(line, &m) == nil && m["request_id"] == id {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line for request %s in Nginx's access log:\n%s", id, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// response is a request's outcome with the body read.
type response struct {
	*http.Response
	body []byte
}

func do(t *testing.T, c *http.Client, method, url string, body io.Reader, header map[string]string) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := body.(*sizedReader); ok {
		req.ContentLength = s.n
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	// Over HTTPS the Host is the site's name unless the test says otherwise.
	if h, ok := header["Host"]; ok {
		req.Host = h
	} else if strings.HasPrefix(url, "https://") {
		req.Host = testServerName
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return response{resp, b}
}

// wantJSONError fails unless r has status and is the API's JSON error
// shape {"errors":{"body":["..."]}}.
func wantJSONError(t *testing.T, r response, status int) {
	t.Helper()
	if r.StatusCode != status {
		t.Errorf("%s %s: status %d, want %d; body %.300s", r.Request.Method, r.Request.URL.Path, r.StatusCode, status, r.body)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s → %d: Content-Type %q, want application/json; body %.300s", r.Request.Method, r.Request.URL.Path, status, ct, r.body)
	}
	var e struct {
		Errors struct {
			Body []string `json:"body"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || len(e.Errors.Body) == 0 || e.Errors.Body[0] == "" {
		t.Errorf("%s %s → %d: body is not {\"errors\":{\"body\":[...]}}: %.300s", r.Request.Method, r.Request.URL.Path, status, r.body)
	}
}

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// writeSelfSignedCert writes a fresh ECDSA certificate for testServerName
// and 127.0.0.1 and returns a pool that trusts it.
func writeSelfSignedCert(t *testing.T, certFile, keyFile string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: testServerName},
		DNSNames:              []string{testServerName},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})))
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
