#!/usr/bin/env bash
# cloud-init's own Ec2 datasource (Debian's cloud-init package) against the real binary, from
# inside VM network namespaces:
#  vm a: generic EC2-alike platform -> plain IMDSv1 GETs, never a token PUT;
#  vm b: forced into AWS mode -> IMDSv2 only; the instance has http_tokens=required, so the crawl
#        can only succeed through the token flow (a plain GET from vm b is checked to get 401).
# Usage: bash tests/clients/test_cloud_init_ec2.sh /path/to/cloudmeta
set -euo pipefail
source "$(dirname "$0")/netns.sh"
cm_init "${1:-}"

cm_host_up
cm_vm_add a 198.18.0.10 0e:1a:2b:3c:4d:5e
cm_vm_add b 198.18.0.20 0e:1a:2b:3c:4d:6f
cm_server_start

key1='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICUwO0ZRXGdyfYiTnqm0v8rV4Ov2AQwXIi04Q05ZZG96 alice@test'
key2='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEpVYGt2gYyXoq24w87Z5O/6BRAbJjE8R1JdaHN+iZSf bob@test'

cat >"$CM_TMP/a.json" <<EOF
{
  "instance_id": "i-0a1b2c3d4e5f60718",
  "ip": "198.18.0.10",
  "hostname": "vm-a.cloudmeta.test",
  "local_hostname": "vm-a.cloudmeta.test",
  "mac": "0e:1a:2b:3c:4d:5e",
  "secondary_ipv4s": ["198.18.0.11", "198.18.0.12"],
  "subnet_ipv4_cidr_block": "198.18.0.0/24",
  "vpc_id": "vpc-0123abcd",
  "region": "eu-central-1",
  "availability_zone": "eu-central-1b",
  "public_keys": {"alice": "$key1", "bob": "$key2"},
  "tags": {"Name": "vm-a", "team": "platform:core"},
  "user_data": "#cloud-config\nwrite_files:\n  - path: /tmp/x\n    content: \"h\\u00e9llo\"\n",
  "metadata_options": {"http_tokens": "optional", "instance_metadata_tags": "enabled"}
}
EOF

cat >"$CM_TMP/b.json" <<EOF
{
  "instance_id": "i-0fedcba987654321f",
  "ip": "198.18.0.20",
  "hostname": "vm-b.cloudmeta.test",
  "local_hostname": "vm-b.cloudmeta.test",
  "mac": "0e:1a:2b:3c:4d:6f",
  "subnet_ipv4_cidr_block": "198.18.0.0/24",
  "vpc_id": "vpc-0123abcd",
  "region": "ap-southeast-2",
  "availability_zone": "ap-southeast-2c",
  "public_keys": {"carol": "$key2"},
  "user_data": "#!/bin/sh\necho 'aws mode' > /dev/null\n",
  "metadata_options": {"http_tokens": "required", "instance_metadata_tags": "disabled"}
}
EOF

cm_seed "$CM_TMP/a.json"
cm_seed "$CM_TMP/b.json"

run_datasource() {
  local vm="$1" mode="$2"
  mkdir -p "$CM_TMP/ci-$vm"
  local status=0
  cm_in_vm "$vm" "$CM_PYTHON" -B -E -s "$CM_DIR/cloud_init_ec2.py" "$CM_TMP/$vm.json" \
    "$CM_TMP/ci-$vm" "$mode" 2>"$CM_TMP/ci-$vm.log" || status=$?
  if [ "$status" = 0 ]; then
    cm_pass "cloud-init $mode datasource from vm $vm"
  else
    cm_fail "cloud-init $mode datasource from vm $vm (end of its debug log follows)"
    tail -n 40 "$CM_TMP/ci-$vm.log" >&2
  fi
}

# (a) generic platform: no PUT at all, every request a plain GET that the server answered.
run_datasource a generic
requests_a="$(cm_requests_from 198.18.0.10)"
cm_expect_eq "generic mode sent no token PUT" 0 "$(grep -c 'method=PUT' <<<"$requests_a" || true)"
cm_expect_match "generic mode fetched 2021-03-23 meta-data" \
  'method=GET path=/2021-03-23/meta-data/instance-id status=200' "$requests_a"
cm_expect_match "generic mode fetched user-data" \
  'method=GET path=/2021-03-23/user-data status=200' "$requests_a"

# (b) AWS mode against http_tokens=required: v1 is refused, so only the token flow can work.
v1_status="$(cm_in_vm b curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
  http://169.254.169.254/latest/meta-data/instance-id)"
cm_expect_eq "http_tokens=required refuses an IMDSv1 GET" 401 "$v1_status"
run_datasource b aws
requests_b="$(cm_requests_from 198.18.0.20)"
cm_expect_match "aws mode PUT /latest/api/token -> 200" \
  'method=PUT path=/latest/api/token status=200' "$requests_b"
cm_expect_match "aws mode crawled the identity document" \
  'path=/2021-03-23/dynamic/instance-identity/document status=200' "$requests_b"
# After the one refused curl above, every request of vm b carried a valid token.
cm_expect_eq "aws mode had no refused request besides the v1 probe" 1 \
  "$(grep -c 'status=401' <<<"$requests_b" || true)"

cm_finish
