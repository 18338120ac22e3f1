#!/usr/bin/env bash
# CI services for artrec: Debian's chromium (for the browser test) and a PostgreSQL server
# listening on 127.0.0.1 only, with a role and database for the store tests.
#
# Idempotent; run as root. Logs go to stderr; stdout is export lines for the caller to eval:
#     eval "$(scripts/ci-services.sh)"      # sets ARTREC_TEST_DATABASE_URL
# and, when this run started the PostgreSQL cluster, ARTREC_CI_STARTED_PG. After the tests,
#     scripts/ci-services.sh stop           # with those variables still set
# stops the cluster again if this script started it (a cluster that was already running is
# left alone), so nothing keeps listening once the tests are done (`make pytest` does both).
# Environment knobs: ARTREC_PG_PORT (default 5432), ARTREC_PG_USER / ARTREC_PG_DB (default
# artrec / artrec_test), ARTREC_PG_PASSWORD (default: a fresh random password on every run,
# so no password is known in advance).
set -euo pipefail

PORT="${ARTREC_PG_PORT:-5432}"
PGUSER_NAME="${ARTREC_PG_USER:-artrec}"
PGDB="${ARTREC_PG_DB:-artrec_test}"

log() { echo "ci-services: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    log "must run as root (installs packages and starts PostgreSQL)"
    exit 1
fi

if [ "${1:-}" = "stop" ]; then
    if [ -n "${ARTREC_CI_STARTED_PG:-}" ]; then
        log "stopping cluster $ARTREC_CI_STARTED_PG (started for the tests)"
        # shellcheck disable=SC2086  # "VERSION CLUSTER"
        pg_ctlcluster $ARTREC_CI_STARTED_PG stop >&2
    else
        log "PostgreSQL was not started by this script; leaving it as it is"
    fi
    exit 0
fi

PGPASS="${ARTREC_PG_PASSWORD:-$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')}"
STARTED=""

# -- packages ---------------------------------------------------------------------------------
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    missing+=(postgresql)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
else
    log "chromium, chromium-driver and postgresql already installed"
fi

# -- the cluster: listen on 127.0.0.1 only -----------------------------------------------------
VERSION="$(ls /usr/lib/postgresql | sort -V | tail -1)"
CLUSTER=main
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$VERSION $CLUSTER"; then
    log "creating cluster $VERSION/$CLUSTER on port $PORT"
    pg_createcluster --port "$PORT" "$VERSION" "$CLUSTER" >&2
fi
# settings go to a conf.d drop-in (Debian's postgresql.conf includes conf.d/); drop any
# listen_addresses/port lines of postgresql.conf itself so the drop-in wins
CONF_DIR="/etc/postgresql/$VERSION/$CLUSTER"
pg_conftool "$VERSION" "$CLUSTER" remove listen_addresses 2>/dev/null || true
mkdir -p "$CONF_DIR/conf.d"
cat > "$CONF_DIR/conf.d/artrec-ci.conf" <<CONF
# written by artrec scripts/ci-services.sh: loopback only
listen_addresses = '127.0.0.1'
port = $PORT
CONF
status="$(pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1==v && $2==c {print $4}')"
if [ "$status" = "online" ]; then
    # a running server picks up listen_addresses/port only on restart; restart when they differ
    current="$(runuser -u postgres -- psql -p "$PORT" -Atc "SHOW listen_addresses" 2>/dev/null || true)"
    if [ "$current" != "127.0.0.1" ]; then
        log "restarting cluster $VERSION/$CLUSTER to listen on 127.0.0.1 only"
        pg_ctlcluster "$VERSION" "$CLUSTER" restart >&2
    fi
else
    log "starting cluster $VERSION/$CLUSTER"
    pg_ctlcluster "$VERSION" "$CLUSTER" start >&2
    STARTED="$VERSION $CLUSTER"
fi
for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p "$PORT" && break
    sleep 1
done
pg_isready -h 127.0.0.1 -p "$PORT" >&2

# -- role and database --------------------------------------------------------------------------
psql_admin() { runuser -u postgres -- psql -p "$PORT" -v ON_ERROR_STOP=1 -Atq "$@"; }
if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$PGUSER_NAME'")" != "1" ]; then
    log "creating role $PGUSER_NAME"
    psql_admin -c "CREATE ROLE \"$PGUSER_NAME\" LOGIN PASSWORD '$PGPASS'"
else
    psql_admin -c "ALTER ROLE \"$PGUSER_NAME\" LOGIN PASSWORD '$PGPASS'"
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$PGDB'")" != "1" ]; then
    log "creating database $PGDB"
    psql_admin -c "CREATE DATABASE \"$PGDB\" OWNER \"$PGUSER_NAME\""
fi

URL="postgresql://$PGUSER_NAME:$PGPASS@127.0.0.1:$PORT/$PGDB"
PGPASSWORD="$PGPASS" psql "$URL" -Atqc "SELECT 1" >/dev/null
log "PostgreSQL $VERSION ready at 127.0.0.1:$PORT (database $PGDB, role $PGUSER_NAME)"
echo "export ARTREC_TEST_DATABASE_URL='$URL'"
if [ -n "$STARTED" ]; then
    echo "export ARTREC_CI_STARTED_PG='$STARTED'"
fi
