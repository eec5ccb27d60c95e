#!/usr/bin/env bash
# `cloudmeta libvirt-hook` fed libvirt's own domain XML: domains are defined with virsh's built-in
# test driver (test:///default: no daemon, no KVM) and their `virsh dumpxml` is given to the hook
# on standard input with libvirt's arguments, as libvirtd does, against a real server on
# loopback. Checks the records through the admin API and the metadata surface (the guest is
# 127.0.0.2, its record's ip): prepare, start, API edits kept, release (stop, then delete),
# re-prepare, overwrite="true", bad XML and refused values (nothing written), the token file's
# mode, the XML limit, the symlink form, and a server that is down or frozen (exit status per
# LIBVIRT_HOOK_ON_ERROR, in bounded time).
# Usage: bash tests/integration/test_libvirt_hook.sh /path/to/cloudmeta
set -euo pipefail
BIN="${1:?usage: $0 /path/to/cloudmeta}"
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"
command -v virsh >/dev/null || { echo "FATAL: virsh missing: run scripts/install-deps.sh" >&2; exit 1; }
TMP="$(mktemp -d "${TMPDIR:-/tmp}/cloudmeta-hook.XXXXXX")"
SERVER_PID=""
PASSED=0 FAILED=0
cleanup() {
  local status=$?
  if [ -n "$SERVER_PID" ]; then
    kill -CONT "$SERVER_PID" 2>/dev/null || true
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "$status" != 0 ] || [ "$FAILED" != 0 ]; then tail -n 40 "$TMP/server.log" >&2 || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
pass() { PASSED=$((PASSED + 1)); echo "ok   - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $1"; }
expect_eq() { if [ "$2" == "$3" ]; then pass "$1"; else fail "$1: expected [$2], got [$3]"; fi; }
expect_match() {
  if printf '%s' "$3" | grep -Eq -- "$2"; then pass "$1"; else fail "$1: [$3] does not match /$2/"; fi
}

cd "$TMP"
DB="sqlite:///$TMP/db.sqlite"
start_server() {
  : >"$TMP/server.log"
  env -i PATH="$PATH" PORT=0 BIND=127.0.0.1 ADMIN_PORT=0 ADMIN_BIND=127.0.0.1 DATABASE_URL="$DB" \
    LOG_FORMAT=text "$BIN" serve 2>"$TMP/server.log" >/dev/null &
  SERVER_PID=$!
  for _ in $(seq 100); do
    grep -q 'event=listening surface=metadata' "$TMP/server.log" &&
      grep -q 'event=listening surface=admin' "$TMP/server.log" && break
    sleep 0.1
  done
  ADMIN_PORT="$(grep -m1 'event=listening surface=admin' "$TMP/server.log" | sed -n 's/.* port=\([0-9]*\).*/\1/p')"
  META_PORT="$(grep -m1 'event=listening surface=metadata' "$TMP/server.log" | sed -n 's/.* port=\([0-9]*\).*/\1/p')"
  [ -n "$ADMIN_PORT" ] && [ -n "$META_PORT" ] || { echo "FATAL: server did not start" >&2; exit 1; }
}
start_server
env -i PATH="$PATH" DATABASE_URL="$DB" "$BIN" token create --name libvirt >"$TMP/token.out"
install -m 0600 /dev/null "$TMP/hook.token"
tail -n 1 "$TMP/token.out" >"$TMP/hook.token"
TOKEN="$(cat "$TMP/hook.token")"
mkdir "$TMP/user-data"
printf '#cloud-config\nhostname: from-file\n' >"$TMP/user-data/db1.yaml"

