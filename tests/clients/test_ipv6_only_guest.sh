#!/usr/bin/env bash
# An IPv6-only guest: no IPv4 address at all, not even on its loopback. The server is bound to
# both metadata addresses (BIND=169.254.169.254,fd00:ec2::254), fd00:ec2::254 sits on the host's
# bridge as docs/hypervisor.md puts it, and the guest reaches it on-link from fd00:ec2::/64:
#  vm s (fd00:ec2::11): cloud-init's Ec2 datasource in AWS mode (IMDSv2 only; the instance has
#       http_tokens=required) keeps its default metadata_urls and must settle on
#       http://[fd00:ec2::254]; botocore with AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6 gets
#       the instance's IAM credentials and region there, token PUT included.
#  vm f (fd00:ec2:1::10, hop limit 1) one IPv6 router away: the token PUT's response dies at the
#       router (IPV6_UNICAST_HOPS), while a GET still arrives; vm g (fd00:ec2:1::11, hop limit 2)
#       behind the same router gets its token.
#
#   host: br0 fd00:ec2::1/64 + fd00:ec2::254/128 -- vm s
#                                                -- router x (fd00:ec2::2) -- dn0 fd00:ec2:1::/64
#                                                     -- vm f, vm g
# Usage: bash tests/clients/test_ipv6_only_guest.sh /path/to/cloudmeta
set -euo pipefail
source "$(dirname "$0")/netns.sh"
cm_init "${1:-}"

IMDS6=fd00:ec2::254
CM_BIND="$CM_IMDS_IP,$IMDS6"

cm_host_bridge br0 imds
ip -n "$CM_HOST" -6 addr add fd00:ec2::1/64 dev br0 nodad
ip -n "$CM_HOST" -6 addr add "$IMDS6/128" dev br0 nodad

# ipv6_guest NAME NS_PARENT PARENT_BRIDGE ADDRESS/64 GATEWAY MAC: a namespace whose only
# addresses are IPv6 (its loopback's 127.0.0.1 removed, ::1 kept) and whose resolver is ::1.
ipv6_guest() {
  local name="$1" parent="$2" bridge="$3" address="$4" gateway="$5" mac="$6"
  local ns
  ns="$(cm_ns "v$name")"
  cm_new_ns "v$name"
  ip -n "$ns" addr del 127.0.0.1/8 dev lo
  ip -n "$parent" link add "vh$name" type veth peer name eth0 netns "$ns"
  ip -n "$parent" link set "vh$name" master "$bridge" up
  ip -n "$ns" link set eth0 address "$mac"
  ip -n "$ns" -6 addr add "$address" dev eth0 nodad
  ip -n "$ns" link set eth0 up
  ip -n "$ns" -6 route add default via "$gateway"
  mkdir -p "/etc/netns/$ns"
  CM_NETNS_ETC+=("/etc/netns/$ns")
  echo 'nameserver ::1' >"/etc/netns/$ns/resolv.conf"
}

ipv6_guest s "$CM_HOST" br0 fd00:ec2::11/64 fd00:ec2::1 0e:6a:00:00:00:11

# The router: up0 on the host bridge, dn0 a bridge of its own for the far guests.
rns="$(cm_ns rx)"
cm_new_ns rx
ip -n "$CM_HOST" link add rhx type veth peer name up0 netns "$rns"
ip -n "$CM_HOST" link set rhx master br0 up
ip -n "$rns" -6 addr add fd00:ec2::2/64 dev up0 nodad
ip -n "$rns" link set up0 up
ip -n "$rns" link add dn0 type bridge
ip -n "$rns" link set dn0 up
ip -n "$rns" -6 addr add fd00:ec2:1::1/64 dev dn0 nodad
ip -n "$rns" -6 route add default via fd00:ec2::1
ip netns exec "$rns" sysctl -qw net.ipv6.conf.all.forwarding=1
ip -n "$CM_HOST" -6 route add fd00:ec2:1::/64 via fd00:ec2::2
ipv6_guest f "$rns" dn0 fd00:ec2:1::10/64 fd00:ec2:1::1 0e:6a:00:00:01:10
ipv6_guest g "$rns" dn0 fd00:ec2:1::11/64 fd00:ec2:1::1 0e:6a:00:00:01:11

cm_expect_eq "vm s has no IPv4 address at all" "" "$(cm_in_vm s ip -4 -o addr show)"

cm_server_start
listeners="$(grep 'event=listening surface=metadata' "$CM_TMP/server.log")"
cm_expect_match "the server listens on 169.254.169.254:80" ' address=169\.254\.169\.254 port=80 ' \
  "$listeners"
cm_expect_match "the server listens on [fd00:ec2::254]:80" ' address=fd00:ec2::254 port=80 ' \
  "$listeners"

