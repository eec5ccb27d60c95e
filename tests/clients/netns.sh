# Network-namespace harness for the real-client tests; sourced by tests/clients/test_*.sh.
#
# Topology (every name carries this shell's PID, so parallel runs never collide):
#
#   cm<pid>h  "host": cloudmeta on 169.254.169.254:80 (on lo), admin API on 127.0.0.1,
#             bridge br0 = 198.18.0.1/24, forwards (a hypervisor routes for its guests)
#     |-- veth -- cm<pid>v<name>   a VM, 198.18.0.x/24, route to 169.254.169.254 via 198.18.0.1
#     |-- veth -- cm<pid>r<name>   a router: 198.18.0.x/24 upstream, bridge dn0 198.18.<n>.1/24
#                   |-- veth -- cm<pid>v<name>   VMs one routed hop further away
#
# Only 198.18.0.0/15 (RFC 2544 benchmarking), 169.254.169.254 and loopback are used, all inside
# namespaces created here; nothing is routed to the machine's own network.
# The EXIT trap kills the server and deletes every namespace whatever way the test ends.
#
# Use: source netns.sh; cm_init "$1"; cm_host_up; cm_vm_add ...; cm_server_start; ...; cm_finish

CM_ID="cm$$"
CM_HOST="${CM_ID}h"
CM_HOST_BR_IP=198.18.0.1
CM_IMDS_IP=169.254.169.254
# The host bridge the VMs and routers attach to (cm_host_bridge names it as the docs do), and
# where cm_server_start binds the metadata surface (cm_dnat_test: elsewhere, behind DNAT).
CM_BRIDGE=br0
CM_BIND="$CM_IMDS_IP"
CM_PORT=80
# Debian's interpreter and packages: a python3 earlier on PATH (pyenv, venv) would bring its
# own botocore and no cloudinit.
CM_PYTHON=/usr/bin/python3
CM_AWS=/usr/bin/aws
CM_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

CM_NAMESPACES=()
CM_NETNS_ETC=()
CM_SERVER_PID=""
CM_TMP=""
CM_PASSED=0
CM_FAILED=0

cm_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

cm_die() {
  printf 'FATAL: %s\n' "$*" >&2
  exit 1
}

cm_cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$CM_SERVER_PID" ] && kill -0 "$CM_SERVER_PID" 2>/dev/null; then
    kill "$CM_SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$CM_SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$CM_SERVER_PID" 2>/dev/null || true
  fi
  if [ -n "$CM_SERVER_PID" ]; then wait "$CM_SERVER_PID" 2>/dev/null || true; fi
  local ns
  for ns in "${CM_NAMESPACES[@]}"; do
    # Processes a test left inside the namespace (none expected) would keep it alive.
    local pids
    pids="$(ip netns pids "$ns" 2>/dev/null || true)"
    if [ -n "$pids" ]; then kill -KILL $pids 2>/dev/null || true; fi
    ip netns delete "$ns" 2>/dev/null || true
  done
  local etc
  for etc in "${CM_NETNS_ETC[@]}"; do rm -rf "$etc"; done
  if [ -n "$CM_TMP" ] && [ -d "$CM_TMP" ]; then
    if [ "$status" != 0 ] && [ -f "$CM_TMP/server.log" ]; then
      echo "---- server log (last 60 lines) ----" >&2
      tail -n 60 "$CM_TMP/server.log" >&2
    fi
    rm -rf "$CM_TMP"
  fi
  exit "$status"
}

