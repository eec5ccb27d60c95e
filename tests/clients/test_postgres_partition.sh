#!/usr/bin/env bash
# Fleet mode through a network partition: Postgres in a namespace of its own, cloudmeta in the
# host namespace, and an nftables rule in the host that drops every packet to and from the
# database (the host stops answering: no RST, no ICMP, as when a switch or a firewall fails).
#
#   host: cloudmeta on 169.254.169.254:80, br0 198.18.0.1/24, dbh 198.19.0.1/24
#     |-- vm a 198.18.0.10
#     `-- veth -- db 198.19.0.2/24: PostgreSQL (tests/support/pg_cluster.sh)
#
# Asserted, with DATABASE_TIMEOUT_MS=1000:
#   - during the drop, metadata answers within its client's 1 s timeout, and /healthz and an admin
#     API call answer 503 within 2 s (2 x DATABASE_TIMEOUT_MS), still so 10 s later, and the
#     systemd watchdog keep-alive (sd_notify to a socket this test reads) does not stop;
#   - a server restarted during the drop serves metadata (IMDSv1 and v2) from its snapshot cache
#     file, flagged stale in /healthz and /metrics;
#   - once the rule is removed: fresh again and writable without a restart;
#   - the same with Postgres stopped (connections refused) and started again.
# Usage: bash tests/clients/test_postgres_partition.sh /path/to/cloudmeta
set -euo pipefail
source "$(dirname "$0")/netns.sh"
cm_init "${1:-}"
command -v nft >/dev/null || cm_die "nft is missing (Debian package nftables): run install-deps.sh"
pg_script="$CM_DIR/../support/pg_cluster.sh"

timeout_ms=1000
bound_s=2  # 2 x DATABASE_TIMEOUT_MS

cm_host_up
cm_vm_add a 198.18.0.10
db_ns="$(cm_ns d)"
cm_new_ns d
ip -n "$CM_HOST" link add dbh type veth peer name eth0 netns "$db_ns"
ip -n "$CM_HOST" addr add 198.19.0.1/24 dev dbh
ip -n "$CM_HOST" link set dbh up
ip -n "$db_ns" addr add 198.19.0.2/24 dev eth0
ip -n "$db_ns" link set eth0 up

pg_state="$CM_TMP/pg"
notify_pid=""
pg_stop() {
  bash "$pg_script" stop "$pg_state" >/dev/null 2>&1 || true
  if [ -n "$notify_pid" ]; then kill "$notify_pid" 2>/dev/null || true; fi
}
trap 'status=$?; set +e; pg_stop; (exit "$status"); cm_cleanup' EXIT

# systemd's end of sd_notify, played here: every line the server sends, appended to a file.
# WATCHDOG_USEC=2 s makes the server send WATCHDOG=1 every second while it considers itself alive.
"$CM_PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as out:
    while True:
        out.write(s.recv(65536).decode(errors="replace") + "\n")
        out.flush()
' "$CM_TMP/notify.sock" "$CM_TMP/notify.log" &
notify_pid=$!
watchdogs() { grep -c '^WATCHDOG=1$' "$CM_TMP/notify.log" 2>/dev/null || true; }
PG_NETNS="$db_ns" PG_LISTEN=198.19.0.2 bash "$pg_script" start "$pg_state" >/dev/null ||
  cm_die "cannot start PostgreSQL in $db_ns"
# shellcheck disable=SC1091
source "$pg_state/env"
CM_DATABASE_URL="postgresql://$PG_USER:$PG_PASSWORD@198.19.0.2:$PG_PORT/postgres"
CM_SERVER_ENV=(DATABASE_TIMEOUT_MS=$timeout_ms REFRESH_INTERVAL_MS=200 METRICS_PUBLIC=true
  SNAPSHOT_CACHE_INTERVAL_S=0
  NOTIFY_SOCKET="$CM_TMP/notify.sock" WATCHDOG_USEC=2000000)
cm_server_start

vm_id=i-0a0a0a0a0a0a0a010
cat >"$CM_TMP/a.json" <<EOF
{"instance_id": "$vm_id", "ip": "198.18.0.10", "hostname": "a.partition.test"}
EOF
cm_seed "$CM_TMP/a.json"