cat >"$CM_TMP/s.json" <<'EOF'
{
  "instance_id": "i-06a0000000000a011",
  "ip": "fd00:ec2::11",
  "hostname": "vm-s.cloudmeta.test",
  "local_hostname": "vm-s.cloudmeta.test",
  "mac": "0e:6a:00:00:00:11",
  "vpc_id": "vpc-0123abcd",
  "region": "eu-north-1",
  "availability_zone": "eu-north-1a",
  "public_keys": {"dave": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICUwO0ZRXGdyfYiTnqm0v8rV4Ov2AQwXIi04Q05ZZG96 dave@test"},
  "user_data": "#cloud-config\nhostname: vm-s\n",
  "iam": {
    "role": "cloudmeta-ipv6-role",
    "access_key_id": "ASIAIPV6ONLY0000ABCD",
    "secret_access_key": "v6OnlyXUtnFEMI/K7MDENG/bPxRfiCYIPV6ONLYKEY",
    "token": "IQoJb3JpZ2luX2VjEIPv6//////////wEaCXVzLXdlc3QtMiJHMEUCIQD+token=",
    "expiration": "2099-06-07T08:09:10Z"
  },
  "metadata_options": {"http_tokens": "required", "instance_metadata_tags": "disabled"}
}
EOF
cm_seed "$CM_TMP/s.json"
for vm in f g; do
  hops=1
  [ "$vm" = g ] && hops=2
  suffix="$( [ "$vm" = f ] && echo 10 || echo 11 )"
  cat >"$CM_TMP/$vm.json" <<EOF
{
  "instance_id": "i-06a00000000001a$suffix",
  "ip": "fd00:ec2:1::$suffix",
  "region": "eu-north-1",
  "availability_zone": "eu-north-1b",
  "metadata_options": {"http_tokens": "optional", "http_put_response_hop_limit": $hops}
}
EOF
  cm_seed "$CM_TMP/$vm.json"
done

# The plain IPv4 address is out of the guest's reach (no IPv4 at all): only IPv6 can work.
v4_status=0
cm_in_vm s curl -sS -o /dev/null --max-time 3 http://169.254.169.254/ 2>/dev/null || v4_status=$?
cm_expect_eq "vm s cannot reach 169.254.169.254 (curl: couldn't connect)" 7 "$v4_status"
cm_expect_eq "vm s: an IMDSv1 GET over IPv6 is refused (http_tokens=required)" 401 \
  "$(cm_in_vm s curl -s -o /dev/null -w '%{http_code}' --max-time 3 \
    "http://[$IMDS6]/latest/meta-data/instance-id")"

# (1) cloud-init's Ec2 datasource, AWS mode: IMDSv2 over [fd00:ec2::254].
mkdir -p "$CM_TMP/ci-s"
status=0
cm_in_vm s "$CM_PYTHON" -B -E -s "$CM_DIR/cloud_init_ec2.py" "$CM_TMP/s.json" "$CM_TMP/ci-s" \
  aws ipv6 2>"$CM_TMP/ci-s.log" || status=$?
if [ "$status" = 0 ]; then
  cm_pass "cloud-init Ec2 datasource (aws mode) from the IPv6-only guest"
else
  cm_fail "cloud-init Ec2 datasource from the IPv6-only guest (end of its debug log follows)"
  tail -n 40 "$CM_TMP/ci-s.log" >&2
fi
requests_s="$(cm_requests_from fd00:ec2::11)"
cm_expect_match "cloud-init: PUT /latest/api/token -> 200 over IPv6" \
  'method=PUT path=/latest/api/token status=200' "$requests_s"
cm_expect_match "cloud-init: crawled the identity document over IPv6" \
  'path=/2021-03-23/dynamic/instance-identity/document status=200' "$requests_s"
cm_only_instance "every request from fd00:ec2::11 served as its instance" fd00:ec2::11 \
  i-06a0000000000a011
puts_before="$(grep -c 'method=PUT path=/latest/api/token status=200' <<<"$requests_s" || true)"

# (2) botocore, told the IPv6 endpoint mode the way a guest's environment tells it.
status=0
cm_in_vm s env -u AWS_EC2_METADATA_SERVICE_ENDPOINT -u AWS_EC2_METADATA_DISABLED \
  AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6 \
  "$CM_PYTHON" -B -E -s "$CM_DIR/botocore_imds.py" "$CM_TMP/s.json" ipv6 || status=$?
if [ "$status" = 0 ]; then
  cm_pass "botocore credentials and region over [fd00:ec2::254] (ENDPOINT_MODE=IPv6)"
else
  cm_fail "botocore credentials and region over [fd00:ec2::254] (ENDPOINT_MODE=IPv6)"
fi
requests_s="$(cm_requests_from fd00:ec2::11)"
puts_after="$(grep -c 'method=PUT path=/latest/api/token status=200' <<<"$requests_s" || true)"
cm_expect_eq "botocore: the server logged its two token PUTs (credentials, region)" \
  $((puts_before + 2)) "$puts_after"
cm_expect_match "botocore: the role's credentials were served over IPv6" \
  'path=/latest/meta-data/iam/security-credentials/cloudmeta-ipv6-role status=200' "$requests_s"

# (3) The token PUT's hop limit on IPv6: one router away, hop limit 1 never arrives, 2 does.
put_token() {
  cm_in_vm "$1" curl -sS --max-time 3 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' \
    "http://[$IMDS6]/latest/api/token"
}
cm_expect_eq "far vm f: IMDSv1 GET through the IPv6 router" i-06a00000000001a10 \
  "$(cm_in_vm f curl -sS --max-time 3 "http://[$IMDS6]/latest/meta-data/instance-id")"
status=0
put_token f >/dev/null 2>&1 || status=$?
cm_expect_eq "far vm f, hop limit 1: token PUT response never arrives (curl exit 28)" 28 "$status"
cm_expect_match "far vm f: the server did answer that PUT with 200" \
  'method=PUT path=/latest/api/token status=200' "$(cm_requests_from fd00:ec2:1::10)"
token="$(put_token g)" || token=""
cm_expect_match "far vm g, hop limit 2: token PUT answered" '^[A-Za-z0-9_=-]{20,}$' "$token"
cm_expect_eq "far vm g: GET with that token" i-06a00000000001a11 \
  "$(cm_in_vm g curl -sS --max-time 3 -H "X-aws-ec2-metadata-token: $token" \
    "http://[$IMDS6]/latest/meta-data/instance-id")"

cm_finish