# hook ARGS... < XML: the hook as libvirtd runs it (a clean environment and the settings).
HOOK_ENV=()
hook() {
  env -i PATH="$PATH" ADMIN_PORT="$ADMIN_PORT" LIBVIRT_HOOK_TOKEN_FILE="$TMP/hook.token" \
    LIBVIRT_HOOK_BRIDGE=virbr-md LIBVIRT_HOOK_USER_DATA_DIR="$TMP/user-data" \
    LIBVIRT_HOOK_TIMEOUT_MS=2000 "${HOOK_ENV[@]}" "$BIN" libvirt-hook "$@"
}
api() {  # api METHOD PATH [BODY]: prints "STATUS BODY"
  local args=(-s -o "$TMP/api.body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $TOKEN")
  [ -n "${3:-}" ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
  local code
  code="$(curl "${args[@]}" "http://127.0.0.1:$ADMIN_PORT$2")"
  echo "$code $(cat "$TMP/api.body")"
}
field() {  # field EXPR: a value of the last api body (python expression over `r`)
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($1)" "$TMP/api.body"
}
count() { api GET /api/v1/instances >/dev/null; field 'r["count"]'; }
imds() {  # imds PATH: "STATUS BODY" as the guest at 127.0.0.2 sees it
  local code
  code="$(curl -s --interface 127.0.0.2 -o "$TMP/imds.body" -w '%{http_code}' \
    "http://127.0.0.1:$META_PORT/latest/$1")"
  if [ "$code" = 200 ]; then echo "200 $(cat "$TMP/imds.body")"; else echo "$code"; fi
}
# define NAME FILE: the domain defined by libvirt's test driver; its dumpxml in NAME.xml.
define() {
  virsh -q -c test:///default "define $2; dumpxml $1" >"$TMP/$1.xml"
}

cat >"$TMP/web1.def.xml" <<'XML'
<domain type='test'>
  <name>web1</name>
  <uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>
  <metadata>
    <cloudmeta:instance xmlns:cloudmeta="https://cloudmeta.dev/xmlns/libvirt/1">
      <cloudmeta:ip>127.0.0.2</cloudmeta:ip>
      <cloudmeta:region>eu-west-1</cloudmeta:region>
      <cloudmeta:tag key="env">dev</cloudmeta:tag>
      <cloudmeta:user-data>
        #cloud-config
        runcmd:
          - [echo, hi]
      </cloudmeta:user-data>
    </cloudmeta:instance>
  </metadata>
  <memory unit='GiB'>4</memory>
  <vcpu>2</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <interface type='bridge'>
      <mac address='52:54:00:0a:00:01'/><source bridge='virbr0'/>
    </interface>
    <interface type='bridge'>
      <mac address='52:54:00:0A:00:02'/><source bridge='virbr-md'/><target dev='vhweb1'/>
    </interface>
  </devices>
</domain>
XML
define web1 "$TMP/web1.def.xml"
ID=i-4dea22b31d52d8f32
expect_match "virsh wrote the metadata element and the interface" \
  "cloudmeta:ip>127.0.0.2<" "$(grep 'cloudmeta:ip' "$TMP/web1.xml")"

# --- prepare: a new record -------------------------------------------------------------------
status=0
hook web1 prepare begin - <"$TMP/web1.xml" 2>"$TMP/hook.err" || status=$?
expect_eq "prepare exits 0" "0 " "$status $(grep -v 'created' "$TMP/hook.err" || true)"
expect_match "prepare says it created the record" "web1 prepare \($ID\): created" "$(cat "$TMP/hook.err")"
expect_eq "the record exists" 200 "$(api GET "/api/v1/instances/$ID" | cut -d' ' -f1)"
expect_eq "hostname from <name>" web1 "$(field 'r["hostname"]')"
expect_eq "mac and interface from the interface on virbr-md" "52:54:00:0a:00:02 vhweb1" \
  "$(field 'r["mac"] + " " + r["interface"]')"
expect_eq "instance type from 2 vCPUs and 4 GiB" t3.medium "$(field 'r["instance_type"]')"
expect_eq "fields of the metadata element" "127.0.0.2 eu-west-1 dev running" \
  "$(field '" ".join([r["ip"], r["region"], r["tags"]["env"], r["state"]])')"
expect_eq "served at once" "200 $ID" "$(imds meta-data/instance-id)"
expect_eq "inline user-data without the XML's indentation" \
  "$(printf '200 #cloud-config\nruncmd:\n  - [echo, hi]')" "$(imds user-data)"

# --- an edit through the API survives prepare and start --------------------------------------
api PATCH "/api/v1/instances/$ID" '{"hostname": "edited.example", "region": "us-east-1"}' >/dev/null
for op in prepare start; do
  status=0
  hook web1 "$op" begin - <"$TMP/web1.xml" 2>"$TMP/hook.err" || status=$?
  expect_eq "$op again exits 0 and updates" "0 updated" \
    "$status $(sed -n 's/.*: \(updated\)$/\1/p' "$TMP/hook.err")"
done
api GET "/api/v1/instances/$ID" >/dev/null
expect_eq "the API's hostname is kept; the element's region is the XML's" \
  "edited.example eu-west-1" "$(field 'r["hostname"] + " " + r["region"]')"
expect_eq "still one record" 1 "$(count)"

# --- release: stopped, kept, not served; prepare again serves it -----------------------------
hook web1 release end - <"$TMP/web1.xml" 2>"$TMP/hook.err"
expect_match "release says stopped" "stopped \(kept, not served\)" "$(cat "$TMP/hook.err")"
api GET "/api/v1/instances/$ID" >/dev/null
expect_eq "the stopped record is kept" "stopped edited.example" \
  "$(field 'r["state"] + " " + r["hostname"]')"
expect_eq "a stopped instance gets what an unknown caller gets" 404 "$(imds meta-data/instance-id)"
expect_eq "and so does its token PUT" 404 \
  "$(curl -s --interface 127.0.0.2 -o /dev/null -w '%{http_code}' -X PUT \
     -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "http://127.0.0.1:$META_PORT/latest/api/token")"
hook web1 prepare begin - <"$TMP/web1.xml" 2>/dev/null
expect_eq "prepared again: served" "200 $ID" "$(imds meta-data/instance-id)"
api GET "/api/v1/audit?instance_id=$ID" >/dev/null
expect_eq "the audit trail keeps the create, the stop and the restart" \
  "instance.create instance.update:stopped instance.update:running" \
  "$(field '" ".join(e["action"] + ("" if e["before"] is None else ":" + e["after"]["state"]) for e in reversed(r["entries"]) if e["before"] is None or e["before"]["state"] != e["after"]["state"])')"

# --- release with LIBVIRT_HOOK_ON_RELEASE=delete --------------------------------------------
HOOK_ENV=(LIBVIRT_HOOK_ON_RELEASE=delete)
hook web1 release end - <"$TMP/web1.xml" 2>"$TMP/hook.err"
HOOK_ENV=()
expect_match "release (delete) says deleted" ": deleted$" "$(cat "$TMP/hook.err")"
expect_eq "the record is gone" 404 "$(api GET "/api/v1/instances/$ID" | cut -d' ' -f1)"
hook web1 release end - <"$TMP/web1.xml" 2>"$TMP/hook.err"
expect_match "a second release finds nothing to stop and exits 0" "no record to stop" \
  "$(cat "$TMP/hook.err")"

# --- overwrite="true", user-data from a file ----------------------------------------------------
cat >"$TMP/db1.def.xml" <<'XML'
<domain type='test'>
  <name>db1</name>
  <uuid>a0b1c2d3-e4f5-0617-2839-4a5b6c7d8e9f</uuid>
  <metadata>
    <cm:instance xmlns:cm="https://cloudmeta.dev/xmlns/libvirt/1" overwrite="true">
      <cm:ip>127.0.0.3</cm:ip>
      <cm:user-data file="db1.yaml"/>
    </cm:instance>
  </metadata>
  <memory unit='MiB'>512</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type></os>
  <devices>
    <interface type='bridge'><mac address='52:54:00:0b:00:01'/><source bridge='virbr-md'/></interface>
  </devices>
</domain>
XML
define db1 "$TMP/db1.def.xml"
DB_ID=i-a0b1c2d3e4f506172
hook db1 prepare begin - <"$TMP/db1.xml" 2>/dev/null
api PATCH "/api/v1/instances/$DB_ID" '{"region": "us-east-1"}' >/dev/null
hook db1 prepare begin - <"$TMP/db1.xml" 2>"$TMP/hook.err"
expect_match "overwrite=true replaces the record" "replaced" "$(cat "$TMP/hook.err")"
api GET "/api/v1/instances/$DB_ID" >/dev/null
# The test driver names an interface without <target dev> itself (testnetN), as libvirt names
# vnetN when it starts a guest.
db_dev="$(sed -n "s/.*<target dev='\([^']*\)'.*/\1/p" "$TMP/db1.xml")"
expect_eq "overwrite=true drops the API's edit; type t3.nano; user-data from the file" \
  "|t3.nano|52:54:00:0b:00:01|$db_dev|#cloud-config;hostname: from-file;" \
  "$(field '"|".join([r["region"], r["instance_type"], r["mac"], r["interface"], r["user_data"].replace(chr(10), ";")])')"

