#!/usr/bin/env bash
# Install or upgrade sophsapp on this host: the service user and folders,
# the binary, the systemd unit, the Nginx site, a first .env, the database
# migrations, and a restart. Run it as root from a checkout after
# `make build`. It is idempotent: run it again for every deploy. It never
# overwrites the .env nor the Nginx per-host settings once they exist.
#
#   deploy/install.sh --domain api.example.com   # first install
#   deploy/install.sh                            # later deploys
#   deploy/install.sh --instances 5000,5001      # several instances
#
# Options:
#   --domain NAME   public DNS name; needed on the first install only (it is
#                   written to /etc/nginx/snippets/sophsapp-site.conf).
#   --binary PATH   the sophsapp binary to install (default: bin/sophsapp).
#   --instances P,Q run one instance per port (sophsAppApi@P, sophsAppApi@Q,
#                   on 127.0.0.1:P ...) behind Nginx instead of the single
#                   sophsAppApi on 5000, restarted one after the other with
#                   a health check between. The list is written to
#                   /etc/nginx/snippets/sophsapp-upstream.conf and later
#                   runs reuse it; `--instances single` goes back to the
#                   single unit.
#   --root DIR      install into DIR instead of / and change nothing else:
#                   no user is created, no command (systemctl, nginx,
#                   migrate, openssl, chown) runs; each is printed instead.
#                   For checking the script and for building images.
#
# Debian and Ubuntu work as is. Amazon Linux (and other distributions
# without /etc/nginx/sites-available) get the site in /etc/nginx/conf.d/;
# see "Amazon Linux" in README.md's operations runbook for the rest.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")

root=""
domain=""
binary="$repo/bin/sophsapp"
instances_arg=""
while [ $# -gt 0 ]; do
    case "$1" in
    --root) root=${2:?--root needs a directory}; shift 2 ;;
    --root=*) root=${1#*=}; shift ;;
    --domain) domain=${2:?--domain needs a name}; shift 2 ;;
    --domain=*) domain=${1#*=}; shift ;;
    --binary) binary=${2:?--binary needs a path}; shift 2 ;;
    --binary=*) binary=${1#*=}; shift ;;
    --instances) instances_arg=${2:?--instances needs a list of ports, or single}; shift 2 ;;
    --instances=*) instances_arg=${1#*=}; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
root=${root%/}

# Where things go on the host (paths without the --root prefix). The unit
# (deploy/systemd/sophsAppApi.service) and the Nginx site name the same
# paths: change them together.
user=sophsapp
unit=sophsAppApi.service
app_dir=/opt/sophsapp             # WorkingDirectory, holds .env
env_file=$app_dir/.env            # EnvironmentFile
bin_path=/usr/local/bin/sophsapp  # ExecStart
unit_path=/etc/systemd/system/$unit
socket=sophsAppApi.socket         # holds 127.0.0.1:5000 across restarts
socket_path=/etc/systemd/system/$socket
template=sophsAppApi@.service     # one instance per port: sophsAppApi@5001
socket_template=sophsAppApi@.socket
upstream=/etc/nginx/snippets/sophsapp-upstream.conf   # the instances Nginx proxies to
webroot=/var/www/sophsapp-acme    # certbot --webroot -w
settings=/etc/nginx/snippets/sophsapp-site.conf
tls_dir=/etc/nginx/sophsapp-tls
hook_path=/usr/local/sbin/sophsapp-certbot-deploy-hook
sysctl_path=/etc/sysctl.d/90-sophsapp.conf   # kernel settings (scheduling)

say() { printf 'install: %s\n' "$*"; }
die() { printf 'install: %s\n' "$*" >&2; exit 1; }

# run executes a command on a real install and only prints it under --root.
run() {
    if [ -n "$root" ]; then
        printf 'install: would run: %s\n' "$*"
    else
        "$@"
    fi
}

[ -f "$binary" ] || die "no binary at $binary: run 'make build' first or pass --binary"
# --instances: a comma-separated list of distinct unprivileged ports.
ports=""
case "$instances_arg" in
"" | single) ;;
*)
    for p in ${instances_arg//,/ }; do
        case "$p" in
        *[!0-9]* | 0*) die "--instances $instances_arg: $p is not a port" ;;
        esac
        { [ "$p" -ge 1024 ] && [ "$p" -le 65535 ]; } || die "--instances $instances_arg: $p is not a port in 1024-65535"
        case " $ports " in *" $p "*) die "--instances $instances_arg: $p appears twice" ;; esac
        ports="${ports:+$ports }$p"
    done
    [ -n "$ports" ] || die "--instances needs a list of ports, e.g. 5000,5001"
    ;;
