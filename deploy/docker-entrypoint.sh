#!/bin/sh
# The image's entrypoint: `switchyard-entrypoint <role> [args]`.
# 1. Secrets from files: for each NAME_FILE in the environment (DATABASE_URL_FILE,
#    DATABASE_APP_PASSWORD_FILE, ...), NAME is read from that file (Docker/Compose secrets,
#    Kubernetes secret volumes), so that no secret is written in a compose file or an image.
#    SWITCHYARD_MASTER_KEY_FILE and TLS_*_FILE are read by Switchyard itself and left alone.
# 2. No embedded PostgreSQL here: without DATABASE_URL or DATABASE_APP_URL it refuses to start.
# 3. exec: the role is PID 1's only child (tini), so SIGTERM reaches it and it drains.
set -eu

for var in DATABASE_URL DATABASE_APP_URL DATABASE_APP_PASSWORD DATABASE_LISTEN_URL \
  VAULT_TOKEN SMTP_URL; do
  eval "file=\${${var}_FILE:-}"
  if [ -n "$file" ]; then
    eval "already=\${${var}:-}"
    if [ -n "$already" ]; then
      echo "switchyard-entrypoint: set ${var} or ${var}_FILE, not both" >&2
      exit 2
    fi
    if [ ! -r "$file" ]; then
      echo "switchyard-entrypoint: ${var}_FILE=${file} is not readable" >&2
      exit 2
    fi
    # The value is the file's content without its trailing newline.
    value=$(cat "$file")
    export "${var}=${value}"
    unset "${var}_FILE"
  fi
done

role=${1:-api}
case "$role" in
  api | worker | scheduler | migrate | tenant | dlq | keys | retention)
    if [ -z "${DATABASE_URL:-}" ] && [ -z "${DATABASE_APP_URL:-}" ]; then
      echo "switchyard-entrypoint: DATABASE_URL (or DATABASE_URL_FILE) is required: the image never starts an embedded PostgreSQL" >&2
      exit 2
    fi
    ;;
  start)
    echo "switchyard-entrypoint: 'start' runs every role in one process with an embedded database; in the image run api, worker and scheduler" >&2
    exit 2
    ;;
  help | --help | -h) ;;
  *)
    echo "switchyard-entrypoint: unknown role '${role}' (api, worker, scheduler, migrate, tenant, dlq, keys, retention)" >&2
    exit 2
    ;;
esac
[ "$#" -gt 0 ] && shift
here=$(dirname "$0")
app=${SWITCHYARD_APP_DIR:-/app}
[ -f "$app/bin/switchyard.js" ] || app=$(cd "$here/.." && pwd)
exec node "$app/bin/switchyard.js" "$role" "$@"
