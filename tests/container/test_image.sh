#!/usr/bin/env bash
# The product image, run for real with podman: non-root; with --network host it serves metadata
# to a client bound to a registered instance's address, and the admin API; `podman healthcheck
# run` passes and fails while the server is frozen; `podman stop -t 10` is a graceful SIGTERM
# (well under 2 s, exit 0); a record survives `podman restart` and a new container on the same
# volume; with a published port the metadata and admin surfaces answer too.
# Usage: test_image.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
SOURCE_DIR=$1 BUILD_DIR=$2
source "$(dirname "$0")/podman_env.sh"

run_id=cm-test-$$
volume=$run_id-data
cleanup() {
  podman rm -f -v -t 0 "$run_id-host" "$run_id-again" "$run_id-pub" >/dev/null 2>&1 || true
  podman volume rm -f "$volume" >/dev/null 2>&1 || true
}
trap cleanup EXIT

imds_port=$(free_port) admin_port=$(free_port)
instance=i-0c0ffee000000c0de
caller=127.0.0.2  # the registered instance's address: the test client binds to it

metadata_as() {  # metadata_as SOURCE PORT PATH
  curl -sf --max-time 5 --interface "$1" "http://127.0.0.1:$2$3"
}
admin_get() {  # admin_get PORT PATH
  curl -sf --max-time 5 -H "Authorization: Bearer $token" "http://127.0.0.1:$1$2"
}

user=$(podman image inspect --format '{{.Config.User}}' "$PRODUCT_IMAGE")
uid=$(podman run --rm --entrypoint /usr/bin/id "$PRODUCT_IMAGE" -u)
check "runs as non-root (USER $user, uid $uid)" test "$uid" != 0
check "image has a HEALTHCHECK" test -n "$(podman image inspect \
  --format '{{.Config.Healthcheck}}' "$PRODUCT_IMAGE" | grep healthcheck)"

podman volume create "$volume" >/dev/null
start_host_container() {  # start_host_container NAME
  podman run -d --name "$1" --network host -v "$volume:/var/lib/cloudmeta" \
    -e BIND=127.0.0.1 -e PORT="$imds_port" -e ADMIN_PORT="$admin_port" -e THREADS=2 \
    -e ADMIN_SCHED_IDLE=1 \
    "$PRODUCT_IMAGE" >/dev/null
  WAIT_SECONDS=30 wait_until curl -sf "http://127.0.0.1:$admin_port/readyz"
}
check "--network host: /readyz answers" start_host_container "$run_id-host"
token=$(podman exec "$run_id-host" cloudmeta token create --name ci | tail -n1)
status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST \
  -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d "{\"instance_id\": \"$instance\", \"ip\": \"$caller\"}" \
  "http://127.0.0.1:$admin_port/api/v1/instances")
check "admin API registers an instance (201)" test "$status" = 201
check "admin API lists it" bash -c "$(declare -f admin_get); token=$token; \
  admin_get $admin_port /api/v1/instances/$instance | grep -q $caller"
check "metadata for the client bound to $caller" \
  test "$(metadata_as "$caller" "$imds_port" /latest/meta-data/instance-id)" = "$instance"
check "an unregistered caller (127.0.0.1) gets no record" \
  bash -c "! curl -sf --max-time 5 --interface 127.0.0.1 \
    http://127.0.0.1:$imds_port/latest/meta-data/instance-id"

# Podman's default seccomp profile lets the admin thread (the container's PID 1, the server's
# main thread) lower itself to SCHED_IDLE (ADMIN_SCHED_IDLE=1 above): policy 5 in field 41 of its
# stat, read from the host.
server_pid=$(podman inspect -f '{{.State.Pid}}' "$run_id-host")
check "the admin thread runs at SCHED_IDLE inside the container" \
  test "$(sed 's/^.*) //' "/proc/$server_pid/stat" | cut -d' ' -f39)" = 5