# imds PATH [curl args]: the VM's request with the 1 s timeout botocore and cloud-init use.
imds() {
  local path="$1"
  shift
  cm_in_vm a curl -sS --max-time 1 "$@" "http://169.254.169.254$path" 2>/dev/null || true
}

# admin_timed METHOD PATH: "STATUS SECONDS" of an admin request (curl gives up after 20 s).
admin_timed() {
  cm_in_host curl -s --max-time 20 -X "$1" -H "Authorization: Bearer $CM_API_TOKEN" \
    -o "$CM_TMP/timed.body" -w '%{http_code} %{time_total}' "$CM_ADMIN_URL$2" || true
}

# expect_bounded LABEL METHOD PATH STATUS: the admin surface answers STATUS within bound_s.
expect_bounded() {
  local got status seconds
  got="$(admin_timed "$2" "$3")"
  status="${got%% *}"
  seconds="${got##* }"
  if [ "$status" = "$4" ] && awk -v s="$seconds" -v b="$bound_s" 'BEGIN { exit !(s < b) }'; then
    cm_pass "$1: $status in ${seconds}s"
  else
    cm_fail "$1: expected $4 within ${bound_s}s, got [$got] $(cat "$CM_TMP/timed.body" 2>/dev/null)"
  fi
}

# wait_for LABEL SECONDS COMMAND...: passes when COMMAND succeeds within SECONDS.
wait_for() {
  local label="$1" limit="$2"
  shift 2
  local start=$SECONDS
  while ((SECONDS - start < limit)); do
    if "$@"; then
      cm_pass "$label (after $((SECONDS - start)) s)"
      return 0
    fi
    sleep 0.2
  done
  cm_fail "$label: not within $limit s"
}

healthz_fresh() {
  local body
  body="$(cm_in_host curl -s --max-time 2 -w ' %{http_code}' "$CM_ADMIN_URL/healthz" || true)"
  [[ "$body" == *'"status":"ok"'*' 200' && "$body" != *stale* ]]
}

healthz_stale() {
  cm_in_host curl -s --max-time "$bound_s" "$CM_ADMIN_URL/healthz" | grep -q '"stale":true'
}

metric_stale() {
  cm_in_host curl -s --max-time "$bound_s" "$CM_ADMIN_URL/metrics" |
    grep -qx "cloudmeta_snapshot_stale $1"
}

metadata_answers() {
  [ "$(imds /latest/meta-data/instance-id)" = "$vm_id" ]
}

imdsv2_answers() {
  local token
  token="$(imds /latest/api/token -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60')"
  [ -n "$token" ] &&
    [ "$(imds /latest/meta-data/instance-id -H "X-aws-ec2-metadata-token: $token")" = "$vm_id" ]
}

# The seed patched the served snapshot; the sync thread then reloads in full to rewrite the file.
cache_has_seed() { grep -q 'event=snapshot_loaded instances=1 ' "$CM_TMP/server.log"; }
wait_for "the snapshot cache file is rewritten after the write" 10 cache_has_seed
cm_expect_eq "the cache file is private (0600)" 600 "$(stat -c %a "$CM_TMP/snapshot.cache")"
cm_expect_eq "before the partition: metadata" "$vm_id" "$(imds /latest/meta-data/instance-id)"
wait_for "before the partition: /healthz fresh" 10 healthz_fresh

# ---- the partition: every packet between cloudmeta and Postgres dropped ----
partition() {
  cm_in_host nft -f - <<'NFT'
table inet partition {
  chain output { type filter hook output priority 0; ip daddr 198.19.0.2 drop; }
  chain input { type filter hook input priority 0; ip saddr 198.19.0.2 drop; }
}
NFT
}
heal() { cm_in_host nft delete table inet partition; }

partition
cm_log "partition: packets to and from 198.19.0.2 dropped"
for round in 1 2 3; do
  cm_expect_eq "partition, round $round: metadata within 1 s" "$vm_id" \
    "$(imds /latest/meta-data/instance-id)"
  expect_bounded "partition, round $round: /healthz" GET /healthz 503
  expect_bounded "partition, round $round: admin API" GET /api/v1/instances 503
