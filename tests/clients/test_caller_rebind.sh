#!/usr/bin/env bash
# CALLER_BINDING=port follows a guest that moves between bridge ports, from the kernel's own
# notices (server/identity/neighbour_table.cpp), within a second. One guest, two ports: the VM
# before a migration (namespace a, port vha) and after it (namespace b, port vhb), the same MAC
# and address, only one of them running at a time. Both ports keep their carrier throughout, so
# the bridge's forwarding entry for the MAC is not flushed but moves from port to port, and the
# host's neighbour entry (address -> MAC) never changes: the move is seen in the FDB alone.
#
#   1. record interface=vha, a running: served.
#   2. migration: the record says vhb first (as a hook would write it): a, still on vha, is
#      refused; then a stops and b starts on vhb: b must be served within 1 s of the move.
#   3. a MAC that moves back to another port without the record following (b stops, a starts
#      on vha): a must be refused within 1 s, from its very first connection.
# Each wait polls every 50 ms from inside the guest (rebind_poll.py) and fails beyond 1 s; the
# times are printed.
# Usage: bash tests/clients/test_caller_rebind.sh /path/to/cloudmeta
set -euo pipefail
source "$(dirname "$0")/netns.sh"
cm_init "${1:-}"

g_ip=198.18.0.12 g_mac=0e:00:5e:00:00:12 g_id=i-0bbbbbbbbbbbbbb12
cm_host_bridge virbr-md imds

# guest NAME: a namespace on port vhNAME with the guest's MAC, its link up but no address yet.
# IPv6 is off inside, so an idle guest sends nothing (no router solicitations, no MLD) that
# would teach the bridge its MAC on a port before the test says so.
guest() {
  local name="$1"
  local ns
  ns="$(cm_ns "v$name")"
  cm_new_ns "v$name"
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
  ip -n "$CM_HOST" link add "vh$name" type veth peer name eth0 netns "$ns"
  ip -n "$CM_HOST" link set "vh$name" master "$CM_BRIDGE" up
  ip -n "$ns" link set eth0 address "$g_mac"
  ip -n "$ns" link set eth0 up
}
# The guest runs: its address and default route. It stops: the address goes, the link stays up
# (a stopped VM's tap stays on the bridge), so its port keeps the forwarding entry.
runs() {
  cm_in_vm "$1" ip addr add "$g_ip/24" dev eth0
  cm_in_vm "$1" ip route replace default via "$CM_HOST_BR_IP"
}
stops() { cm_in_vm "$1" ip addr flush dev eth0; }

status_from() {
  cm_in_vm "$1" curl -s --max-time 1 -o /dev/null -w '%{http_code}' \
    http://169.254.169.254/latest/meta-data/instance-id || true
}
# moves_and_waits LABEL VM STATUS: VM starts (its address and route, from inside it, as its
# network scripts would), then rebind_poll.py polls every 50 ms until VM gets STATUS, at most
# 1 s after the move.
moves_and_waits() {
  local label="$1" vm="$2" want="$3"
  local out status=0
  out="$(cm_in_vm "$vm" "$CM_PYTHON" -B -E -s "$CM_DIR/rebind_poll.py" "$want" 1000 50 -- \
    sh -c "ip addr add $g_ip/24 dev eth0 && ip route replace default via $CM_HOST_BR_IP")" ||
    status=$?
  cm_log "$label: $out"
  if [ "$status" = 0 ]; then
    cm_pass "$label within 1 s (${out%%;*})"
  else
    cm_fail "$label: not within 1 s ($out)"
  fi
  MOVE_POLLS="${out#*polls: }"
}
fdb_port_of_mac() {
  cm_in_host bridge -j fdb show br "$CM_BRIDGE" |
    "$CM_PYTHON" -c 'import json,sys; print(" ".join(e["ifname"] for e in json.load(sys.stdin)
      if e.get("mac") == sys.argv[1] and "permanent" not in e.get("state", "")))' "$g_mac"
}

guest a
guest b
CM_SERVER_ENV=(CALLER_BINDING=port)
cm_server_start
cat >"$CM_TMP/g.json" <<EOF
{"instance_id": "$g_id", "ip": "$g_ip", "mac": "$g_mac", "interface": "vha"}
EOF
cm_seed "$CM_TMP/g.json"

# 1. Before the migration.
runs a
cm_expect_eq "guest on vha, record vha: served" 200 "$(status_from a)"
cm_expect_eq "the bridge learned the guest's MAC on vha" vha "$(fdb_port_of_mac)"

# 2. The migration: the record first, then the guest.
echo '{"interface": "vhb"}' >"$CM_TMP/to-vhb.json"
cm_admin PATCH "/api/v1/instances/$g_id" "$CM_TMP/to-vhb.json" >/dev/null
cm_expect_eq "record says vhb, guest still on vha: refused on the old port" 404 \
  "$(status_from a)"
stops a
moves_and_waits "migrated guest on vhb re-bound (served)" b 200
cm_expect_eq "the forwarding entry moved to vhb (vha kept its carrier)" vhb "$(fdb_port_of_mac)"
cm_expect_eq "vha is still up" UP \
  "$(ip -n "$CM_HOST" -br link show vha | awk '{print $2}')"

# 3. The MAC moves back to vha, the record still says vhb.
stops b
moves_and_waits "the MAC on vha again, record vhb: refused" a 404
# The frames that moved the MAC opened the connection: its lookup must already see the move
# (NeighbourTable::settled), or a guest forging a neighbour's address and MAC would be served
# as that neighbour by the old port's binding, once per move it makes.
cm_expect_match "not one answer from the old port's binding after the move" '^404@[0-9]+ms$' \
  "$MOVE_POLLS"
cm_expect_eq "the forwarding entry moved back to vha" vha "$(fdb_port_of_mac)"
cm_expect_match "the refusal names the port seen and the one expected" \
  "event=binding_mismatch .*address=$g_ip .*instance=$g_id .*expected_port=vhb .*seen_port=vha" \
  "$(grep 'event=binding_mismatch' "$CM_TMP/server.log" | tail -n 1)"

cm_server_stop || cm_fail "cloudmeta did not exit cleanly"
cm_finish