esac
if [ -z "$root" ]; then
    [ "$(id -u)" -eq 0 ] || die "run as root (sudo $0 ...), or use --root DIR for a dry install"
    command -v systemctl >/dev/null || die "systemd is required"
    command -v nginx >/dev/null || die "nginx is not installed (Debian/Ubuntu: apt-get install nginx; Amazon Linux: dnf install nginx)"
fi

# The service user: a system account without a login or a home of its own.
if [ -z "$root" ] && ! getent passwd "$user" >/dev/null; then
    nologin=$(command -v nologin || echo /usr/sbin/nologin)
    useradd --system --user-group --home-dir "$app_dir" --no-create-home --shell "$nologin" "$user"
    say "created user $user"
elif [ -n "$root" ]; then
    say "would run: useradd --system --user-group --home-dir $app_dir --no-create-home --shell /usr/sbin/nologin $user (unless it exists)"
fi

# Folders. The app directory is readable by the service, writable by root
# only: the service writes nothing to disk. /var/cache/nginx holds the
# site's one-second cache of anonymous reads (Nginx creates its own
# directory in it, owned by its workers' user).
install -d -m 0755 "$root/usr/local/bin" "$root/usr/local/sbin" "$root/etc/systemd/system" "$root/etc/sysctl.d" \
    "$root/etc/nginx/snippets" "$root$webroot/.well-known/acme-challenge" "$root/var/cache/nginx"
install -d -m 0750 "$root$app_dir"
install -d -m 0700 "$root$tls_dir"
run chown "root:$user" "$app_dir"

# Binary, unit and certbot hook: always replaced by the shipped version.
# install(1) writes a new file and renames it, so a running binary is safe.
install -m 0755 "$binary" "$root$bin_path"
install -m 0644 "$here/systemd/$unit" "$root$unit_path"
install -m 0644 "$here/systemd/$socket" "$root$socket_path"
install -m 0644 "$here/systemd/$template" "$root/etc/systemd/system/$template"
install -m 0644 "$here/systemd/$socket_template" "$root/etc/systemd/system/$socket_template"
install -m 0755 "$here/certbot/sophsapp-deploy-hook" "$root$hook_path"

# Kernel settings (deploy/sysctl/90-sophsapp.conf: no autogroup scheduling),
# applied now and at every boot. -e: a kernel without the key is no error.
# A host that cannot change them (a container) keeps its own.
install -m 0644 "$here/sysctl/90-sophsapp.conf" "$root$sysctl_path"
if [ -n "$root" ]; then
    run sysctl -q -e -p "$sysctl_path"
elif ! sysctl -q -e -p "$sysctl_path"; then
    say "could not apply $sysctl_path now (read-only /proc/sys?); the host keeps its own scheduling settings"
fi
say "installed $bin_path, $unit_path, $socket_path, $template, $socket_template, $hook_path"

# .env: created once from .env.example with a fresh JWT_SECRET, never
# overwritten. Readable by the service's group, not by other users.
fresh_env=no
if [ -e "$root$env_file" ]; then
    say "kept existing $env_file"
else
    secret=$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')
    tmp=$(mktemp "$root$app_dir/.env.XXXXXX")
    sed "s|^JWT_SECRET=\$|JWT_SECRET=$secret|" "$repo/.env.example" >"$tmp"
    chmod 0640 "$tmp"
    mv "$tmp" "$root$env_file"
    fresh_env=yes
    say "created $env_file from .env.example (with a random JWT_SECRET): set DATABASE_URL in it"
fi
run chown "root:$user" "$env_file"

# Nginx: the site (replaced on every install) and the per-host settings
# (written once). Debian/Ubuntu use sites-available + sites-enabled; other
# distributions (Amazon Linux, RHEL) read conf.d/*.conf.
if [ -d "$root/etc/nginx/sites-available" ]; then
    site=/etc/nginx/sites-available/sophsapp.conf
    install -m 0644 "$here/nginx/sophsapp.conf" "$root$site"
    install -d -m 0755 "$root/etc/nginx/sites-enabled"
    ln -sfn "$site" "$root/etc/nginx/sites-enabled/sophsapp.conf"
    # The distribution's default site is also default_server on port 80.
    if [ -L "$root/etc/nginx/sites-enabled/default" ] || [ -e "$root/etc/nginx/sites-enabled/default" ]; then
        rm -f "$root/etc/nginx/sites-enabled/default"
        say "disabled Nginx's default site (it stays in sites-available)"
    fi
else
    site=/etc/nginx/conf.d/sophsapp.conf
    install -d -m 0755 "$root/etc/nginx/conf.d"
    install -m 0644 "$here/nginx/sophsapp.conf" "$root$site"
fi
say "installed Nginx site $site"

