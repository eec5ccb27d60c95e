#!/usr/bin/env bash
# docs/hypervisor.md's "DNAT with nftables", end to end: cloudmeta listens on the bridge's own
# address 198.18.0.1:8000, 169.254.169.254 exists nowhere on the host, and the committed ruleset
# docs/examples/cloudmeta-dnat.nft, loaded unchanged, sends the guests' 169.254.169.254:80 to it.
# DNAT keeps the guest's source address, so cloudmeta must still tell the guests apart.
#
#   host: virbr-md 198.18.0.1/24, cloudmeta 198.18.0.1:8000, nft table inet cloudmeta
#     |-- vm d 198.18.0.21  default via 198.18.0.1   http_tokens=optional, hop limit 1
#     |-- vm e 198.18.0.22  default via 198.18.0.1   http_tokens=required, hop limit 2
#     |-- vm f 198.18.0.23  default via 198.18.0.1, 169.254.0.0/16 on-link (zeroconf)
#     |-- vm z 198.18.0.98  not registered
# Usage: bash tests/clients/test_dnat.sh /path/to/cloudmeta
set -euo pipefail
source "$(dirname "$0")/netns.sh"
cm_init "${1:-}"
command -v nft >/dev/null || cm_die "nft is missing (Debian package nftables): run install-deps.sh"
ruleset="$CM_DIR/../../docs/examples/cloudmeta-dnat.nft"
[ -f "$ruleset" ] || cm_die "missing $ruleset"

vms=(d e)
declare -A ip=([d]=198.18.0.21 [e]=198.18.0.22 [f]=198.18.0.23)
declare -A mac=([d]=0e:00:5e:00:00:21 [e]=0e:00:5e:00:00:22 [f]=0e:00:5e:00:00:23)
declare -A id=([d]=i-0d0d0d0d0d0d0d021 [e]=i-0e0e0e0e0e0e0e022 [f]=i-0f0f0f0f0f0f0f023)
declare -A tokens=([d]=optional [e]=required [f]=optional)
declare -A hops=([d]=1 [e]=2 [f]=1)
declare -A mode=([d]=generic [e]=aws)
ssh_key='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEpVYGt2gYyXoq24w87Z5O/6BRAbJjE8R1JdaHN+iZSf'

# The doc's example values: the ruleset is loaded as committed.
cm_host_bridge virbr-md
CM_BIND=198.18.0.1
CM_PORT=8000
for vm in "${vms[@]}"; do cm_guest_add "$vm" "${ip[$vm]}" "${mac[$vm]}"; done
cm_guest_add f "${ip[f]}" "${mac[f]}" zeroconf
cm_guest_add z 198.18.0.98 0e:00:5e:00:00:98
cm_server_start
cm_expect_match "cloudmeta listens on 198.18.0.1:8000" \
  'event=listening surface=metadata .*address=198\.18\.0\.1 port=8000' \
  "$(grep 'event=listening surface=metadata' "$CM_TMP/server.log")"

for vm in "${vms[@]}" f; do
  cat >"$CM_TMP/$vm.json" <<EOF
{
  "instance_id": "${id[$vm]}",
  "ip": "${ip[$vm]}",
  "mac": "${mac[$vm]}",
  "hostname": "vm-$vm.dnat.test",
  "local_hostname": "vm-$vm.dnat.test",
  "region": "eu-north-1",
  "availability_zone": "eu-north-1$vm",
  "public_keys": {"key-$vm": "$ssh_key $vm@test"},
  "user_data": "#!/bin/sh\\necho user-data of vm $vm\\n",
  "iam": {
    "role": "dnat-role-$vm",
    "access_key_id": "ASIADNATVM${vm^^}000000",
    "secret_access_key": "secret/of/dnat/vm/$vm/0000000000000000000",
    "token": "token-of-dnat-vm-$vm",
    "expiration": "2099-05-06T07:08:09Z"
  },
  "metadata_options": {"http_tokens": "${tokens[$vm]}",
                       "http_put_response_hop_limit": ${hops[$vm]}}
}
EOF
  cm_seed "$CM_TMP/$vm.json"
done

imds_get() {
  local vm="$1" path="$2"
  shift 2
  cm_in_vm "$vm" curl -sS --max-time 5 "$@" "http://169.254.169.254$path"
}

