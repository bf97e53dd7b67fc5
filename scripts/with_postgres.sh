#!/usr/bin/env bash
# Usage: scripts/with_postgres.sh CMD [ARG...]
#
# Runs CMD with a PostgreSQL server reachable through PGHOST/PGPORT/PGUSER/PGDATABASE.
#
# - PGHOST and PGPORT both set: use that server (only check that it answers).
# - Otherwise start a throwaway cluster (temp dir, free port, 127.0.0.1 only, trust auth,
#   user postgres, database `analytics`), run CMD against it, and always stop and delete it.
#   Nothing is written outside the temp dir, so it never touches a machine's own cluster or
#   port 5432, and it needs no password or pg_hba edits.
# - PostgreSQL cannot be had: with CI=true that is an error (exit 1, CMD not run), because CI
#   must never silently skip the PostgreSQL half; locally CMD runs without PG* variables and
#   the pytest fixtures skip the PostgreSQL tests.
#
# Exit status: CMD's exit status (or 1 when PostgreSQL is required but unavailable).
set -euo pipefail

readonly PROG="with_postgres.sh"

if [ "$#" -eq 0 ]; then
    echo "usage: $PROG CMD [ARG...]" >&2
    exit 2
fi

is_ci() {
    # Same rule as tests/python/conftest.py: CI=true (any case) makes PostgreSQL mandatory.
    local ci="${CI:-}"
    [ "${ci,,}" = "true" ]
}

# PostgreSQL is unavailable: fail under CI, otherwise run CMD without any PG* settings so the
# tests skip instead of failing (conftest fails on an unreachable server when PGHOST is set).
CMD=("$@")
no_postgres() {
    teardown
    if is_ci; then
        echo "$PROG: ERROR: $1. CI=true requires PostgreSQL; not running: ${CMD[*]}" >&2
        exit 1
    fi
    echo "$PROG: WARNING: $1. Running without PostgreSQL; its tests will be skipped." >&2
    unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD
    exec "${CMD[@]}"
}

# Stops and deletes the throwaway cluster if one was made; redefined once it exists.
teardown() { :; }

# ---------------------------------------------------------------------------------------------
# 1. An existing server was given explicitly: just check that it answers.
# ---------------------------------------------------------------------------------------------
if [ -n "${PGHOST:-}" ] && [ -n "${PGPORT:-}" ]; then
    answered=false
    if command -v pg_isready >/dev/null 2>&1; then
        # pg_isready exits 0 only when the server accepts connections.
        if pg_isready -q -t 10; then answered=true; fi
    elif command -v psql >/dev/null 2>&1; then
        if psql -X -q -d "${PGDATABASE:-postgres}" -c 'select 1' >/dev/null 2>&1; then
            answered=true
        fi
    else
        echo "$PROG: neither pg_isready nor psql found; cannot check $PGHOST:$PGPORT" >&2
    fi
    if [ "$answered" != true ]; then
        # The caller pointed us at this server on purpose, so an unreachable one is a
        # configuration error in every mode, not a reason to quietly skip its tests.
        echo "$PROG: ERROR: PostgreSQL at PGHOST=$PGHOST PGPORT=$PGPORT does not answer" \
            "(unset PGHOST/PGPORT to start a throwaway cluster instead)." >&2
        exit 1
    fi
    exec "${CMD[@]}"
fi

# ---------------------------------------------------------------------------------------------
# 2. Start a throwaway cluster.
# ---------------------------------------------------------------------------------------------
IS_ROOT=false
if [ "$(id -u)" -eq 0 ]; then IS_ROOT=true; fi

# Directory holding initdb/pg_ctl. Debian keeps them out of PATH under
# /usr/lib/postgresql/<ver>/bin (pg_config --bindir prints it); other systems put them on PATH.
find_pg_bindir() {
    local dir candidate
    if command -v pg_config >/dev/null 2>&1; then
        dir="$(pg_config --bindir 2>/dev/null || true)"
        # pg_config can come from the client-only libpq-dev, so check initdb really is there.
        if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return 0
        fi
    fi
    local -a versions
    mapfile -t versions < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r)
    for candidate in "${versions[@]}"; do
        if [ -x "$candidate/initdb" ] && [ -x "$candidate/pg_ctl" ]; then
            echo "$candidate"
            return 0
        fi
    done
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
        return 0
    fi
    return 1
}

