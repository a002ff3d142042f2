package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sophsapp/sophsapp/internal/pgtest"
)

// isNginx says whether target is the app behind Nginx.
func isNginx(target string) bool { return target == "nginx" || target == "nginx-uncached" }

// startNginx runs the shipped site (deploy/nginx) in front of app on
// private ports, with two changes: paths inside a private prefix, and the
// rate limit and its burst lifted, since the whole load comes from one
// address. TLS, HTTP/1.1 keep-alive to the app, gzip, the JSON access log
// and the one-second cache of anonymous reads stay as shipped; for the
// target nginx-uncached that cache is off, so every request reaches the
// app, as every signed-in one does.
func (b *bench) startNginx(ctx context.Context, app *process, target string) (*process, error) {
	if _, err := exec.LookPath("nginx"); err != nil {
		return nil, fmt.Errorf("the nginx target needs nginx (apt-get install nginx)")
	}
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	prefix := filepath.Join(b.tmp, target)
	for _, d := range []string{"conf", "logs", "tmp", "acme"} {
		if err := os.MkdirAll(filepath.Join(prefix, d), 0o755); err != nil {
			return nil, err
		}
	}
	read := func(name string) (string, error) {
		data, err := os.ReadFile(filepath.Join(root, "deploy", "nginx", name))
		return string(data), err
	}
	httpPort, err := pgtest.FreePort()
	if err != nil {
		return nil, err
	}
	httpsPort, err := pgtest.FreePort()
	if err != nil {
		return nil, err
	}
	cert, key := filepath.Join(prefix, "conf", "cert.pem"), filepath.Join(prefix, "conf", "key.pem")
	if err := selfSigned(cert, key); err != nil {
		return nil, err
	}
	site, err := read("sophsapp-site.conf")
	if err != nil {
		return nil, err
	}
	site, err = render(site, [][2]string{
		{"/etc/nginx/sophsapp-tls/fullchain.pem", cert},
		{"/etc/nginx/sophsapp-tls/privkey.pem", key},
	})
	if err != nil {
		return nil, err
	}
	conf, err := read("sophsapp.conf")
	if err != nil {
		return nil, err
	}
	siteFile, upstreamFile := filepath.Join(prefix, "conf", "site.conf"), filepath.Join(prefix, "conf", "upstream.conf")
	conf, err = render(conf, [][2]string{
		{"listen 80 default_server;", fmt.Sprintf("listen 127.0.0.1:%d default_server;", httpPort)},
		{"    listen [::]:80 default_server;\n", ""},
		{"listen 443 ssl http2;", fmt.Sprintf("listen 127.0.0.1:%d ssl http2;", httpsPort)},
		{"    listen [::]:443 ssl http2;\n", ""},
		{"include /etc/nginx/snippets/sophsapp-site.conf;", "include " + siteFile + ";"},
		{"/var/log/nginx/", prefix + "/logs/"},
		{"/var/cache/nginx/sophsapp", prefix + "/cache"},
		{"root /var/www/sophsapp-acme;", "root " + prefix + "/acme;"},
		{"include /etc/nginx/snippets/sophsapp-upstream.conf;", "include " + upstreamFile + ";"},
		// One client address sends everything: no rate limit (nginx
		// counts a burst per millisecond, so the burst must go too).
		{"rate=10r/s", "rate=1000000r/s"},
		{"burst=20 nodelay", "burst=1000000 nodelay"},
		{"burst=100 nodelay", "burst=1000000 nodelay"},
	})
	if err == nil && target == "nginx-uncached" {
		conf, err = render(conf, [][2]string{{"proxy_cache sophsapp_reads;", "proxy_cache off;"}})
	}
	if err != nil {
		return nil, err
	}
	upstream := "server " + strings.TrimPrefix(app.url, "http://") + " max_fails=0;\n"
	mime := ""
	if _, err := os.Stat("/etc/nginx/mime.types"); err == nil {
		mime = "include /etc/nginx/mime.types;"
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;"
	}
	// The stand-in for the distribution's nginx.conf (Debian's settings).
	main := fmt.Sprintf(`%[2]s
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log warn;
events { worker_connections 768; }
http {
    %[3]s
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    client_body_temp_path %[1]s/tmp/body;
    proxy_temp_path %[1]s/tmp/proxy;
    fastcgi_temp_path %[1]s/tmp/fastcgi;
    uwsgi_temp_path %[1]s/tmp/uwsgi;
    scgi_temp_path %[1]s/tmp/scgi;
    include %[1]s/conf/sophsapp.conf;
}
`, prefix, user, mime)
	for file, text := range map[string]string{siteFile: site, upstreamFile: upstream,
		filepath.Join(prefix, "conf", "sophsapp.conf"): conf, filepath.Join(prefix, "conf", "nginx.conf"): main} {
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			return nil, err
		}
	}
	if out, err := exec.Command("nginx", "-t", "-p", prefix, "-c", "conf/nginx.conf").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("nginx -t: %v\n%s", err, out)
	}
	cmd := exec.Command("nginx", "-p", prefix, "-c", "conf/nginx.conf", "-g", "daemon off;")
	url := "https://127.0.0.1:" + strconv.Itoa(httpsPort)
	// The probe goes through Nginx to the app.
	old := http.DefaultTransport.(*http.Transport).TLSClientConfig
	http.DefaultTransport.(*http.Transport).TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	defer func() { http.DefaultTransport.(*http.Transport).TLSClientConfig = old }()
	return b.start(ctx, target, url, url+"/api/health", cmd, filepath.Join(prefix, "logs", "stderr.log"))
}

// render replaces each old string (which must occur) by its new one.
func render(text string, subs [][2]string) (string, error) {
	for _, s := range subs {
		if !strings.Contains(text, s[0]) {
			return "", fmt.Errorf("nginx config: %q not found in the shipped file", s[0])
		}
		text = strings.ReplaceAll(text, s[0], s[1])
	}
	return text, nil
}

func selfSigned(certFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "bench.invalid"},
		DNSNames:     []string{"bench.invalid"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
}
