#!/usr/bin/env bash
# CALLER_BINDING on a real Linux bridge (docs/hypervisor.md, "Binding callers"). Guest a is
# registered with its MAC and its bridge port (vha); guest m, on port vhm, is hostile. With a
# stopped, m takes a's address, then a's MAC too. Under each mode the same four fetches:
#
#                                        address     mac        port
#   a, itself                            served      served     served
#   m, with a's address                  SERVED      404        404       <- address's risk
#   m, with a's address and MAC          SERVED      SERVED     404       <- mac's limit
#   a again, after m went                served      served     served    (the port re-learned)
#
# A refused caller is answered exactly as an unknown one (AWS's 404 page), logged as
# binding_mismatch and counted in /metrics. The host's and the guests' neighbour caches are
# flushed before each fetch, so each one resolves its addresses afresh, as a new guest does.
# Usage: bash tests/clients/test_caller_binding.sh /path/to/cloudmeta
set -euo pipefail
source "$(dirname "$0")/netns.sh"
cm_init "${1:-}"

a_ip=198.18.0.11 a_mac=0e:00:5e:00:00:11 a_id=i-0aaaaaaaaaaaaaa11
m_ip=198.18.0.66 m_mac=0e:00:5e:00:00:66
cm_host_bridge virbr-md imds
cm_guest_add a "$a_ip" "$a_mac"
cm_guest_add m "$m_ip" "$m_mac"

# fetch VM: "STATUS BODY" of an IMDSv1 GET of instance-id, or "STATUS" alone when not 200.
fetch() {
  local vm="$1"
  ip -n "$CM_HOST" neigh flush dev "$CM_BRIDGE"
  cm_in_vm "$vm" ip neigh flush dev eth0
  cm_in_vm "$vm" curl -s --max-time 5 -o "$CM_TMP/body" -w '%{http_code}' \
    http://169.254.169.254/latest/meta-data/instance-id >"$CM_TMP/code" || true
  if [ "$(cat "$CM_TMP/code")" = 200 ]; then
    echo "200 $(cat "$CM_TMP/body")"
  else
    cat "$CM_TMP/code"
  fi
}

guest_a_stopped() { cm_in_vm a ip link set eth0 down; }
# A link taken down loses its routes: the default route comes back with it, as a guest's
# network scripts would bring it back.
guest_a_running() {
  cm_in_vm a ip link set eth0 up
  cm_in_vm a ip route replace default via "$CM_HOST_BR_IP"
}
m_takes_address() {
  cm_in_vm m ip addr flush dev eth0
  cm_in_vm m ip addr add "$a_ip/24" dev eth0
  cm_in_vm m ip route replace default via "$CM_HOST_BR_IP"
}
m_takes_mac() { cm_in_vm m ip link set eth0 address "$a_mac"; }
m_gives_back() {
  cm_in_vm m ip link set eth0 down
  cm_in_vm m ip link set eth0 address "$m_mac"
  cm_in_vm m ip addr flush dev eth0
  cm_in_vm m ip addr add "$m_ip/24" dev eth0
  cm_in_vm m ip link set eth0 up
  cm_in_vm m ip route replace default via "$CM_HOST_BR_IP"
}

run_mode() {
  local mode="$1" spoof_ip="$2" spoof_both="$3"
  CM_SERVER_ENV=(CALLER_BINDING="$mode")
  cm_server_start
  if [ "$mode" = address ]; then
    cat >"$CM_TMP/a.json" <<EOF
{"instance_id": "$a_id", "ip": "$a_ip", "mac": "$a_mac", "interface": "vha",
 "hostname": "vm-a.bridge.test"}
EOF
    cm_seed "$CM_TMP/a.json"
  fi
  cm_expect_eq "$mode: guest a is served its record" "200 $a_id" "$(fetch a)"
  guest_a_stopped
  m_takes_address
  cm_expect_eq "$mode: guest m with a's address" "$spoof_ip" "$(fetch m)"
  m_takes_mac
  cm_expect_eq "$mode: guest m with a's address and MAC" "$spoof_both" "$(fetch m)"
  m_gives_back
  guest_a_running
  cm_expect_eq "$mode: guest a again, after m went" "200 $a_id" "$(fetch a)"
  cm_expect_eq "$mode: guest m at its own address is unknown" 404 "$(fetch m)"
  if [ "$mode" != address ]; then
    cm_expect_match "$mode: the refusal is logged with what was expected and seen" \
      "event=binding_mismatch .*address=$a_ip .*instance=$a_id .*expected_mac=$a_mac" \
      "$(grep 'event=binding_mismatch' "$CM_TMP/server.log" | head -n 1)"
    local reason=mac_mismatch
    [ "$mode" = port ] && reason=port_mismatch
    cm_expect_match "$mode: /metrics counts the refusal ($reason)" \
      "^cloudmeta_binding_refusals_total\{reason=\"$reason\"\} [1-9]" \
      "$(cm_admin GET /metrics | grep "reason=\"$reason\"")"
  else
    cm_expect_eq "address: nothing is refused for its binding" "" \
      "$(grep 'event=binding_mismatch' "$CM_TMP/server.log" || true)"
  fi
  cm_server_stop || cm_fail "$mode: cloudmeta did not exit cleanly"
}

run_mode address "200 $a_id" "200 $a_id"
run_mode mac 404 "200 $a_id"
run_mode port 404 404
cm_finish