# cm_init BINARY: checks the prerequisites (never skips silently), makes the temp dir, sets traps.
cm_init() {
  CM_BIN="${1:-}"
  [ -n "$CM_BIN" ] || cm_die "usage: $0 /path/to/cloudmeta"
  [ -x "$CM_BIN" ] || cm_die "cloudmeta binary not found or not executable: $CM_BIN"
  CM_BIN="$(cd "$(dirname "$CM_BIN")" && pwd)/$(basename "$CM_BIN")"
  [ "$(id -u)" = 0 ] || cm_die "network namespaces need root (running as uid $(id -u))"
  command -v ip >/dev/null || cm_die "ip (iproute2) is not installed: run scripts/install-deps.sh"
  command -v curl >/dev/null || cm_die "curl is not installed: run scripts/install-deps.sh"
  [ -x "$CM_PYTHON" ] || cm_die "$CM_PYTHON is missing: run scripts/install-deps.sh"
  trap cm_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  CM_TMP="$(mktemp -d "${TMPDIR:-/tmp}/cloudmeta-clients.XXXXXX")"
  if ! ip netns add "$CM_HOST" 2>"$CM_TMP/netns.err"; then
    cm_die "cannot create a network namespace: $(cat "$CM_TMP/netns.err")"
  fi
  CM_NAMESPACES+=("$CM_HOST")
  cm_set_forwarding "$CM_HOST" 1
}

# cm_set_forwarding NS 0|1: IPv4 forwarding in one of the test's namespaces, set explicitly. A new
# namespace copies its IPv4 settings from the machine's own at creation
# (net.core.devconf_inherit_init_net=0, the default), and the machine's changes under the tests:
# podman's bridge network turns net.ipv4.ip_forward on when it starts the first container. What a
# test sees must not depend on whether a container ran before it: a host without forwarding drops
# a guest's packet for an address it has no route to silently (the client times out), a host that
# forwards answers with ICMP unreachable (the client fails at once).
cm_set_forwarding() {
  ip netns exec "$1" sysctl -qw "net.ipv4.conf.all.forwarding=$2"
}

cm_ns() { printf '%s' "${CM_ID}$1"; }

# Runs a command inside a namespace by its short name: h (host), v<name> (VM), r<name> (router).
cm_exec() {
  local short="$1"
  shift
  ip netns exec "$(cm_ns "$short")" "$@"
}

cm_in_vm() {
  local vm="$1"
  shift
  cm_exec "v$vm" "$@"
}

cm_in_host() { cm_exec h "$@"; }

cm_new_ns() {
  local ns
  ns="$(cm_ns "$1")"
  ip netns add "$ns"
  CM_NAMESPACES+=("$ns")
  cm_set_forwarding "$ns" 0
  ip -n "$ns" link set lo up
}

cm_host_up() {
  local h="$CM_HOST"
  ip -n "$h" link set lo up
  ip -n "$h" addr add "$CM_IMDS_IP/32" dev lo
  ip -n "$h" link add br0 type bridge
  ip -n "$h" addr add "$CM_HOST_BR_IP/24" dev br0
  ip -n "$h" link set br0 up
}

# cm_vm_add NAME IPV4 [MAC]: a VM on the host bridge. The MAC is the guest NIC's address,
# which cloud-init matches against network/interfaces/macs/.
cm_vm_add() {
  local name="$1" ip4="$2" mac="${3:-}"
  local ns
  ns="$(cm_ns "v$name")"
  cm_new_ns "v$name"
  ip -n "$CM_HOST" link add "vh$name" type veth peer name eth0 netns "$ns"
  ip -n "$CM_HOST" link set "vh$name" master "$CM_BRIDGE" up
  [ -n "$mac" ] && ip -n "$ns" link set eth0 address "$mac"
  ip -n "$ns" addr add "$ip4/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add "$CM_IMDS_IP/32" via "$CM_HOST_BR_IP"
}