# --- no <cloudmeta:ip>: a DHCP guest's record (its MAC, no address) ---------------------------
sed -e 's|<name>db1<|<name>dhcp1<|' -e 's|a0b1c2d3-e4f5-0617|b0b1c2d3-e4f5-0617|' \
  -e '/<cm:ip>/d' -e 's|52:54:00:0b:00:01|52:54:00:0c:00:01|' "$TMP/db1.def.xml" >"$TMP/dhcp1.def.xml"
define dhcp1 "$TMP/dhcp1.def.xml"
hook dhcp1 prepare begin - <"$TMP/dhcp1.xml" 2>"$TMP/hook.err"
expect_match "a domain without an address is created" "created" "$(cat "$TMP/hook.err")"
api GET "/api/v1/instances/i-b0b1c2d3e4f506172" >/dev/null
expect_eq "as a DHCP guest: its MAC, no address yet" "52:54:00:0c:00:01||False" \
  "$(field '"|".join([r["mac"], r["ip"], str(r["ip_learned"])])')"

# --- refusals: nothing is written ------------------------------------------------------------
before="$(count)"
status=0
printf '<domain><name>broken</name><uuid>' | hook broken prepare begin - 2>"$TMP/hook.err" || status=$?
expect_eq "bad XML: exit 1" 1 "$status"
expect_match "bad XML: a clear error" "broken prepare: error: not well-formed XML: .* at byte" \
  "$(cat "$TMP/hook.err")"
