#!/usr/bin/env bash
# The shipped units under a real systemd as PID 1 in a container: the sockets are active and the
# service is not; the first request starts it (Type=notify); StatusText says what it serves; a
# record written through the admin API survives `systemctl restart` (StateDirectory); `systemctl
# stop` is clean (Result=success, exit 0) and the sockets start it again on the next request.
# Ports come from drop-ins (the shipped 169.254.169.254:80 stays as is underneath).
# Usage: test_systemd_pid1.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
SOURCE_DIR=$1 BUILD_DIR=$2
source "$(dirname "$0")/podman_env.sh"

name=cm-systemd-$$
image=$SYSTEMD_IMAGE
context=$(mktemp -d "$PODMAN_STATE/tmp/systemd-context.XXXXXX")
cleanup() {
  podman rm -f -v -t 0 "$name" >/dev/null 2>&1 || true
  rm -rf "$context"
}
trap cleanup EXIT

imds_port=$(free_port) admin_port=$(free_port)
caller=127.0.0.3 instance=i-0000000000000d00d
mkdir -p "$context/units/cloudmeta.socket.d" "$context/units/cloudmeta-admin.socket.d" \
  "$context/units/cloudmeta.service.d"
# The opt-in SCHED_IDLE for the admin thread, to check that the unit's system call filter lets it.
printf '[Service]\nEnvironment=ADMIN_SCHED_IDLE=1\n' > "$context/units/cloudmeta.service.d/test-sched.conf"
cp "$SOURCE_DIR"/systemd/cloudmeta.service "$SOURCE_DIR"/systemd/cloudmeta.socket \
  "$SOURCE_DIR"/systemd/cloudmeta-admin.socket "$context/units/"
printf '[Socket]\nListenStream=\nListenStream=127.0.0.1:%s\n' "$imds_port" \
  > "$context/units/cloudmeta.socket.d/test-port.conf"
printf '[Socket]\nListenStream=\nListenStream=127.0.0.1:%s\n' "$admin_port" \
  > "$context/units/cloudmeta-admin.socket.d/test-port.conf"
cat > "$context/units/cloudmeta-token.service" <<'UNIT'
[Service]
Type=oneshot
DynamicUser=yes
User=cloudmeta
StateDirectory=cloudmeta
WorkingDirectory=/var/lib/cloudmeta
Environment=DATABASE_URL=sqlite:///var/lib/cloudmeta/cloudmeta.db
ExecStart=/usr/local/bin/cloudmeta token create --name ci
StandardOutput=file:/run/cloudmeta-token.out
UNIT
cp "$(dirname "$0")/systemd.Dockerfile" "$context/Dockerfile"
podman run --rm -v "$SOURCE_DIR/docker/runtime-packages.sh:/tmp/runtime-packages.sh:ro" \
  --entrypoint /bin/sh "$PRODUCT_IMAGE" /tmp/runtime-packages.sh /usr/local/bin/cloudmeta \
  > "$context/runtime-packages"
podman build --pull=never --format docker -q -t "$image" "$context" >/dev/null

# SYS_ADMIN: the hardened unit's namespaces (ProtectSystem, PrivateTmp, DynamicUser) need it.
podman run -d --name "$name" --systemd=always --cap-add SYS_ADMIN --network host "$image" \
  >/dev/null
in_box() { podman exec "$name" "$@"; }
unit_state() { in_box systemctl show -p ActiveState --value "$1"; }

check "systemd reaches running" wait_until bash -c \
  "podman exec $name systemctl is-system-running | grep -Eq 'running|degraded'"
check "both sockets are active" test "$(unit_state cloudmeta.socket)/$(unit_state \
  cloudmeta-admin.socket)" = active/active
check "the service waits for its first connection" \
  test "$(unit_state cloudmeta.service)" = inactive

check "the first request (GET /readyz) starts the service and is answered" \
  curl -sf -o /dev/null --max-time 30 "http://127.0.0.1:$admin_port/readyz"
