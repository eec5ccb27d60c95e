#!/usr/bin/env bash
# docs/hypervisor.md's "Binding the address on the bridge", end to end: one bridge holding the
# guests' gateway 198.18.0.1/24 and 169.254.169.254/32, cloudmeta bound on 169.254.169.254:80,
# three guests that know nothing of the metadata service (an address and a default route; vm b
# also has the zeroconf route 169.254.0.0/16 on-link), and one unregistered guest.
#
#   host: virbr-md 198.18.0.1/24 + 169.254.169.254/32, cloudmeta 169.254.169.254:80
#     |-- vm a 198.18.0.11  default via 198.18.0.1               cloud-init generic (IMDSv1)
#     |-- vm b 198.18.0.12  default via 198.18.0.1, 169.254/16 on-link   cloud-init aws (IMDSv2)
#     |-- vm c 198.18.0.13  default via 198.18.0.1               cloud-init aws (IMDSv2)
#     |-- vm z 198.18.0.99  not registered
#
# In each registered guest cloud-init's Ec2 datasource, botocore's fetchers and the aws CLI, all
# with their default endpoint, must see exactly that guest's record, and the server must have
# attributed every one of its requests to it. The IP TTL of the responses is read in the guest:
# the token PUT's is the record's http_put_response_hop_limit, a GET's the host's normal 64.
# Usage: bash tests/clients/test_bridge_three_vms.sh /path/to/cloudmeta
set -euo pipefail
source "$(dirname "$0")/netns.sh"
cm_init "${1:-}"

vms=(a b c)
declare -A ip=([a]=198.18.0.11 [b]=198.18.0.12 [c]=198.18.0.13)
declare -A mac=([a]=0e:00:5e:00:00:11 [b]=0e:00:5e:00:00:12 [c]=0e:00:5e:00:00:13)
declare -A id=([a]=i-0aaaaaaaaaaaaaa11 [b]=i-0bbbbbbbbbbbbbb12 [c]=i-0ccccccccccccc013)
declare -A region=([a]=eu-west-1 [b]=ap-northeast-1 [c]=us-west-2)
declare -A zone=([a]=eu-west-1a [b]=ap-northeast-1c [c]=us-west-2d)
declare -A tokens=([a]=optional [b]=required [c]=optional)
declare -A hops=([a]=1 [b]=3 [c]=2)
declare -A mode=([a]=generic [b]=aws [c]=aws)
declare -A key=([a]=ASIAVMAAAAAAAAAA0011 [b]=ASIAVMBBBBBBBBBB0012 [c]=ASIAVMCCCCCCCCCC0013)
declare -A secret=([a]='aSecretForVmA/aaaaaaaaaaaaaaaaaaaaaaaaaaa1'
  [b]='bSecretForVmB/bbbbbbbbbbbbbbbbbbbbbbbbbbb2' [c]='cSecretForVmC/ccccccccccccccccccccccccccc3')
declare -A ssh=(
  [a]='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICUwO0ZRXGdyfYiTnqm0v8rV4Ov2AQwXIi04Q05ZZG96 a@test'
  [b]='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEpVYGt2gYyXoq24w87Z5O/6BRAbJjE8R1JdaHN+iZSf b@test'
  [c]='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKf9jzsxxEAzIRvbsaDKceuDco2QlqHoRrelehKm5VMB c@test')

cm_host_bridge virbr-md imds
cm_guest_add a "${ip[a]}" "${mac[a]}"
cm_guest_add b "${ip[b]}" "${mac[b]}" zeroconf
cm_guest_add c "${ip[c]}" "${mac[c]}"
cm_guest_add z 198.18.0.99 0e:00:5e:00:00:99
cm_server_start

for vm in "${vms[@]}"; do
  cat >"$CM_TMP/$vm.json" <<EOF
{
  "instance_id": "${id[$vm]}",
  "ip": "${ip[$vm]}",
  "mac": "${mac[$vm]}",
  "hostname": "vm-$vm.bridge.test",
  "local_hostname": "vm-$vm.bridge.test",
  "region": "${region[$vm]}",
  "availability_zone": "${zone[$vm]}",
  "public_keys": {"key-$vm": "${ssh[$vm]}"},
  "user_data": "#cloud-config\\nhostname: vm-$vm\\nruncmd:\\n  - echo only-$vm\\n",
  "iam": {
    "role": "role-of-vm-$vm",
    "access_key_id": "${key[$vm]}",
    "secret_access_key": "${secret[$vm]}",
    "token": "session-token-of-vm-$vm",
    "expiration": "2099-0${hops[$vm]}-01T00:00:00Z"
  },
  "metadata_options": {"http_tokens": "${tokens[$vm]}",
                       "http_put_response_hop_limit": ${hops[$vm]}}
}
EOF
  cm_seed "$CM_TMP/$vm.json"
