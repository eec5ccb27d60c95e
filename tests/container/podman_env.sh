# Sourced by the container tests: a podman of our own, with storage, run state, networks and
# temporary files under BUILD_DIR/podman (nothing outside it, so `rm -rf build` removes all),
# runc instead of crun (crun fails on hosts with hybrid cgroups) and ulimits the host allows
# (a container's RLIMIT_NOFILE above the hard limit fails without CAP_SYS_RESOURCE).
# Expects SOURCE_DIR and BUILD_DIR; defines PODMAN_STATE, the images the tier builds, free_port,
# wait_until and check.
PODMAN_STATE="$BUILD_DIR/podman"
PRODUCT_IMAGE=localhost/cloudmeta:test
# The stand-in built from Debian's postgresql-15, tagged as the name docker/compose.yaml uses.
POSTGRES_IMAGE=docker.io/library/postgres:15-bookworm
SYSTEMD_IMAGE=localhost/cloudmeta-systemd:test
mkdir -p "$PODMAN_STATE"/{storage,run,tmp,networks,cache}
hard_nofile=$(ulimit -Hn)
cat > "$PODMAN_STATE/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$hard_nofile:$hard_nofile", "nproc=4096:4096"]
[network]
network_config_dir = "$PODMAN_STATE/networks"
[engine]
runtime = "runc"
image_copy_tmp_dir = "$PODMAN_STATE/tmp"
CONF
cat > "$PODMAN_STATE/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$PODMAN_STATE/storage"
runroot = "$PODMAN_STATE/run"
CONF
export CONTAINERS_CONF="$PODMAN_STATE/containers.conf"
export CONTAINERS_STORAGE_CONF="$PODMAN_STATE/storage.conf"
export TMPDIR="$PODMAN_STATE/tmp"

# Without systemd as the host's PID 1, podman logs an error for every health-check timer it
# cannot create, start or remove (the tests run `podman healthcheck run` themselves): drop those.
podman() {
  command podman "$@" 2> >(grep -v -e 'unable to get systemd connection' \
    -e 'healthcheck: unable to get systemd' >&2)
}
export -f podman

# A free TCP port on loopback (the kernel picks; the race until use is acceptable in tests).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits until `$@` succeeds, up to $WAIT_SECONDS (default 30).
wait_until() {
  local deadline=$((SECONDS + ${WAIT_SECONDS:-30}))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}

failures=0
check() {  # check "what" command...
  local what=$1; shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; failures=$((failures + 1)); fi
}