# cm_router_add NAME UPLINK_IPV4 SUBNET_INDEX: a router on the host bridge that forwards to the
# downstream subnet 198.18.<SUBNET_INDEX>.0/24, a bridge dn0 in the router (its address: .1).
cm_router_add() {
  local name="$1" up_ip="$2" idx="$3"
  local ns
  ns="$(cm_ns "r$name")"
  cm_new_ns "r$name"
  ip -n "$CM_HOST" link add "rh$name" type veth peer name up0 netns "$ns"
  ip -n "$CM_HOST" link set "rh$name" master "$CM_BRIDGE" up
  ip -n "$ns" addr add "$up_ip/24" dev up0
  ip -n "$ns" link set up0 up
  ip -n "$ns" route add "$CM_IMDS_IP/32" via "$CM_HOST_BR_IP"
  ip -n "$ns" link add dn0 type bridge
  ip -n "$ns" addr add "198.18.$idx.1/24" dev dn0
  ip -n "$ns" link set dn0 up
  # This router forwards; the VMs do not (cm_new_ns), the host does (cm_init).
  cm_set_forwarding "$ns" 1
  ip -n "$CM_HOST" route add "198.18.$idx.0/24" via "$up_ip"
}

# cm_vm_behind_router NAME ROUTER SUBNET_INDEX HOST_OCTET: a VM on the router's downstream subnet.
cm_vm_behind_router() {
  local name="$1" router="$2" idx="$3" octet="$4"
  local ns rns
  ns="$(cm_ns "v$name")"
  rns="$(cm_ns "r$router")"
  cm_new_ns "v$name"
  ip -n "$rns" link add "dn$name" type veth peer name eth0 netns "$ns"
  ip -n "$rns" link set "dn$name" master dn0 up
  ip -n "$ns" addr add "198.18.$idx.$octet/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add "$CM_IMDS_IP/32" via "198.18.$idx.1"
}

# cm_host_bridge NAME [imds]: the host as docs/hypervisor.md builds it: the guests' bridge NAME
# with the gateway address 198.18.0.1/24 and, with "imds", 169.254.169.254/32 on the same bridge
# ("Binding the address on the bridge"); without it the address exists nowhere on the host and
# only a DNAT rule can answer it. Later VMs attach to NAME.
cm_host_bridge() {
  local name="$1" imds="${2:-}"
  local h="$CM_HOST"
  CM_BRIDGE="$name"
  ip -n "$h" link set lo up
  ip -n "$h" link add "$name" type bridge
  ip -n "$h" link set "$name" up
  ip -n "$h" addr add "$CM_HOST_BR_IP/24" dev "$name"
  if [ "$imds" = imds ]; then ip -n "$h" addr add "$CM_IMDS_IP/32" dev "$name"; fi
}

# cm_guest_add NAME IPV4 MAC [zeroconf]: a VM configured as a guest OS configures itself: its
# address, a default route via the bridge (198.18.0.1), nothing for 169.254.169.254. With
# "zeroconf" it also has the on-link 169.254.0.0/16 route that RHEL-style network scripts (unless
# NOZEROCONF=yes) and avahi-autoipd add, so it ARPs for 169.254.169.254 itself instead of
# sending to its gateway.
cm_guest_add() {
  local name="$1" ip4="$2" mac="$3" zeroconf="${4:-}"
  local ns
  ns="$(cm_ns "v$name")"
  cm_new_ns "v$name"
  ip -n "$CM_HOST" link add "vh$name" type veth peer name eth0 netns "$ns"
  ip -n "$CM_HOST" link set "vh$name" master "$CM_BRIDGE" up
  ip -n "$ns" link set eth0 address "$mac"
  ip -n "$ns" addr add "$ip4/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add default via "$CM_HOST_BR_IP"
  if [ "$zeroconf" = zeroconf ]; then
    ip -n "$ns" route add 169.254.0.0/16 dev eth0 scope link metric 1002
  fi
  # A default route would send the guest's DNS queries (cloud-init probes for DNS redirection)
  # towards this machine's resolver, where they would wait for timeouts inside the namespaces;
  # a resolver on the guest's own loopback refuses at once. `ip netns exec` bind-mounts
  # /etc/netns/NS/resolv.conf over /etc/resolv.conf for commands run in the namespace.
  mkdir -p "/etc/netns/$ns"
  CM_NETNS_ETC+=("/etc/netns/$ns")
  echo 'nameserver 127.0.0.1' >"/etc/netns/$ns/resolv.conf"
}