check "the service is active (READY=1 arrived)" test "$(unit_state cloudmeta.service)" = active
# DynamicUser= allocates from 61184-65519 (systemd's dynamic range).
state_uid=$(in_box stat -c %u /var/lib/private/cloudmeta || true)
check "it runs as a dynamic user (uid $state_uid owns its StateDirectory)" \
  bash -c "[ '$state_uid' -ge 61184 ] && [ '$state_uid' -le 65519 ]"

# An API token, created as docs/hypervisor.md tells operators (systemd-run with the service's
# dynamic user and StateDirectory; a oneshot unit here, as the container has no D-Bus). A
# different dynamic user would take the StateDirectory over from the running service.
in_box systemctl start cloudmeta-token.service
token=$(in_box tail -n1 /run/cloudmeta-token.out)
check "the token helper ran as the service's user" test "$(in_box stat -c %u \
  /var/lib/private/cloudmeta/cloudmeta.db)" = "$state_uid"
status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST \
  -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d "{\"instance_id\": \"$instance\", \"ip\": \"$caller\"}" \
  "http://127.0.0.1:$admin_port/api/v1/instances")
check "admin API through the activated socket registers an instance ($status)" test "$status" = 201
metadata() {
  curl -sf --max-time 10 --interface "$caller" \
    "http://127.0.0.1:$imds_port/latest/meta-data/instance-id"
}
check "metadata through the activated socket" test "$(metadata)" = "$instance"
# The unit's system call filter lets the admin thread (the main one) lower itself to SCHED_IDLE
# (ADMIN_SCHED_IDLE=1, set by the drop-in above)
# (policy 5, field 41 of /proc/PID/task/TID/stat); the metadata threads keep SCHED_OTHER (0).
main_pid=$(in_box systemctl show -p MainPID --value cloudmeta.service)
thread_policy() { in_box sed 's/^.*) //' "/proc/$main_pid/task/$1/stat" | cut -d' ' -f39; }
policies=$(for tid in $(in_box ls "/proc/$main_pid/task"); do
  echo "$tid=$(thread_policy "$tid")"; done | tr '\n' ' ')
check "admin thread at SCHED_IDLE, metadata threads normal under the unit ($policies)" bash -c \
  "grep -q ' $main_pid=5 ' <<<' $policies ' && grep -q '=0 ' <<<' $policies '"
status_text() { in_box systemctl show -p StatusText --value cloudmeta.service; }
check "StatusText says what is served" wait_until bash -c "$(declare -f in_box status_text); \
  name=$name; status_text | grep -q 'serving 1 instances; metadata 127.0.0.1:$imds_port'"
in_box systemctl show -p StatusText cloudmeta.service

in_box systemctl restart cloudmeta.service
check "after systemctl restart the record (StateDirectory) is still served" \
  test "$(metadata)" = "$instance"

in_box systemctl stop cloudmeta.service 2>/dev/null  # (warns that the sockets stay active)
check "systemctl stop is clean (Result=success, exit status 0)" test \
  "$(in_box systemctl show -p Result --value cloudmeta.service)/$(in_box systemctl show \
  -p ExecMainStatus --value cloudmeta.service)" = success/0
check "the log shows a graceful stop" bash -c \
  "podman exec $name journalctl -u cloudmeta.service --no-pager | grep -q 'event=stopped'"
check "the sockets stay active after the stop" test "$(unit_state cloudmeta.socket)" = active
check "the next request starts it again" test "$(metadata)" = "$instance"

started=$(date +%s)
podman stop -t 30 "$name" >/dev/null
check "the container's systemd shuts down cleanly ($(( $(date +%s) - started )) s)" \
  test "$(podman inspect --format '{{.State.ExitCode}}' "$name")" = 0

echo "$failures failure(s)"
[ "$failures" = 0 ]
