#!/usr/bin/env bash
# docker/compose.yaml with podman-compose: cloudmeta (host network) and Postgres (a local
# stand-in image tagged as the name the compose file uses) come up, cloudmeta migrates the
# Postgres database, and a record written through the admin API is served as metadata.
# Usage: test_compose.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
SOURCE_DIR=$1 BUILD_DIR=$2
source "$(dirname "$0")/podman_env.sh"

project=cmcompose$$
export POSTGRES_PASSWORD=compose-test-$$-password POSTGRES_PORT=$(free_port)
export CLOUDMETA_IMAGE=$PRODUCT_IMAGE BIND=127.0.0.1 PORT=$(free_port) ADMIN_PORT=$(free_port)
export LOG_FORMAT=text
# Debian 12's podman-compose (1.0.3) needs the wrapper for `network_mode: host` (see its header).
compose() {
  podman-compose --podman-path "$SOURCE_DIR/docker/podman-host-network.sh" -p "$project" \
    -f "$SOURCE_DIR/docker/compose.yaml" "$@"
}
cleanup() {
  compose down -v >/dev/null 2>&1 || true
  # podman-compose 1.0.3 leaves the project network and the images' anonymous volumes behind.
  podman rm -f -v -t 0 "${project}_cloudmeta_1" "${project}_postgres_1" >/dev/null 2>&1 || true
  podman volume rm -f "${project}_pgdata" >/dev/null 2>&1 || true
  podman network rm -f "${project}_default" >/dev/null 2>&1 || true
  podman volume prune -f >/dev/null 2>&1 || true
}
trap cleanup EXIT

pg_image=$(awk '/^  postgres:/ {p=1} p && /image:/ {print $2; exit}' \
  "$SOURCE_DIR/docker/compose.yaml")
[ "$pg_image" = "$POSTGRES_IMAGE" ] || { echo "compose.yaml uses $pg_image" >&2; exit 1; }
podman build --pull=never --format docker -q -t "$POSTGRES_IMAGE" "$(dirname "$0")/postgres" \
  >/dev/null

compose_log="$PODMAN_STATE/tmp/$project-up.log"
compose up -d > "$compose_log" 2>&1 || { cat "$compose_log"; exit 1; }
if ! WAIT_SECONDS=90 wait_until curl -sf "http://127.0.0.1:$ADMIN_PORT/readyz"; then
  cat "$compose_log"; podman logs "${project}_cloudmeta_1" 2>&1 | tail -n 20 || true
fi
rm -f "$compose_log"
check "compose up: cloudmeta ready on Postgres" \
  curl -sf -o /dev/null "http://127.0.0.1:$ADMIN_PORT/readyz"
check "cloudmeta's healthcheck passes (the store answers)" \
  timeout 20 podman healthcheck run "${project}_cloudmeta_1"
check "cloudmeta logs a postgres DATABASE_URL, password redacted" bash -c \
  "podman logs ${project}_cloudmeta_1 2>&1 | grep -q 'postgres://cloudmeta:\*\*\*@'"

token=$(podman exec "${project}_cloudmeta_1" cloudmeta token create --name compose | tail -n1)
status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST \
  -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"instance_id": "i-0000000000c0e0e00", "ip": "127.0.0.4"}' \
  "http://127.0.0.1:$ADMIN_PORT/api/v1/instances")
check "a record written through the admin API ($status)" test "$status" = 201
check "is served as metadata" test "$(curl -sf --max-time 5 --interface 127.0.0.4 \
  "http://127.0.0.1:$PORT/latest/meta-data/instance-id")" = i-0000000000c0e0e00
check "and is stored in Postgres" bash -c "podman exec ${project}_postgres_1 psql -U cloudmeta \
  -d cloudmeta -tAc \"select count(*) from instances where instance_id = 'i-0000000000c0e0e00'\" \
  | grep -qx 1"

echo "$failures failure(s)"
[ "$failures" = 0 ]
