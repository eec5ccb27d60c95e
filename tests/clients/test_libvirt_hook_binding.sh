#!/usr/bin/env bash
# A guest registered by `cloudmeta libvirt-hook` is served on a real bridge with IMDSv2 and
# CALLER_BINDING=port (issue 18's "done when"): its domain, defined by libvirt's test driver, has
# the guest's MAC and, as <target dev>, the guest's port on the bridge (the veth's host side, as
# libvirt's vnetN would be); the hook registers it from `virsh dumpxml` as libvirtd would call it.
# The guest reads its instance id with a token, not without one (http_tokens=required from the
# metadata element); a hostile guest on another port that takes its address and MAC is refused;
# after `release` the guest itself is answered as unknown, and after `prepare` served again.
# Usage: bash tests/clients/test_libvirt_hook_binding.sh /path/to/cloudmeta
set -euo pipefail
source "$(dirname "$0")/netns.sh"
cm_init "${1:-}"
command -v virsh >/dev/null || cm_die "virsh is missing: run scripts/install-deps.sh"

g_ip=198.18.0.21 g_mac=52:54:00:00:00:21
m_ip=198.18.0.66 m_mac=52:54:00:00:00:66
cm_host_bridge virbr-md imds
cm_guest_add g "$g_ip" "$g_mac"
cm_guest_add m "$m_ip" "$m_mac"
CM_SERVER_ENV=(CALLER_BINDING=port)
cm_server_start

cat >"$CM_TMP/g.def.xml" <<XML
<domain type='test'>
  <name>guest-g</name>
  <uuid>6f1e0a52-8c3d-4b7e-9a21-0c5d4e3f2a10</uuid>
  <metadata>
    <cloudmeta:instance xmlns:cloudmeta="https://cloudmeta.dev/xmlns/libvirt/1">
      <cloudmeta:ip>$g_ip</cloudmeta:ip>
      <cloudmeta:metadata-options http-tokens="required"/>
    </cloudmeta:instance>
  </metadata>
  <memory unit='MiB'>1024</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type></os>
  <devices>
    <interface type='bridge'>
      <mac address='$g_mac'/><source bridge='virbr-md'/><target dev='vhg'/>
    </interface>
  </devices>
</domain>
XML
virsh -q -c test:///default "define $CM_TMP/g.def.xml; dumpxml guest-g" >"$CM_TMP/g.xml"
g_id=i-6f1e0a528c3d4b7e9
install -m 0600 /dev/null "$CM_TMP/hook.token"
printf '%s\n' "$CM_API_TOKEN" >"$CM_TMP/hook.token"

hook() {  # hook OPERATION: libvirt's call, in the host namespace, the domain XML on stdin
  (cd "$CM_TMP" && cm_in_host env -i PATH="$PATH" ADMIN_PORT="${CM_ADMIN_URL##*:}" \
    LIBVIRT_HOOK_TOKEN_FILE="$CM_TMP/hook.token" LIBVIRT_HOOK_BRIDGE=virbr-md \
    "$CM_BIN" libvirt-hook guest-g "$1" begin - <"$CM_TMP/g.xml")
}

# fetch VM [token]: "STATUS BODY" of GET instance-id (with an IMDSv2 token when asked: then the
# token PUT's status when it is refused), after
# the neighbour caches are flushed so that each fetch resolves afresh.
fetch() {
  local vm="$1" with_token="${2:-}" headers=()
  ip -n "$CM_HOST" neigh flush dev "$CM_BRIDGE"
  cm_in_vm "$vm" ip neigh flush dev eth0
  if [ -n "$with_token" ]; then
    # A caller refused the token is done: its status is the answer.
    cm_in_vm "$vm" curl -s --max-time 5 -X PUT -o "$CM_TMP/token" -w '%{http_code}' \
      -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token \
      >"$CM_TMP/code" || true
    if [ "$(cat "$CM_TMP/code")" != 200 ]; then cat "$CM_TMP/code"; return; fi
    headers=(-H "X-aws-ec2-metadata-token: $(cat "$CM_TMP/token")")
  fi
  cm_in_vm "$vm" curl -s --max-time 5 "${headers[@]}" -o "$CM_TMP/body" -w '%{http_code}' \
    http://169.254.169.254/latest/meta-data/instance-id >"$CM_TMP/code" || true
  if [ "$(cat "$CM_TMP/code")" = 200 ]; then echo "200 $(cat "$CM_TMP/body")"; else cat "$CM_TMP/code"; fi
}

status=0
hook prepare 2>"$CM_TMP/hook.err" || status=$?
cm_expect_eq "the hook registers the domain (prepare)" 0 "$status"
record="$(cm_admin GET "/api/v1/instances/$g_id")"
cm_expect_eq "its binding fields are the guest's MAC and bridge port" "$g_mac vhg $g_ip" \
  "$(printf '%s' "$record" | "$CM_PYTHON" -c 'import json,sys; r=json.load(sys.stdin); print(r["mac"], r["interface"], r["ip"])')"
cm_expect_eq "the guest is served its id with an IMDSv2 token" "200 $g_id" "$(fetch g token)"
cm_expect_eq "and refused without one (http-tokens=required)" 401 "$(fetch g)"

# A hostile guest on its own port with g's address and MAC (g's link down meanwhile).
cm_in_vm g ip link set eth0 down
cm_in_vm m ip link set eth0 address "$g_mac"
cm_in_vm m ip addr flush dev eth0
cm_in_vm m ip addr add "$g_ip/24" dev eth0
cm_in_vm m ip route replace default via "$CM_HOST_BR_IP"
cm_expect_eq "a guest on another port with g's address and MAC is refused" 404 "$(fetch m token)"
cm_in_vm m ip link set eth0 down
cm_in_vm g ip link set eth0 up
cm_in_vm g ip route replace default via "$CM_HOST_BR_IP"
cm_expect_eq "g is served again on its own port" "200 $g_id" "$(fetch g token)"

hook release 2>/dev/null
cm_expect_eq "after release the guest is answered as unknown" 404 "$(fetch g token)"
hook prepare 2>/dev/null
hook start 2>/dev/null
cm_expect_eq "after prepare and start it is served again" "200 $g_id" "$(fetch g token)"
cm_finish
