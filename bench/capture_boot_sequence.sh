#!/usr/bin/env bash
# Records the exact requests that Debian 12's cloud-init (Ec2 datasource, both modes) and botocore
# (credentials and region fetchers) send to the metadata service, and writes them as
# bench/boot_sequence.json, the request sequence bench/boot_storm.py replays.
#
# The clients run for real (tests/clients/cloud_init_ec2.py and botocore_imds.py, which also check
# that every value they read is right) from a VM network namespace against cloudmeta, under
# strace: each connect() to 169.254.169.254:80 is a new connection, and the bytes sent on it are
# the requests, headers and all. bench/boot_sequence_from_strace.py turns the traces into the data
# file, replacing what is per guest or per token with placeholders.
#
# Usage: bash bench/capture_boot_sequence.sh /path/to/cloudmeta [OUTPUT]   (root; needs strace)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${2:-$here/boot_sequence.json}"
source "$here/../tests/clients/netns.sh"
cm_init "${1:-}"
command -v strace >/dev/null || cm_die "strace is not installed"

cm_host_up
cm_vm_add a 198.18.0.10 0e:00:5e:00:53:0a
cm_server_start

# The record every storm guest gets (with its own id, address and MAC): what the client tests
# seed, so that the clients' checks pass and their crawl has the usual shape.
cat >"$CM_TMP/a.json" <<'EOF'
{
  "instance_id": "i-0b00700000000000a",
  "ip": "198.18.0.10",
  "mac": "0e:00:5e:00:53:0a",
  "hostname": "vm-a.cloudmeta.test",
  "local_hostname": "vm-a.cloudmeta.test",
  "subnet_ipv4_cidr_block": "198.18.0.0/24",
  "vpc_id": "vpc-0123abcd",
  "region": "eu-central-1",
  "availability_zone": "eu-central-1b",
  "public_keys": {
    "alice": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICUwO0ZRXGdyfYiTnqm0v8rV4Ov2AQwXIi04Q05ZZG96 alice@test"
  },
  "tags": {"Name": "vm-a"},
  "user_data": "#cloud-config\nhostname: vm-a\n",
  "iam": {
    "role": "cloudmeta-boot-role",
    "access_key_id": "ASIABOOTSTORM0000001",
    "secret_access_key": "bootstormSecretKeyNotARealOne0123456789ab",
    "token": "FwoGZXIvYXdzEBootStormSessionToken==",
    "expiration": "2098-12-31T23:59:59Z"
  },
  "metadata_options": {"http_tokens": "optional", "instance_metadata_tags": "enabled"}
}
EOF
cm_seed "$CM_TMP/a.json"

trace() {  # NAME COMMAND...: the command inside vm a under strace, its trace in $CM_TMP/NAME.trace
  local name="$1"
  shift
  cm_in_vm a strace -f -qq -e trace=connect,sendto,sendmsg,write,close -e signal=none \
    -s 65536 -xx -o "$CM_TMP/$name.trace" \
    env -u AWS_EC2_METADATA_SERVICE_ENDPOINT -u AWS_EC2_METADATA_DISABLED \
    "$CM_PYTHON" -B -E -s "$@" >"$CM_TMP/$name.out" 2>"$CM_TMP/$name.err" ||
    { cat "$CM_TMP/$name.out"; tail -n 30 "$CM_TMP/$name.err"; cm_die "$name failed"; }
  cm_log "$name: $(tail -n 1 "$CM_TMP/$name.out")"
}
mkdir -p "$CM_TMP/ci-aws" "$CM_TMP/ci-generic"
trace cloud-init-aws "$CM_DIR/cloud_init_ec2.py" "$CM_TMP/a.json" "$CM_TMP/ci-aws" aws
trace cloud-init-generic "$CM_DIR/cloud_init_ec2.py" "$CM_TMP/a.json" "$CM_TMP/ci-generic" generic
trace botocore "$CM_DIR/botocore_imds.py" "$CM_TMP/a.json"

versions="$("$CM_PYTHON" -c 'import botocore, cloudinit.version as v
print(f"cloud-init {v.version_string()}, botocore {botocore.__version__}")')"
"$CM_PYTHON" "$here/boot_sequence_from_strace.py" --record "$CM_TMP/a.json" \
  --server-log "$CM_TMP/server.log" \
  --versions "$versions; Debian packages $(dpkg-query -W -f '${Version}' cloud-init) and $(
    dpkg-query -W -f '${Version}' python3-botocore)" \
  --client "cloud-init-aws=$CM_TMP/cloud-init-aws.trace" \
  --client "cloud-init-generic=$CM_TMP/cloud-init-generic.trace" \
  --client "botocore=$CM_TMP/botocore.trace" >"$out"
cm_pass "wrote $out"
cm_finish