# cm_server_start: cloudmeta in the host namespace; sets CM_ADMIN_URL and CM_API_TOKEN (the first
# start creates the token; later starts keep it). CM_DATABASE_URL (default: a SQLite file in the
# temp dir) and CM_SERVER_ENV (more VAR=value settings) may be set before.
CM_SERVER_ENV=()
cm_server_start() {
  CM_DATABASE_URL="${CM_DATABASE_URL:-sqlite:///$CM_TMP/db.sqlite}"
  # Truncated here, not by the background child's redirection: on a restart the loop below could
  # otherwise read the previous run's log (its listener lines) before the child truncates it.
  : >"$CM_TMP/server.out"
  : >"$CM_TMP/server.log"
  # The working directory is the temp dir, so no stray .env is read.
  (
    cd "$CM_TMP"
    exec ip netns exec "$CM_HOST" env PORT="$CM_PORT" BIND="$CM_BIND" ADMIN_PORT=0 \
      ADMIN_BIND=127.0.0.1 DATABASE_URL="$CM_DATABASE_URL" LOG_LEVEL=info LOG_FORMAT=text \
      "${CM_SERVER_ENV[@]}" "$CM_BIN" serve >"$CM_TMP/server.out" 2>"$CM_TMP/server.log"
  ) &
  CM_SERVER_PID=$!
  local port="" line
  for _ in $(seq 100); do
    line="$(grep -m1 'event=listening surface=admin' "$CM_TMP/server.log" 2>/dev/null || true)"
    if [ -n "$line" ]; then
      port="$(printf '%s\n' "$line" | sed -n 's/.* port=\([0-9][0-9]*\).*/\1/p')"
      break
    fi
    kill -0 "$CM_SERVER_PID" 2>/dev/null || cm_die "cloudmeta serve exited during start-up"
    sleep 0.1
  done
  [ -n "$port" ] || cm_die "cloudmeta did not log its admin port within 10 s"
  for _ in $(seq 50); do
    grep -q 'event=listening surface=metadata' "$CM_TMP/server.log" && break
    sleep 0.1
  done
  grep -q 'event=listening surface=metadata' "$CM_TMP/server.log" ||
    cm_die "cloudmeta did not log its metadata listener within 5 s of the admin port"
  CM_ADMIN_URL="http://127.0.0.1:$port"
  if [ -z "${CM_API_TOKEN:-}" ]; then
    (cd "$CM_TMP" && cm_in_host env DATABASE_URL="$CM_DATABASE_URL" "$CM_BIN" token create \
      --name t >"$CM_TMP/token.out" 2>"$CM_TMP/token.err") ||
      cm_die "token create failed: $(cat "$CM_TMP/token.err")"
    CM_API_TOKEN="$(tail -n 1 "$CM_TMP/token.out")"
    [ -n "$CM_API_TOKEN" ] || cm_die "token create printed no token"
  fi
  cm_log "cloudmeta up: metadata $CM_BIND:$CM_PORT, admin $CM_ADMIN_URL (in $CM_HOST)"
}

# cm_server_stop: SIGTERM, and the exit status of `cloudmeta serve` (it must stop by itself within
# its shutdown grace).
cm_server_stop() {
  local status=0
  kill "$CM_SERVER_PID" 2>/dev/null || true
  wait "$CM_SERVER_PID" || status=$?
  CM_SERVER_PID=""
  return "$status"
}

# cm_admin METHOD PATH [JSON_FILE]: the admin API from inside the host namespace; prints the body,
# fails unless the status is 2xx.
cm_admin() {
  local method="$1" path="$2" file="${3:-}"
  local args=(-sS --max-time 10 -X "$method" -H "Authorization: Bearer $CM_API_TOKEN"
    -o "$CM_TMP/admin.body" -w '%{http_code}')
  [ -n "$file" ] && args+=(-H 'Content-Type: application/json' --data-binary "@$file")
  local code
  code="$(cm_in_host curl "${args[@]}" "$CM_ADMIN_URL$path")"
  if [ "${code:0:1}" != 2 ]; then
    echo "admin $method $path -> $code: $(cat "$CM_TMP/admin.body")" >&2
    return 1
  fi
  cat "$CM_TMP/admin.body"
}