sed 's|<cloudmeta:region>eu-west-1<|<cloudmeta:region>Mars<|' "$TMP/web1.xml" >"$TMP/bad.xml"
status=0
hook web1 prepare begin - <"$TMP/bad.xml" 2>"$TMP/hook.err" || status=$?
expect_eq "a value the record rules refuse: exit 1" 1 "$status"
expect_match "it names the field" "error: region: " "$(cat "$TMP/hook.err")"
sed 's|<cloudmeta:ip>127.0.0.2<|<cloudmeta:ip>127.0.0.3<|' "$TMP/web1.xml" >"$TMP/taken.xml"
status=0
hook web1 prepare begin - <"$TMP/taken.xml" 2>"$TMP/hook.err" || status=$?
expect_eq "an address another record has: exit 1" 1 "$status"
expect_match "the server's refusal is shown" "refused, nothing written: PUT .*: 409 .*127.0.0.3" \
  "$(cat "$TMP/hook.err")"
HOOK_ENV=(LIBVIRT_HOOK_XML_LIMIT=4096)
{ cat "$TMP/web1.xml"; printf '<!-- %5000s -->\n' x; } >"$TMP/big.xml"
status=0
hook web1 prepare begin - <"$TMP/big.xml" 2>"$TMP/hook.err" || status=$?
HOOK_ENV=()
expect_eq "XML over LIBVIRT_HOOK_XML_LIMIT: exit 1" "1" "$status"
expect_match "and says so" "larger than 4096 bytes" "$(cat "$TMP/hook.err")"
chmod 0640 "$TMP/hook.token"
status=0
hook web1 prepare begin - <"$TMP/web1.xml" 2>"$TMP/hook.err" || status=$?
chmod 0600 "$TMP/hook.token"
expect_eq "a token file the group can read: exit 2" 2 "$status"
expect_match "and says so" "must not be accessible by group or others" "$(cat "$TMP/hook.err")"
expect_eq "nothing was written by any refusal" "$before" "$(count)"
status=0
hook web1 started begin - </dev/null 2>"$TMP/hook.err" || status=$?
expect_eq "an operation the hook does not handle: exit 0, silent" "0 " "$status $(cat "$TMP/hook.err")"
virsh -q -c test:///default dumpxml test >"$TMP/plain.xml"
status=0
hook test prepare begin - <"$TMP/plain.xml" 2>/dev/null || status=$?
expect_eq "a domain without the cloudmeta element is left alone" "0 $before" "$status $(count)"

