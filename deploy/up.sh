#!/bin/sh
# One command up: makes the secrets compose.yaml reads (only those missing, mode 0600, in
# deploy/secrets/, which git ignores), then starts everything and waits for the health checks.
#   ./deploy/up.sh            # docker compose up -d --build --wait
#   ./deploy/up.sh --no-build # with SWITCHYARD_IMAGE pulled from your registry
set -eu
cd "$(dirname "$0")/.."
dir=deploy/secrets
mkdir -p "$dir"
chmod 700 "$dir"
umask 077
random() { head -c 24 /dev/urandom | base64 | tr -d '/+=\n'; }
[ -s "$dir/postgres_password" ] || random > "$dir/postgres_password"
[ -s "$dir/database_app_password" ] || random > "$dir/database_app_password"
[ -s "$dir/grafana_admin_password" ] || random > "$dir/grafana_admin_password"
[ -s "$dir/master_key" ] || head -c 32 /dev/urandom | base64 > "$dir/master_key"
if [ ! -s "$dir/database_url" ]; then
  printf 'postgres://switchyard_owner:%s@postgres:5432/switchyard\n' "$(cat "$dir/postgres_password")" > "$dir/database_url"
fi
# The containers run as uid 10001; compose mounts file secrets as they are on the host.
chmod 644 "$dir"/* 2>/dev/null || true
build=--build
[ "${1:-}" = "--no-build" ] && build=
exec docker compose up -d $build --wait
