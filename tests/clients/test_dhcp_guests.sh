#!/usr/bin/env bash
# DHCP guests on a real Linux bridge (docs/hypervisor.md, "DHCP guests"). Guest d is registered
# with its MAC and bridge port (vhd) and no address; guest p with an address an operator set;
# guest m, on port vhm, is hostile.
#
#   CALLER_BINDING=address: d is unknown (nothing vouches for its MAC, so nothing is learned).
#   CALLER_BINDING=port:
#     d calls from its first lease        served; its address learned (API, log, /metrics)
#     d renews to another address          served again; local-ipv4 follows, the old one is free
#     m forges d's MAC from its own port   404; d's record keeps its address (refused, counted)
#     d again, after m went                served at its address
#     p moves off its operator-set address 404 at the new one; the record is not moved
#
# The host's and the guests' neighbour caches are flushed before each fetch, so each one
# resolves its addresses afresh, as a new guest does.
# Usage: bash tests/clients/test_dhcp_guests.sh /path/to/cloudmeta
set -euo pipefail
source "$(dirname "$0")/netns.sh"
cm_init "${1:-}"

d_ip=198.18.0.21 d_ip2=198.18.0.22 d_mac=0e:00:5e:00:00:21 d_id=i-0ddddddddddddd021
p_ip=198.18.0.31 p_ip2=198.18.0.32 p_mac=0e:00:5e:00:00:31 p_id=i-0ddddddddddddd031
m_ip=198.18.0.66 m_mac=0e:00:5e:00:00:66
cm_host_bridge virbr-md imds
cm_guest_add d "$d_ip" "$d_mac"
cm_guest_add p "$p_ip" "$p_mac"
cm_guest_add m "$m_ip" "$m_mac"

# fetch VM [PATH]: "STATUS BODY" of an IMDSv1 GET of PATH (instance-id), or "STATUS" alone when
# not 200.
fetch() {
  local vm="$1" path="${2:-instance-id}"
  ip -n "$CM_HOST" neigh flush dev "$CM_BRIDGE"
  cm_in_vm "$vm" ip neigh flush dev eth0
  cm_in_vm "$vm" curl -s --max-time 5 -o "$CM_TMP/body" -w '%{http_code}' \
    "http://169.254.169.254/latest/meta-data/$path" >"$CM_TMP/code" || true
  if [ "$(cat "$CM_TMP/code")" = 200 ]; then
    echo "200 $(cat "$CM_TMP/body")"
  else
    cat "$CM_TMP/code"
  fi
}

# readdress VM IPV4: the guest's DHCP client took another lease.
readdress() {
  cm_in_vm "$1" ip addr flush dev eth0
  cm_in_vm "$1" ip addr add "$2/24" dev eth0
  cm_in_vm "$1" ip route replace default via "$CM_HOST_BR_IP"
}

# record ID: "ip ip_learned" of the stored record, through the admin API.
record() {
  cm_admin GET "/api/v1/instances/$1" |
    "$CM_PYTHON" -c 'import json,sys; r=json.load(sys.stdin); print(r["ip"] or "-", str(r["ip_learned"]).lower())'
}

learning() {
  cm_admin GET /metrics | sed -n "s/^cloudmeta_address_learning_total{result=\"$1\"} //p"
}

cat >"$CM_TMP/d.json" <<EOF
{"instance_id": "$d_id", "mac": "$d_mac", "interface": "vhd", "hostname": "dhcp-d.bridge.test"}
EOF
cat >"$CM_TMP/p.json" <<EOF
{"instance_id": "$p_id", "ip": "$p_ip", "mac": "$p_mac", "interface": "vhp"}
EOF

CM_SERVER_ENV=(CALLER_BINDING=address)
cm_server_start
cm_seed "$CM_TMP/d.json"
cm_seed "$CM_TMP/p.json"
cm_expect_eq "address: a DHCP guest is unknown (nothing vouches for its MAC)" 404 "$(fetch d)"
cm_expect_eq "address: nothing was learned" "- false" "$(record "$d_id")"
cm_server_stop || cm_fail "address: cloudmeta did not exit cleanly"

CM_SERVER_ENV=(CALLER_BINDING=port)
cm_server_start
cm_expect_eq "port: the DHCP guest is recognised at its first call" "200 $d_id" "$(fetch d)"
cm_expect_eq "port: local-ipv4 is the learned address" "200 $d_ip" "$(fetch d local-ipv4)"
cm_expect_eq "port: the API shows the learned address" "$d_ip true" "$(record "$d_id")"
cm_expect_match "port: the learn is logged" \
  "event=address_learned address=$d_ip previous=- mac=$d_mac port=vhd instance=$d_id" \
  "$(grep 'event=address_learned' "$CM_TMP/server.log" | head -n 1)"
cm_expect_eq "port: /metrics counts it" 1 "$(learning learned)"

sleep 1.1  # one learn per MAC per second
readdress d "$d_ip2"
cm_expect_eq "port: the guest is recognised at its new lease" "200 $d_id" "$(fetch d)"
cm_expect_eq "port: local-ipv4 follows it" "200 $d_ip2" "$(fetch d local-ipv4)"
cm_expect_eq "port: the API shows the new address" "$d_ip2 true" "$(record "$d_id")"
cm_expect_eq "port: /metrics counts both learns" 2 "$(learning learned)"

sleep 1.1
cm_in_vm m ip link set eth0 address "$d_mac"
readdress m 198.18.0.23
cm_expect_eq "port: a guest forging d's MAC from its own port is refused" 404 "$(fetch m)"
cm_expect_eq "port: d's record keeps its address" "$d_ip2 true" "$(record "$d_id")"
cm_expect_eq "port: /metrics counts the refusal" 1 "$(learning refused)"
cm_expect_match "port: the refusal is logged" \
  "event=address_learn_refused address=198.18.0.23 mac=$d_mac port=vhm instance=$d_id reason=binding_mismatch" \
  "$(grep 'event=address_learn_refused' "$CM_TMP/server.log" | head -n 1)"
cm_in_vm m ip link set eth0 down
cm_in_vm m ip link set eth0 address "$m_mac"
cm_in_vm m ip link set eth0 up
readdress m "$m_ip"
cm_expect_eq "port: d again, after m went" "200 $d_id" "$(fetch d)"

cm_expect_eq "port: the operator-set address is served" "200 $p_id" "$(fetch p)"
readdress p "$p_ip2"
cm_expect_eq "port: from another address it is unknown" 404 "$(fetch p)"
cm_expect_eq "port: an operator-set address is not moved by learning" "$p_ip false" \
  "$(record "$p_id")"
cm_server_stop || cm_fail "port: cloudmeta did not exit cleanly"
cm_finish