done

# The guests reach 169.254.169.254 the two ways a guest OS does: through the default gateway,
# or on-link (the bridge then answers ARP for the address it holds).
cm_expect_match "vm a routes 169.254.169.254 via its gateway" 'via 198\.18\.0\.1 dev eth0' \
  "$(cm_in_vm a ip route get 169.254.169.254)"
cm_expect_match "vm b routes 169.254.169.254 on-link" '^169\.254\.169\.254 dev eth0 ' \
  "$(cm_in_vm b ip route get 169.254.169.254)"

for vm in "${vms[@]}"; do
  cm_expect_eq "vm $vm: IMDSv2 GET instance-id" "${id[$vm]}" "$(cm_in_vm "$vm" sh -c '
    t=$(curl -sS --max-time 5 -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 60" \
      http://169.254.169.254/latest/api/token) &&
    curl -sS --max-time 5 -H "X-aws-ec2-metadata-token: $t" \
      http://169.254.169.254/latest/meta-data/instance-id')"
done
bridge_mac="$(ip -n "$CM_HOST" -br link show virbr-md | awk '{print $3}')"
cm_expect_match "vm b: the bridge answered ARP for 169.254.169.254" "lladdr $bridge_mac" \
  "$(cm_in_vm b ip neigh show 169.254.169.254)"

for vm in "${vms[@]}"; do
  mkdir -p "$CM_TMP/ci-$vm"
  cm_py_check "vm $vm: cloud-init Ec2 datasource (${mode[$vm]}) sees its own record" "$vm" \
    cloud_init_ec2.py "$CM_TMP/$vm.json" "$CM_TMP/ci-$vm" "${mode[$vm]}"
  cm_py_check "vm $vm: botocore credentials and region, default endpoint" "$vm" \
    botocore_imds.py "$CM_TMP/$vm.json"

  if creds="$(cm_aws_in_vm "$vm" configure export-credentials --format env-no-export \
    2>"$CM_TMP/aws-$vm.err")"; then
    cm_expect_eq "vm $vm: aws configure export-credentials" \
      "${key[$vm]} ${secret[$vm]} session-token-of-vm-$vm" \
      "$(sed -n 's/^AWS_\(ACCESS_KEY_ID\|SECRET_ACCESS_KEY\|SESSION_TOKEN\)=//p' <<<"$creds" |
        paste -sd ' ')"
  else
    cm_fail "vm $vm: aws configure export-credentials: $(cat "$CM_TMP/aws-$vm.err")"
  fi
  cm_expect_eq "vm $vm: aws configure list: region from imds" "${region[$vm]} imds" \
    "$(cm_aws_in_vm "$vm" configure list | awk '$1 == "region" {print $2, $3}')"

  cm_py_check "vm $vm: PUT response TTL ${hops[$vm]}, GET response TTL 64" "$vm" \
    ttl_probe.py "${id[$vm]}" "${hops[$vm]}" 64

  cm_only_instance "vm $vm: the server attributed every request to ${id[$vm]}" \
    "${ip[$vm]}" "${id[$vm]}"
done

# vm b's record has http_tokens=required: everything above reached it through the token flow.
cm_expect_eq "vm b: http_tokens=required refuses an IMDSv1 GET" 401 \
  "$(cm_in_vm b curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
    http://169.254.169.254/latest/meta-data/instance-id)"

# An address on the bridge with no record: AWS's answer to a caller it does not know, 404 for
# every path and for the token PUT alike; the SDK then finds no credentials and no region.
for path in / /latest/meta-data/ /latest/meta-data/instance-id /latest/user-data; do
  cm_expect_eq "unregistered vm z: GET $path -> 404" 404 \
    "$(cm_in_vm z curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
      "http://169.254.169.254$path")"
done
cm_expect_eq "unregistered vm z: token PUT -> 404" 404 \
  "$(cm_in_vm z curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X PUT \
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token)"
cm_expect_eq "unregistered vm z: botocore finds no credentials and no region" "{} None" \
  "$(cm_in_vm z env -u AWS_EC2_METADATA_SERVICE_ENDPOINT "$CM_PYTHON" -B -E -s -c '
from botocore.utils import InstanceMetadataFetcher, InstanceMetadataRegionFetcher
print(InstanceMetadataFetcher(timeout=2, num_attempts=1).retrieve_iam_role_credentials(),
      InstanceMetadataRegionFetcher(timeout=2, num_attempts=1).retrieve_region())')"
cm_only_instance "unregistered vm z: every request logged as instance=unknown" 198.18.0.99 unknown

cm_finish