done
wait_for "partition: /healthz says stale" 10 healthz_stale
pings_before="$(watchdogs)"
sleep 10
pings="$(( $(watchdogs) - pings_before ))"
if [ "$pings" -ge 5 ]; then
  cm_pass "partition: the watchdog keep-alive goes on ($pings in 10 s)"
else
  cm_fail "partition: the watchdog keep-alive stopped ($pings WATCHDOG=1 in 10 s; systemd would kill)"
fi
expect_bounded "partition, 10 s later: /healthz" GET /healthz 503
expect_bounded "partition, 10 s later: admin API" GET /api/v1/instances 503
cm_expect_eq "partition, 10 s later: metadata within 1 s" "$vm_id" \
  "$(imds /latest/meta-data/instance-id)"

cm_server_stop || cm_fail "cloudmeta serve exited non-zero on SIGTERM during the partition"
cm_server_start
cm_log "restarted during the partition"
wait_for "restarted during the partition: metadata from the cache file" 5 metadata_answers
cm_expect_match "restarted during the partition: logged the cache load" \
  'event=snapshot_from_cache' "$(grep 'event=snapshot_from_cache' "$CM_TMP/server.log" || true)"
wait_for "restarted during the partition: IMDSv2 token and GET" 5 imdsv2_answers
expect_bounded "restarted during the partition: /healthz" GET /healthz 503
expect_bounded "restarted during the partition: admin API" GET /api/v1/instances 503
wait_for "restarted during the partition: /healthz says stale" 5 healthz_stale
wait_for "restarted during the partition: cloudmeta_snapshot_stale 1" 5 metric_stale 1

heal
cm_log "partition healed"
wait_for "healed: /healthz fresh again, no restart" 20 healthz_fresh
wait_for "healed: cloudmeta_snapshot_stale 0" 5 metric_stale 0
cat >"$CM_TMP/b.json" <<EOF
{"instance_id": "i-0b0b0b0b0b0b0b011", "ip": "198.18.0.11", "hostname": "b.partition.test"}
EOF
cm_expect_eq "healed: a write works again" 201 "$(cm_in_host curl -s --max-time 10 -o /dev/null \
  -w '%{http_code}' -H "Authorization: Bearer $CM_API_TOKEN" -H 'Content-Type: application/json' \
  --data-binary "@$CM_TMP/b.json" "$CM_ADMIN_URL/api/v1/instances")"
cm_expect_eq "healed: metadata" "$vm_id" "$(imds /latest/meta-data/instance-id)"

# ---- Postgres stopped: connections refused at once ----
bash "$pg_script" halt "$pg_state" || cm_die "cannot stop PostgreSQL"
cm_log "PostgreSQL stopped"
expect_bounded "stopped: /healthz" GET /healthz 503
expect_bounded "stopped: admin API" GET /api/v1/instances 503
cm_expect_eq "stopped: metadata within 1 s" "$vm_id" "$(imds /latest/meta-data/instance-id)"
cm_server_stop || cm_fail "cloudmeta serve exited non-zero on SIGTERM with Postgres stopped"
cm_server_start
wait_for "restarted with Postgres stopped: metadata from the cache file" 5 metadata_answers
wait_for "restarted with Postgres stopped: /healthz says stale" 5 healthz_stale
bash "$pg_script" resume "$pg_state" || cm_die "cannot start PostgreSQL again"
cm_log "PostgreSQL started again"
wait_for "started again: /healthz fresh, no restart" 20 healthz_fresh
cm_expect_eq "started again: the write made before the stop is served" i-0b0b0b0b0b0b0b011 \
  "$(cm_in_host curl -s --max-time 5 -H "Authorization: Bearer $CM_API_TOKEN" \
    "$CM_ADMIN_URL/api/v1/instances/i-0b0b0b0b0b0b0b011" | sed -n 's/.*"instance_id":"\([^"]*\)".*/\1/p')"

cm_finish
