#!/bin/bash
# Start PostgreSQL on $PGDATA, making the cluster first when the volume is empty.
#
#   POSTGRES_PASSWORD_FILE  file holding the password of POSTGRES_USER (a mounted Secret),
#   or POSTGRES_PASSWORD    the password itself; one of them is required on first start
#   POSTGRES_USER           the superuser role (default queuefleet)
#   POSTGRES_DB             a database created on first start (default queuefleet)
#
# Only $PGDATA (a volume) and the socket folder are written, so the root filesystem can be
# read-only. Clients connect over TCP with scram-sha-256; the socket trusts nobody either.
# Extra arguments go to postgres (e.g. -c max_connections=50).
set -euo pipefail

user=${POSTGRES_USER:-queuefleet}
database=${POSTGRES_DB:-queuefleet}
die() { echo "queuefleet-postgres: $*" >&2; exit 1; }

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
  if [[ -n "${POSTGRES_PASSWORD_FILE:-}" ]]; then
    [[ -r "$POSTGRES_PASSWORD_FILE" ]] || die "POSTGRES_PASSWORD_FILE: $POSTGRES_PASSWORD_FILE is not readable"
    password=$(<"$POSTGRES_PASSWORD_FILE")
  else
    password=${POSTGRES_PASSWORD:-}
  fi
  [[ -n "$password" ]] || die "the data folder $PGDATA is empty: set POSTGRES_PASSWORD_FILE or POSTGRES_PASSWORD for the first start"
  # The password reaches initdb through a pipe, never a file on disk or the command line.
  initdb --pgdata "$PGDATA" --username "$user" --pwfile <(printf '%s\n' "$password") \
    --auth scram-sha-256 --encoding UTF8 --locale C.UTF-8 >/dev/null
  unset password
  # initdb admits loopback only; this server is reached through a Service or a published port.
  printf 'host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
  if [[ "$database" != postgres ]]; then
    # Single-user mode: no server, no socket, no password needed before the first start.
    printf 'CREATE DATABASE "%s" OWNER "%s";\n' "${database//\"/\"\"}" "${user//\"/\"\"}" |
      postgres --single -D "$PGDATA" -j postgres >/dev/null
  fi
  echo "queuefleet-postgres: created the cluster in $PGDATA (role $user, database $database)"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/var/run/postgresql "$@"