# --- the symlink form: /etc/libvirt/hooks/qemu -> cloudmeta ----------------------------------
ln -s "$BIN" "$TMP/qemu"
status=0
env -i PATH="$PATH" ADMIN_PORT="$ADMIN_PORT" LIBVIRT_HOOK_TOKEN_FILE="$TMP/hook.token" \
  LIBVIRT_HOOK_BRIDGE=virbr-md "$TMP/qemu" web1 prepare begin - <"$TMP/web1.xml" 2>"$TMP/hook.err" ||
  status=$?
expect_eq "called as hooks/qemu: registered" "0 $ID" \
  "$status $(api GET "/api/v1/instances/$ID" >/dev/null; field 'r["instance_id"]')"

# --- the server frozen, then down ------------------------------------------------------------
kill -STOP "$SERVER_PID"
start=$(date +%s%N)
status=0
hook web1 prepare begin - <"$TMP/web1.xml" 2>"$TMP/hook.err" || status=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
expect_eq "a frozen server, LIBVIRT_HOOK_ON_ERROR=fail: exit 1" 1 "$status"
expect_match "within LIBVIRT_HOOK_TIMEOUT_MS (2000) and a little: ${ms} ms" "^([0-9]{1,3}|1[0-9]{3}|2[0-9]{3})$" "$ms"
expect_match "and says why" "did not do it: GET /api/v1/instances/$ID: no answer in time" \
  "$(cat "$TMP/hook.err")"
kill -CONT "$SERVER_PID"
kill "$SERVER_PID"
wait "$SERVER_PID" || true
SERVER_PID=""
status=0
hook web1 prepare begin - <"$TMP/web1.xml" 2>"$TMP/hook.err" || status=$?
expect_eq "a server that is down, LIBVIRT_HOOK_ON_ERROR=fail: exit 1" 1 "$status"
expect_match "connection refused, named" "did not do it: connect 127.0.0.1:$ADMIN_PORT: .*LIBVIRT_HOOK_ON_ERROR=fail" \
  "$(cat "$TMP/hook.err")"
HOOK_ENV=(LIBVIRT_HOOK_ON_ERROR=ignore)
status=0
hook web1 prepare begin - <"$TMP/web1.xml" 2>"$TMP/hook.err" || status=$?
HOOK_ENV=()
expect_eq "LIBVIRT_HOOK_ON_ERROR=ignore: exit 0" 0 "$status"
expect_match "still logged" "LIBVIRT_HOOK_ON_ERROR=ignore: the guest goes on without" "$(cat "$TMP/hook.err")"

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ] && [ "$PASSED" -gt 0 ]
