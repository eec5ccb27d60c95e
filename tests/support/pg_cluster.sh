#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests, from Debian's postgresql package.
#
#   pg_cluster.sh start STATE_DIR   initdb into a fresh /tmp directory, start it on 127.0.0.1 at a
#                                   free port (unix socket inside that directory, never the system's
#                                   /var/run/postgresql), and write STATE_DIR/env with PG_HOST,
#                                   PG_PORT, PG_USER, PG_PASSWORD, PG_DATA for the tests to read.
#   pg_cluster.sh stop STATE_DIR    stop that server and remove its directory and STATE_DIR/env.
#   pg_cluster.sh halt STATE_DIR    stop that server (fast shutdown: clients are disconnected) but
#                                   keep its data, for fault tests; `resume` starts it again on the
#                                   same port and data directory.
#
# PG_NETNS and PG_LISTEN (optional, for the partition test): start the server inside that network
# namespace (ip netns), listening on that address instead of 127.0.0.1, with password logins
# allowed from PG_LISTEN's /24; `halt` and `resume` follow the namespace recorded in STATE_DIR/env.
#
# Postgres refuses to run as root, so as root (CI) the server runs as the `postgres` user that the
# package creates (or `nobody` without it); its data directory lives in /tmp because a build tree
# under /root is not reachable by that user. Durability is switched off: the data is disposable.
set -euo pipefail

pg_bin="${PG_BIN:-/usr/lib/postgresql/15/bin}"
action="${1:-}"
state_dir="${2:-}"
if [[ -z "$action" || -z "$state_dir" ]]; then
  echo "usage: $0 start|stop|halt|resume STATE_DIR" >&2
  exit 2
fi

run_user=""
if [[ "$(id -u)" == 0 ]]; then
  if id postgres >/dev/null 2>&1; then run_user=postgres; else run_user=nobody; fi
fi

netns="${PG_NETNS:-}"
listen="${PG_LISTEN:-127.0.0.1}"

as_server_user() {
  local prefix=()
  if [[ -n "$netns" ]]; then prefix=(ip netns exec "$netns"); fi
  if [[ -n "$run_user" ]]; then
    "${prefix[@]}" runuser -u "$run_user" -- "$@"
  else
    "${prefix[@]}" "$@"
  fi
}

# A port below Linux's ephemeral range (32768+) that nothing listens on now. It can still be taken
# before postgres binds it; start() then retries with another one.
free_port() {
  local port
  while true; do
    port=$((20000 + RANDOM % 12000))
    if [[ -z "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]]; then
      echo "$port"
      return
    fi
  done
}

start() {
  if [[ ! -x "$pg_bin/initdb" ]]; then
    echo "pg_cluster: $pg_bin/initdb not found (install the postgresql package)" >&2
    exit 1
  fi
  mkdir -p "$state_dir"
  local dir password
  dir="$(mktemp -d "${TMPDIR:-/tmp}/cloudmeta-pg.XXXXXX")"
  chmod 700 "$dir"
  [[ -n "$run_user" ]] && chown "$run_user" "$dir"
  password="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  printf '%s\n' "$password" >"$dir/pwfile"
  [[ -n "$run_user" ]] && chown "$run_user" "$dir/pwfile"

  # TCP connections must authenticate with the password (as production would); the unix socket,
  # reachable only by the server's user, is trusted for administration.
  as_server_user "$pg_bin/initdb" -D "$dir/data" -U cloudmeta --pwfile="$dir/pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 --no-sync -E UTF8 --locale=C.UTF-8 \
    >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    exit 1
  }
  rm -f "$dir/pwfile"
  if [[ "$listen" != 127.0.0.1 ]]; then
    echo "host all all ${listen%.*}.0/24 scram-sha-256" >>"$dir/data/pg_hba.conf"
  fi

  # A free port can be taken between asking and binding; retry with another one.
  local port="" attempt
  for attempt in 1 2 3 4 5; do
    port="$(free_port)"
    cat >"$dir/data/postgresql.auto.conf" <<CONF
listen_addresses = '$listen'
port = $port
unix_socket_directories = '$dir'
max_connections = 100
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
CONF
    [[ -n "$run_user" ]] && chown "$run_user" "$dir/data/postgresql.auto.conf"
    if as_server_user "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
        >/dev/null 2>&1; then
      break
    fi
    port=""
    echo "pg_cluster: start attempt $attempt failed:" >&2
    tail -n 5 "$dir/server.log" >&2 || true
  done
  if [[ -z "$port" ]]; then
    rm -rf "$dir"
    exit 1
  fi
  cat >"$state_dir/env.tmp" <<ENV
PG_HOST=$listen
PG_PORT=$port
PG_NETNS=$netns
PG_USER=cloudmeta
PG_PASSWORD=$password
PG_DATA=$dir
ENV
  mv "$state_dir/env.tmp" "$state_dir/env"
  echo "pg_cluster: started on $listen:$port in $dir${netns:+ (netns $netns)}"
}

stop() {
  [[ -f "$state_dir/env" ]] || exit 0
  netns="$(sed -n 's/^PG_NETNS=//p' "$state_dir/env")"
  local dir
  dir="$(sed -n 's/^PG_DATA=//p' "$state_dir/env")"
  if [[ -n "$dir" && -d "$dir/data" ]]; then
    as_server_user "$pg_bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  # Only ever a directory this script made.
  [[ "$dir" == */cloudmeta-pg.* ]] && rm -rf "$dir"
  rm -f "$state_dir/env"
}

data_dir() {
  local dir
  dir="$(sed -n 's/^PG_DATA=//p' "$state_dir/env")"
  [[ -n "$dir" && -d "$dir/data" ]] || { echo "pg_cluster: no server in $state_dir" >&2; exit 1; }
  echo "$dir"
}

halt() {
  local dir
  dir="$(data_dir)"
  netns="$(sed -n 's/^PG_NETNS=//p' "$state_dir/env")"
  as_server_user "$pg_bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
}

resume() {
  local dir
  dir="$(data_dir)"
  netns="$(sed -n 's/^PG_NETNS=//p' "$state_dir/env")"
  as_server_user "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
}

case "$action" in
  start) start ;;
  stop) stop ;;
  halt) halt ;;
  resume) resume ;;
  *) echo "usage: $0 start|stop|halt|resume STATE_DIR" >&2; exit 2 ;;
esac
