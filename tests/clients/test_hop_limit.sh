#!/usr/bin/env bash
# http_put_response_hop_limit is the IP TTL of the token PUT response (AWS: "the number of network
# hops that the PUT response is allowed to make"). A router namespace decrements the TTL, so with
# hop limit 1 the response dies one routed hop away while IMDSv1 GETs (normal TTL) still work;
# with hop limit 2 it arrives. This is what containers behind a bridge see on EC2.
#
#   host (cloudmeta) -- br0 198.18.0.0/24 -- vm n (198.18.0.50, hop limit 1)
#                                         -- router x (198.18.0.2) -- dn0 198.18.1.0/24
#                                              -- vm f1 (198.18.1.10, hop limit 1)
#                                              -- vm f2 (198.18.1.11, hop limit 2)
# Usage: bash tests/clients/test_hop_limit.sh /path/to/cloudmeta
set -euo pipefail
source "$(dirname "$0")/netns.sh"
cm_init "${1:-}"

cm_host_up
cm_vm_add n 198.18.0.50
cm_router_add x 198.18.0.2 1
cm_vm_behind_router f1 x 1 10
cm_vm_behind_router f2 x 1 11
cm_server_start

seed() {
  local vm="$1" ip="$2" id="$3" hops="$4"
  cat >"$CM_TMP/$vm.json" <<EOF
{
  "instance_id": "$id",
  "ip": "$ip",
  "region": "us-east-2",
  "availability_zone": "us-east-2b",
  "metadata_options": {"http_tokens": "optional", "http_put_response_hop_limit": $hops}
}
EOF
  cm_seed "$CM_TMP/$vm.json"
}
seed n 198.18.0.50 i-0000000000000a050 1
seed f1 198.18.1.10 i-0000000000001a010 1
seed f2 198.18.1.11 i-0000000000001a011 2

imds() {
  local vm="$1"
  shift
  cm_in_vm "$vm" curl -sS --max-time 3 "$@"
}
put_token() { imds "$1" -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' \
  http://169.254.169.254/latest/api/token; }

# Routing sanity: the far VM reaches the server through the router, with a normal TTL.
cm_expect_eq "far vm f1: IMDSv1 GET through the router" i-0000000000001a010 \
  "$(imds f1 http://169.254.169.254/latest/meta-data/instance-id)"
cm_expect_eq "far vm f2: IMDSv1 GET through the router" i-0000000000001a011 \
  "$(imds f2 http://169.254.169.254/latest/meta-data/instance-id)"

# Hop limit 1, same link: the PUT works.
token="$(put_token n)" || token=""
cm_expect_match "near vm n, hop limit 1: token PUT answered" '^[A-Za-z0-9_=-]{20,}$' "$token"
cm_expect_eq "near vm n: GET with that token" i-0000000000000a050 \
  "$(imds n -H "X-aws-ec2-metadata-token: $token" \
    http://169.254.169.254/latest/meta-data/instance-id)"

# Hop limit 1, one router away: the server answers 200, the router drops it, curl times out (28).
status=0
put_token f1 >/dev/null 2>&1 || status=$?
cm_expect_eq "far vm f1, hop limit 1: token PUT response never arrives (curl exit 28)" 28 "$status"
cm_expect_match "far vm f1: the server did answer that PUT with 200" \
  'method=PUT path=/latest/api/token status=200' "$(cm_requests_from 198.18.1.10)"
cm_expect_eq "far vm f1: IMDSv1 still works after the lost PUT" us-east-2b \
  "$(imds f1 http://169.254.169.254/latest/meta-data/placement/availability-zone)"

# botocore, as an SDK in a container would: the PUT read times out, it falls back to IMDSv1.
region="$(cm_in_vm f1 "$CM_PYTHON" -B -E -s -c '
from botocore.utils import InstanceMetadataRegionFetcher
print(InstanceMetadataRegionFetcher(timeout=1, num_attempts=1).retrieve_region())')" || region=""
cm_expect_eq "far vm f1: botocore falls back to IMDSv1 after the PUT timeout" us-east-2 "$region"

# Hop limit 2, one router away: the PUT response survives the decrement.
token="$(put_token f2)" || token=""
cm_expect_match "far vm f2, hop limit 2: token PUT answered" '^[A-Za-z0-9_=-]{20,}$' "$token"
cm_expect_eq "far vm f2: GET with that token" i-0000000000001a011 \
  "$(imds f2 -H "X-aws-ec2-metadata-token: $token" \
    http://169.254.169.254/latest/meta-data/instance-id)"

cm_finish