# Without the rule nothing answers 169.254.169.254 (the host routes it nowhere, and as a router
# says so with ICMP unreachable): what the checks below see is the DNAT's doing.
status=0
imds_get d /latest/meta-data/instance-id >/dev/null 2>&1 || status=$?
cm_expect_eq "before the ruleset: 169.254.169.254 unreachable (curl exit 7)" 7 "$status"

cm_in_host nft -f "$ruleset" || cm_die "nft -f $ruleset failed"
cm_expect_match "the ruleset DNATs the bridge's 169.254.169.254:80 to 198.18.0.1:8000" \
  'iifname "virbr-md" ip daddr 169\.254\.169\.254 tcp dport 80 dnat ip to 198\.18\.0\.1:8000' \
  "$(cm_in_host nft list table inet cloudmeta)"

cm_expect_eq "vm d: IMDSv1 GET instance-id" "${id[d]}" "$(imds_get d /latest/meta-data/instance-id)"
cm_expect_eq "vm e (http_tokens=required): IMDSv1 GET -> 401" 401 \
  "$(imds_get e /latest/meta-data/instance-id -s -o /dev/null -w '%{http_code}')"

for vm in "${vms[@]}"; do
  token="$(imds_get "$vm" /latest/api/token -X PUT \
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 120')" || token=""
  cm_expect_match "vm $vm: IMDSv2 token PUT through the DNAT" '^[A-Za-z0-9_=-]{20,}$' "$token"
  cm_expect_eq "vm $vm: IMDSv2 GET instance-id with that token" "${id[$vm]}" \
    "$(imds_get "$vm" /latest/meta-data/instance-id -H "X-aws-ec2-metadata-token: $token")"
  cm_expect_eq "vm $vm: IMDSv2 GET local-ipv4 is its own address" "${ip[$vm]}" \
    "$(imds_get "$vm" /latest/meta-data/local-ipv4 -H "X-aws-ec2-metadata-token: $token")"

  cm_py_check "vm $vm: botocore credentials and region, default endpoint" "$vm" \
    botocore_imds.py "$CM_TMP/$vm.json"
  mkdir -p "$CM_TMP/ci-$vm"
  cm_py_check "vm $vm: cloud-init Ec2 datasource (${mode[$vm]}) sees its own record" "$vm" \
    cloud_init_ec2.py "$CM_TMP/$vm.json" "$CM_TMP/ci-$vm" "${mode[$vm]}"
  # DNAT to a local socket is no routed hop: hop limit 1 still reaches a guest on the bridge.
  cm_py_check "vm $vm: PUT response TTL ${hops[$vm]} through the DNAT, GET TTL 64" "$vm" \
    ttl_probe.py "${id[$vm]}" "${hops[$vm]}" 64

  cm_only_instance "vm $vm: logged as address=${ip[$vm]}, every request ${id[$vm]}" \
    "${ip[$vm]}" "${id[$vm]}"
done
cm_expect_eq "no request logged from the host's own 198.18.0.1 (nothing masqueraded)" "" \
  "$(cm_requests_from 198.18.0.1)"

# A guest with the on-link zeroconf route ARPs for 169.254.169.254 itself, and with the DNAT
# alone no host interface owns that address. With 169.254.169.254/32 also on the bridge the host
# answers the ARP, and the prerouting DNAT still sends the connection to 198.18.0.1:8000.
status=0
imds_get f /latest/meta-data/instance-id >/dev/null 2>&1 || status=$?
cm_expect_eq "zeroconf vm f, DNAT only: no ARP answer for 169.254.169.254 (curl exit 7)" 7 \
  "$status"
ip -n "$CM_HOST" addr add 169.254.169.254/32 dev virbr-md
cm_expect_eq "zeroconf vm f, address on the bridge too: GET instance-id through the DNAT" \
  "${id[f]}" "$(imds_get f /latest/meta-data/instance-id)"
cm_only_instance "vm f: logged as address=${ip[f]}, every request ${id[f]}" "${ip[f]}" "${id[f]}"

cm_expect_eq "unregistered vm z through the DNAT: GET -> 404" 404 \
  "$(imds_get z /latest/meta-data/ -s -o /dev/null -w '%{http_code}')"
cm_expect_eq "unregistered vm z through the DNAT: token PUT -> 404" 404 \
  "$(imds_get z /latest/api/token -s -o /dev/null -w '%{http_code}' -X PUT \
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 60')"
cm_only_instance "unregistered vm z: logged as address=198.18.0.98, instance=unknown" \
  198.18.0.98 unknown

cm_finish
