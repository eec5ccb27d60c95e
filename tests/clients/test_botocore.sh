#!/usr/bin/env bash
# botocore's IMDS credential and region fetchers (Debian's python3-botocore) and the aws CLI
# (Debian's awscli) against the real binary, from inside VM network namespaces, with the default
# endpoint 169.254.169.254:
#  vm o: http_tokens=optional;  vm r: http_tokens=required (a plain GET gets 401 there).
# Usage: bash tests/clients/test_botocore.sh /path/to/cloudmeta
set -euo pipefail
source "$(dirname "$0")/netns.sh"
cm_init "${1:-}"

declare -A ip=([o]=198.18.0.30 [r]=198.18.0.40) http_tokens=([o]=optional [r]=required)
declare -A instance_id key secret token expiration region
instance_id[o]=i-0123456789abcdef0
key[o]=ASIAOPTIONAL0000ABCD
secret[o]='wJalrXUtnFEMI/K7MDENG/bPxRfiCYOPTIONALKEY'
token[o]='IQoJb3JpZ2luX2VjEOptional//////////wEaCXVzLXdlc3QtMiJHMEUCIQD+token='
expiration[o]=2099-01-02T03:04:05Z
region[o]=us-west-2
instance_id[r]=i-0fedcba9876543210
key[r]=ASIAREQUIRED1111WXYZ
secret[r]='je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY+r'
token[r]='FwoGZXIvYXdzEBYaDRequired//////////8bTR1E7oGgwUHyG+token=='
expiration[r]=2098-12-31T23:59:59Z
region[r]=sa-east-1

cm_host_up
cm_vm_add o "${ip[o]}"
cm_vm_add r "${ip[r]}"
cm_server_start

for vm in o r; do
  cat >"$CM_TMP/$vm.json" <<EOF
{
  "instance_id": "${instance_id[$vm]}",
  "ip": "${ip[$vm]}",
  "region": "${region[$vm]}",
  "availability_zone": "${region[$vm]}c",
  "iam": {
    "role": "cloudmeta-$vm-role",
    "access_key_id": "${key[$vm]}",
    "secret_access_key": "${secret[$vm]}",
    "token": "${token[$vm]}",
    "expiration": "${expiration[$vm]}"
  },
  "metadata_options": {"http_tokens": "${http_tokens[$vm]}"}
}
EOF
  cm_seed "$CM_TMP/$vm.json"
done

for vm in o r; do
  status=0
  cm_in_vm "$vm" env -u AWS_EC2_METADATA_SERVICE_ENDPOINT -u AWS_EC2_METADATA_DISABLED \
    "$CM_PYTHON" -B -E -s "$CM_DIR/botocore_imds.py" "$CM_TMP/$vm.json" || status=$?
  if [ "$status" = 0 ]; then
    cm_pass "botocore fetchers from vm $vm"
  else
    cm_fail "botocore fetchers from vm $vm"
  fi
done

cm_expect_eq "http_tokens=required refuses an IMDSv1 GET" 401 \
  "$(cm_in_vm r curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
    http://169.254.169.254/latest/meta-data/iam/security-credentials/)"
cm_expect_match "vm r's server log shows the token PUT" \
  'method=PUT path=/latest/api/token status=200' "$(cm_requests_from "${ip[r]}")"

# One `export-credentials` line, e.g. field SESSION_TOKEN for AWS_SESSION_TOKEN=...
field() { sed -n "s/^AWS_$1=//p"; }

for vm in o r; do
  if ! list="$(cm_aws_in_vm "$vm" configure list 2>"$CM_TMP/aws-$vm.err")"; then
    cm_fail "aws configure list in vm $vm: $(cat "$CM_TMP/aws-$vm.err")"
    continue
  fi
  echo "$list"
  cm_expect_eq "aws configure list (vm $vm): access_key from iam-role" \
    "****************${key[$vm]: -4} iam-role" \
    "$(awk '$1 == "access_key" {print $2, $3}' <<<"$list")"
  cm_expect_eq "aws configure list (vm $vm): secret_key from iam-role" \
    "****************${secret[$vm]: -4} iam-role" \
    "$(awk '$1 == "secret_key" {print $2, $3}' <<<"$list")"
  cm_expect_eq "aws configure list (vm $vm): region from imds" \
    "${region[$vm]} imds" "$(awk '$1 == "region" {print $2, $3}' <<<"$list")"

  if ! creds="$(cm_aws_in_vm "$vm" configure export-credentials --format env-no-export \
    2>"$CM_TMP/aws-$vm.err")"; then
    cm_fail "aws configure export-credentials in vm $vm: $(cat "$CM_TMP/aws-$vm.err")"
    continue
  fi
  cm_expect_eq "aws export-credentials (vm $vm): access key" "${key[$vm]}" \
    "$(field ACCESS_KEY_ID <<<"$creds")"
  cm_expect_eq "aws export-credentials (vm $vm): secret key" "${secret[$vm]}" \
    "$(field SECRET_ACCESS_KEY <<<"$creds")"
  cm_expect_eq "aws export-credentials (vm $vm): session token" "${token[$vm]}" \
    "$(field SESSION_TOKEN <<<"$creds")"
  # botocore parses Expiration and the CLI prints it back in ISO 8601 with an explicit offset.
  cm_expect_eq "aws export-credentials (vm $vm): expiration" "${expiration[$vm]%Z}+00:00" \
    "$(field CREDENTIAL_EXPIRATION <<<"$creds")"
done

cm_finish