# cm_seed JSON_FILE: creates the instance record the file holds.
cm_seed() {
  cm_admin POST /api/v1/instances "$1" >/dev/null || cm_die "seeding $1 failed"
}

# Server-log lines of metadata requests from one address (text format: key=value).
cm_requests_from() {
  grep 'event=request ' "$CM_TMP/server.log" | grep "surface=metadata" | grep " address=$1 " || true
}

# cm_aws_in_vm VM ARGS...: Debian's aws CLI with an empty HOME and no configuration files, so
# credentials and region can only come from IMDS at its default endpoint; env -i keeps the
# caller's AWS_* variables (and any other python on PATH) out.
cm_aws_in_vm() {
  local vm="$1"
  shift
  mkdir -p "$CM_TMP/home-$vm"
  cm_in_vm "$vm" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$CM_TMP/home-$vm" LANG=C.UTF-8 \
    AWS_CONFIG_FILE="$CM_TMP/home-$vm/none/config" \
    AWS_SHARED_CREDENTIALS_FILE="$CM_TMP/home-$vm/none/credentials" \
    AWS_METADATA_SERVICE_TIMEOUT=5 AWS_METADATA_SERVICE_NUM_ATTEMPTS=2 \
    "$CM_AWS" "$@"
}

# cm_py_check LABEL VM SCRIPT ARGS...: one of the Python client checks (they print their own
# lines) inside a VM, counted as one pass or fail here; no AWS_* override can leak in.
cm_py_check() {
  local label="$1" vm="$2" script="$3"
  shift 3
  local status=0
  cm_in_vm "$vm" env -u AWS_EC2_METADATA_SERVICE_ENDPOINT -u AWS_EC2_METADATA_DISABLED \
    "$CM_PYTHON" -B -E -s "$CM_DIR/$script" "$@" 2>"$CM_TMP/py-$vm.err" || status=$?
  if [ "$status" = 0 ]; then
    cm_pass "$label"
  else
    cm_fail "$label (its stderr follows)"
    tail -n 30 "$CM_TMP/py-$vm.err" >&2
  fi
}

# cm_only_instance LABEL ADDRESS INSTANCE_ID: the server logged requests from ADDRESS and
# attributed every one of them to INSTANCE_ID (no other instance, never "unknown").
cm_only_instance() {
  local lines
  lines="$(cm_requests_from "$2")"
  local total others
  total="$(grep -c . <<<"$lines" || true)"
  others="$(grep . <<<"$lines" | grep -vc " instance=$3 " || true)"
  if [ "$total" -gt 0 ] && [ "$others" = 0 ]; then
    cm_pass "$1 ($total requests)"
  else
    cm_fail "$1: $total requests from $2, $others not attributed to $3"
    grep -v " instance=$3 " <<<"$lines" | head -n 5 >&2
  fi
}

cm_pass() {
  CM_PASSED=$((CM_PASSED + 1))
  echo "ok   - $1"
}

cm_fail() {
  CM_FAILED=$((CM_FAILED + 1))
  echo "FAIL - $1"
}

# cm_expect_eq LABEL EXPECTED ACTUAL
cm_expect_eq() {
  if [ "$2" == "$3" ]; then
    cm_pass "$1"
  else
    cm_fail "$1: expected [$2], got [$3]"
  fi
}

# cm_expect_match LABEL EXTENDED_REGEX TEXT
cm_expect_match() {
  if printf '%s' "$3" | grep -Eq -- "$2"; then
    cm_pass "$1"
  else
    cm_fail "$1: [$3] does not match /$2/"
  fi
}

# cm_finish: the closing summary; non-zero when anything failed or nothing was checked.
cm_finish() {
  echo "$CM_PASSED passed, $CM_FAILED failed"
  [ "$CM_FAILED" = 0 ] && [ "$CM_PASSED" -gt 0 ]
}
