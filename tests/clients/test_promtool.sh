#!/usr/bin/env bash
# promtool (Debian's prometheus package) lints a real scrape of GET /metrics, taken after a VM in
# a network namespace made the requests that fill every kind of series (200, 404, token PUT,
# IMDSv2 GET, 401, unknown caller). Any problem promtool reports fails the test, lint warnings
# included: `promtool check metrics` exits non-zero on them and must print nothing.
# Usage: bash tests/clients/test_promtool.sh /path/to/cloudmeta
set -euo pipefail
source "$(dirname "$0")/netns.sh"
command -v promtool >/dev/null ||
  cm_die "promtool is not installed: run scripts/install-deps.sh (package prometheus)"
cm_init "${1:-}"

vm_ip=198.18.0.60
stranger_ip=198.18.0.61
cm_host_up
cm_vm_add a "$vm_ip"
cm_vm_add s "$stranger_ip"
cm_server_start
cat >"$CM_TMP/a.json" <<JSON
{"instance_id": "i-0ccccccccccccccc1", "ip": "$vm_ip", "region": "eu-west-1",
 "availability_zone": "eu-west-1a"}
JSON
cm_seed "$CM_TMP/a.json"

imds() { cm_in_vm "$1" curl -s -o /dev/null -w '%{http_code}' --max-time 10 "${@:2}"; }
base=http://169.254.169.254
cm_expect_eq "GET instance-id" 200 "$(imds a "$base/latest/meta-data/instance-id")"
cm_expect_eq "GET a missing key" 404 "$(imds a "$base/latest/meta-data/no-such-key")"
token="$(cm_in_vm a curl -s --max-time 10 -X PUT \
  -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "$base/latest/api/token")"
cm_expect_eq "GET with a token" 200 \
  "$(imds a -H "X-aws-ec2-metadata-token: $token" "$base/latest/meta-data/instance-id")"
cm_expect_eq "GET with a bad token" 401 \
  "$(imds a -H 'X-aws-ec2-metadata-token: bogus' "$base/latest/user-data")"
cm_expect_eq "GET from an unknown caller" 404 "$(imds s "$base/latest/meta-data/")"

cm_admin GET /metrics >"$CM_TMP/scrape.txt" || cm_die "scrape failed"
cm_expect_match "scrape counts the token" '^cloudmeta_tokens_issued_total 1$' \
  "$(grep '^cloudmeta_tokens_issued_total ' "$CM_TMP/scrape.txt")"

status=0
promtool check metrics <"$CM_TMP/scrape.txt" >"$CM_TMP/promtool.out" 2>&1 || status=$?
if [ "$status" = 0 ] && [ ! -s "$CM_TMP/promtool.out" ]; then
  cm_pass "promtool check metrics: no problem in $(grep -vc '^#' "$CM_TMP/scrape.txt") samples"
else
  cm_fail "promtool check metrics (exit $status): $(cat "$CM_TMP/promtool.out")"
fi

# The check itself can fail: promtool must flag a counter without _total.
printf '# HELP bad_counter x\n# TYPE bad_counter counter\nbad_counter 1\n' >"$CM_TMP/bad.txt"
if promtool check metrics <"$CM_TMP/bad.txt" >/dev/null 2>&1; then
  cm_fail "promtool accepted a counter without _total"
else
  cm_pass "promtool flags a lint problem with a non-zero exit"
fi
cm_finish