check "podman healthcheck run passes" timeout 20 podman healthcheck run "$run_id-host"
podman kill --signal STOP "$run_id-host" >/dev/null
check "podman healthcheck run fails while the server is frozen" \
  bash -c "! timeout 20 podman healthcheck run $run_id-host"
podman kill --signal CONT "$run_id-host" >/dev/null
check "healthy again after SIGCONT" timeout 20 podman healthcheck run "$run_id-host"

check "podman restart keeps the record" bash -c "podman restart -t 10 $run_id-host >/dev/null && \
  WAIT_SECONDS=30; deadline=\$((SECONDS+30)); \
  until curl -sf --max-time 2 --interface $caller \
    http://127.0.0.1:$imds_port/latest/meta-data/instance-id | grep -qx $instance; do \
    [ \$SECONDS -lt \$deadline ] || exit 1; sleep 0.2; done"

started=$(date +%s%N)
podman stop -t 10 "$run_id-host" >/dev/null
elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
check "podman stop -t 10 returns in ${elapsed_ms} ms (< 2000: SIGTERM handled as PID 1)" \
  test "$elapsed_ms" -lt 2000
check "exit status 0 after SIGTERM" \
  test "$(podman inspect --format '{{.State.ExitCode}}' "$run_id-host")" = 0
check "the log says the store was closed before exit" \
  bash -c "podman logs $run_id-host 2>&1 | grep -q 'event=stopped'"
podman rm -v "$run_id-host" >/dev/null

check "a new container on the same volume serves the record" start_host_container "$run_id-again"
check "  ... to the client bound to $caller" \
  test "$(metadata_as "$caller" "$imds_port" /latest/meta-data/instance-id)" = "$instance"
podman rm -f -v -t 10 "$run_id-again" >/dev/null

# A published port on the default bridge network. The port forwarder accepts loopback clients
# from 127.0.0.1 only and rewrites their source to the network's gateway (docs/hypervisor.md), so
# the instance registered here has the gateway's address: what the server really sees.
pub_imds=$(free_port) pub_admin=$(free_port) pub_instance=i-0000000000000bead
podman run -d --name "$run_id-pub" -v "$volume:/var/lib/cloudmeta" -e ADMIN_BIND=0.0.0.0 \
  -p "127.0.0.1:$pub_imds:8000" -p "127.0.0.1:$pub_admin:8001" "$PRODUCT_IMAGE" >/dev/null
check "published port: /readyz answers" \
  wait_until curl -sf "http://127.0.0.1:$pub_admin/readyz"
check "published port: the admin API answers with the token" \
  bash -c "$(declare -f admin_get); token=$token; \
  admin_get $pub_admin /api/v1/instances/$instance | grep -q $caller"
gateway=$(podman inspect --format '{{.NetworkSettings.Gateway}}' "$run_id-pub")
status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST \
  -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d "{\"instance_id\": \"$pub_instance\", \"ip\": \"$gateway\"}" \
  "http://127.0.0.1:$pub_admin/api/v1/instances" || true)
check "published port: admin API registers the gateway $gateway ($status)" test "$status" = 201
imds_token=$(curl -sf --max-time 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' \
  "http://127.0.0.1:$pub_imds/latest/api/token" || true)
check "published port: IMDSv2 token PUT answers" test -n "$imds_token"
check "published port: metadata served (caller seen as $gateway)" test "$(curl -sf --max-time 5 \
  -H "X-aws-ec2-metadata-token: $imds_token" \
  "http://127.0.0.1:$pub_imds/latest/meta-data/instance-id" || true)" = "$pub_instance"
# (No timing here: tearing down the bridge network adds podman's own time to the stop.)
podman stop -t 10 "$run_id-pub" >/dev/null
check "published port: graceful stop (exit status 0)" \
  test "$(podman inspect --format '{{.State.ExitCode}}' "$run_id-pub")" = 0

echo "$failures failure(s)"
[ "$failures" = 0 ]