PGBIN="$(find_pg_bindir || true)"
if [ -z "$PGBIN" ]; then
    # Installing is only possible (and only sensible) as root on an apt-based machine.
    if [ "$IS_ROOT" = true ] && command -v apt-get >/dev/null 2>&1; then
        echo "$PROG: PostgreSQL server binaries not found; installing with apt-get" >&2
        if apt-get update -q >&2 \
            && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2; then
            PGBIN="$(find_pg_bindir || true)"
        fi
    fi
fi
if [ -z "$PGBIN" ]; then
    no_postgres "PostgreSQL server binaries (initdb, pg_ctl) are not installed and could not be installed"
fi

# initdb refuses to run as root, so as root the cluster belongs to the postgres user.
if [ "$IS_ROOT" = true ] && ! id -u postgres >/dev/null 2>&1; then
    no_postgres "running as root but there is no 'postgres' user to own the throwaway cluster"
fi
as_pg_owner() {
    if [ "$IS_ROOT" = true ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# A free TCP port on 127.0.0.1 (never a fixed 5432: another cluster may own it).
free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
        return
    fi
    local port
    for _ in $(seq 1 50); do
        port=$((20000 + RANDOM % 40000))
        if ! ss -Htanl "sport = :$port" 2>/dev/null | grep -q .; then
            echo "$port"
            return
        fi
    done
    return 1
}

PGROOT="$(mktemp -d "${TMPDIR:-/tmp}/lpa-pg.XXXXXX")"
PG_STARTED=false

teardown() {
    if [ "$PG_STARTED" = true ]; then
        (cd "$PGROOT" && as_pg_owner "$PGBIN/pg_ctl" -D "$PGROOT/data" -m fast -w -t 60 stop) \
            >/dev/null 2>&1 || echo "$PROG: warning: could not stop the cluster in $PGROOT" >&2
        PG_STARTED=false
    fi
    rm -rf "$PGROOT"
}
cleanup() {
    # Always stop the server and delete its files, whatever happened to CMD; keep CMD's status.
    local status=$?
    teardown
    exit "$status"
}
trap cleanup EXIT
# Turn signals into a normal exit so the EXIT trap stops the cluster.
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$IS_ROOT" = true ]; then chown postgres: "$PGROOT"; fi

# Start from a directory the postgres user can read; as root the caller's cwd may not be.
cd_run() { (cd "$PGROOT" && as_pg_owner "$@"); }

# UTF8/C locale so text is stored byte for byte and md5() checksums match Python's;
# --no-sync and the -c settings below trade durability (pointless here) for speed.
if ! cd_run "$PGBIN/initdb" -D "$PGROOT/data" -A trust -U postgres -E UTF8 --locale=C \
    --no-sync >"$PGROOT/initdb.log" 2>&1; then
    cat "$PGROOT/initdb.log" >&2
    no_postgres "initdb failed (log above)"
fi

# Retry with a fresh port: another process may grab the free port between check and bind.
for attempt in 1 2 3; do
    PORT="$(free_port || true)"
    if [ -z "$PORT" ]; then break; fi
    if cd_run "$PGBIN/pg_ctl" -D "$PGROOT/data" -l "$PGROOT/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $PGROOT -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null 2>&1; then
        PG_STARTED=true
        break
    fi
    echo "$PROG: cluster did not start on port $PORT (attempt $attempt)" >&2
done
if [ "$PG_STARTED" != true ]; then
    tail -n 20 "$PGROOT/server.log" >&2 2>/dev/null || true
    no_postgres "could not start a throwaway PostgreSQL cluster"
fi

# Settings from the caller's environment (service files, forced SSL, a password) would break
# or confuse connections to the trust-auth throwaway server.
unset PGSERVICE PGSSLMODE PGPASSWORD PGOPTIONS
export PGHOST=127.0.0.1 PGPORT="$PORT" PGUSER=postgres PGDATABASE=analytics

if ! "$PGBIN/psql" -X -q -d postgres -c 'create database analytics' >/dev/null; then
    no_postgres "could not create database analytics"
fi
echo "$PROG: throwaway PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on" \
    "127.0.0.1:$PORT (database analytics, data in $PGROOT)" >&2

# Not exec: the EXIT trap must run after CMD to stop the cluster. Capture the status without
# tripping set -e so it can be propagated.
status=0
"${CMD[@]}" || status=$?
exit "$status"
