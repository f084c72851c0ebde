#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on 127.0.0.1 (a free port, a fresh data directory) for
# the storage tests, and print the line that points them at it:
#
#     eval "$(.ci/postgres.sh)"    # exports HBO_TEST_POSTGRES_URL=postgresql+psycopg://...
#
# Installs the Debian package `postgresql` with apt-get when no server binaries are found
# (needs root). The URL is also written to $HBO_PG_URL_FILE (default: <datadir>/url).
# Progress goes to stderr; stdout holds only the export line. Stop the server with the
# `pg_ctl ... stop` command printed on stderr (the data directory lives under $TMPDIR).
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }

find_bindir() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
    done
    command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
    return 1
}

if ! bindir=$(find_bindir); then
    log "no PostgreSQL server found; installing the Debian package 'postgresql'"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    bindir=$(find_bindir)
fi

# initdb and postgres refuse to run as root: run them as the 'postgres' system user.
as_server_user=()
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    as_server_user=(runuser -u postgres --)
fi

datadir=$(mktemp -d "${TMPDIR:-/tmp}/hbo-postgres.XXXXXX")
chmod 700 "$datadir"
[ "$(id -u)" = 0 ] && chown postgres "$datadir"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

log "initdb in $datadir ($bindir)"
"${as_server_user[@]}" "$bindir/initdb" -D "$datadir/data" -U hbo --auth=trust -E UTF8 >/dev/null
"${as_server_user[@]}" "$bindir/pg_ctl" -D "$datadir/data" -l "$datadir/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $datadir -c fsync=off" start >&2
"$bindir/createdb" -h 127.0.0.1 -p "$port" -U hbo hbo_test

url="postgresql+psycopg://hbo@127.0.0.1:$port/hbo_test"
echo "$url" > "${HBO_PG_URL_FILE:-$datadir/url}"
log "server up at $url; stop it with: ${as_server_user[*]} $bindir/pg_ctl -D $datadir/data stop"
echo "export HBO_TEST_POSTGRES_URL=$url"