if [ -e "$root$settings" ]; then
    say "kept existing $settings"
else
    [ -n "$domain" ] || die "first install: pass --domain NAME (the public DNS name of the API)"
    case "$domain" in
    *[!A-Za-z0-9.-]* | .* | *..*) die "--domain $domain is not a DNS name" ;;
    esac
    sed "s|^server_name api.example.com;|server_name $domain;|" "$here/nginx/sophsapp-site.conf" >"$root$settings"
    chmod 0644 "$root$settings"
    say "created $settings for $domain"
fi

# The instances Nginx proxies to: the shipped single instance unless
# --instances says otherwise; without --instances an existing list is kept
# (its first line records the ports install.sh wrote).
old_ports=""
if [ -e "$root$upstream" ]; then
    old_ports=$(sed -n '1s/^# instances: \([0-9,]*\)$/\1/p' "$root$upstream" | tr ',' ' ')
fi
if [ -n "$ports" ]; then
    tmp=$(mktemp "$root/etc/nginx/snippets/.sophsapp-upstream.XXXXXX")
    {
        echo "# instances: ${ports// /,}"
        sed '/^server 127\.0\.0\.1:5000 max_fails=0;$/,$d' "$here/nginx/sophsapp-upstream.conf"
        for p in $ports; do echo "server 127.0.0.1:$p max_fails=0;"; done
    } >"$tmp"
    chmod 0644 "$tmp"
    mv "$tmp" "$root$upstream"
    say "wrote $upstream: instances on ports $ports"
elif [ "$instances_arg" = single ] || [ ! -e "$root$upstream" ]; then
    install -m 0644 "$here/nginx/sophsapp-upstream.conf" "$root$upstream"
    say "wrote $upstream: the single instance on 127.0.0.1:5000"
else
    ports=$old_ports
    say "kept existing $upstream${ports:+ (instances on ports $ports)}"
fi

# Until certbot has issued the real certificate, a self-signed placeholder
# lets Nginx start and answer ACME challenges on port 80.
if [ ! -e "$root$tls_dir/fullchain.pem" ]; then
    name=$(sed -n 's/^server_name \([^ ;]*\).*/\1/p' "$root$settings" | head -n 1)
    run openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
        -subj "/CN=$name" -keyout "$tls_dir/privkey.pem" -out "$tls_dir/fullchain.pem"
    say "placeholder certificate for $name in $tls_dir: issue the real one with certbot (README.md, Operations runbook)"
fi

run nginx -t -q
run systemctl enable --now nginx
run systemctl reload nginx

# The service: the single unit, or one instance per port.
run systemctl daemon-reload
if [ -n "$ports" ]; then
    # The single unit would hold port 5000 too.
    run systemctl disable --now "$unit" "$socket"
    for p in $ports; do
        run systemctl enable "sophsAppApi@$p.socket" "sophsAppApi@$p.service"
    done
    # Instances dropped from the list.
    for p in $old_ports; do
        case " $ports " in *" $p "*) ;; *) run systemctl disable --now "sophsAppApi@$p.socket" "sophsAppApi@$p.service" ;; esac
    done
else
    # Back to the single unit (--instances single).
    for p in $old_ports; do
        run systemctl disable --now "sophsAppApi@$p.socket" "sophsAppApi@$p.service"
    done
    run systemctl enable "$unit" "$socket"
fi
if [ "$fresh_env" = yes ]; then
    say "not starting $unit yet: edit $env_file (DATABASE_URL), then run this script again"
    exit 0
fi
# Migrations run as the service user with exactly the service's environment.
run systemd-run --quiet --wait --pipe --collect --uid="$user" --gid="$user" \
    --working-directory="$app_dir" --property=EnvironmentFile="$env_file" \
    "$bin_path" migrate
# The socket stays open while the service restarts: connections wait in its
# backlog. Type=notify: restart returns once the new process serves.
if [ -n "$ports" ]; then
    # One instance after the other, each healthy before the next restarts,
    # so the others serve meanwhile.
    for p in $ports; do
        run systemctl start "sophsAppApi@$p.socket"
        run systemctl restart "sophsAppApi@$p.service"
        run curl -fsS --max-time 5 -o /dev/null "http://127.0.0.1:$p/api/health"
    done
    done_what="sophsAppApi@{${ports// /,}} are running and healthy"
else
    run systemctl start "$socket"
    run systemctl restart "$unit"
    listen=$(sed -n 's/^ListenStream=//p' "$root$socket_path" | tail -n 1)
    run curl -fsS --max-time 5 -o /dev/null "http://$listen/api/health"
    done_what="$unit is running and healthy"
fi
if [ -n "$root" ]; then
    say "done (dry run into $root)"
else
    say "done: $done_what"
fi
