#!/usr/bin/env bash
# Signed instance identity (docs/metadata.md, "Signed identity"), checked the way AWS tells its
# users to check EC2's: the commands of AWS's verify-pkcs7, verify-signature and verify-rsa2048
# pages, run as written (the certificate comes from GET /api/v1/identity/certificates, and the
# signature is never trusted to carry its own: -nointern), and Python's `cryptography` (Debian's
# python3-cryptography) for the raw signature. Against the real binary on loopback; the guests
# are 127.0.0.2-4, their records' ips.
# Also: the served form (BER, 76-character lines, AWS's algorithm identifiers), a changed record's
# new document and old signatures, two servers on one database signing alike, keys kept across a
# restart, and keys from IDENTITY_KEY_FILE/IDENTITY_CERT_FILE.
# Usage: bash tests/integration/test_identity_signatures.sh /path/to/cloudmeta
set -euo pipefail
BIN="${1:?usage: $0 /path/to/cloudmeta}"
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/cloudmeta-identity.XXXXXX")"
PIDS=()
PASSED=0 FAILED=0
cleanup() {
  local status=$? pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$status" != 0 ] || [ "$FAILED" != 0 ]; then tail -n 30 "$TMP"/*.log >&2 || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
pass() { PASSED=$((PASSED + 1)); echo "ok   - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $1"; }
expect_eq() { if [ "$2" == "$3" ]; then pass "$1"; else fail "$1: expected [$2], got [$3]"; fi; }
expect_ok() {  # expect_ok NAME COMMAND...: the command succeeds
  local name=$1
  shift
  if "$@" >"$TMP/cmd.out" 2>&1; then pass "$name"; else fail "$name: $(head -c 400 "$TMP/cmd.out")"; fi
}
expect_refused() {  # expect_refused NAME COMMAND...: the command fails
  local name=$1
  shift
  if "$@" >"$TMP/cmd.out" 2>&1; then fail "$name: it succeeded"; else pass "$name"; fi
}

cd "$TMP"
DB="sqlite:///$TMP/db.sqlite"
# Under ctest's postgres fixture (CLOUDMETA_TEST_PG_STATE, tests/postgres.cmake) the servers share
# a database of their own on that PostgreSQL server instead: a fleet of two hosts.
if [ -n "${CLOUDMETA_TEST_PG_STATE:-}" ]; then
  PG_HOST="$(sed -n 's/^PG_HOST=//p' "$CLOUDMETA_TEST_PG_STATE/env")"
  PG_PORT="$(sed -n 's/^PG_PORT=//p' "$CLOUDMETA_TEST_PG_STATE/env")"
  PG_USER="$(sed -n 's/^PG_USER=//p' "$CLOUDMETA_TEST_PG_STATE/env")"
  PG_PASSWORD="$(sed -n 's/^PG_PASSWORD=//p' "$CLOUDMETA_TEST_PG_STATE/env")"
  PG_DB="identity_$$_$RANDOM"
  PGPASSWORD="$PG_PASSWORD" psql -q -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres \
    -c "CREATE DATABASE $PG_DB"
  DB="postgresql://$PG_USER:$PG_PASSWORD@$PG_HOST:$PG_PORT/$PG_DB"
fi
# start NAME [VAR=VALUE...]: a server with its log in NAME.log; sets META_PORT and ADMIN_PORT.
start() {
  local name=$1
  shift
  : >"$TMP/$name.log"
  env -i PATH="$PATH" PORT=0 BIND=127.0.0.1 ADMIN_PORT=0 ADMIN_BIND=127.0.0.1 DATABASE_URL="$DB" \
    SNAPSHOT_CACHE=off LOG_FORMAT=text "$@" "$BIN" serve 2>"$TMP/$name.log" >/dev/null &
  PIDS+=($!)
  for _ in $(seq 100); do
    grep -q 'event=listening surface=admin' "$TMP/$name.log" && break
    sleep 0.1
  done
  ADMIN_PORT="$(grep -m1 'event=listening surface=admin' "$TMP/$name.log" | sed -n 's/.* port=\([0-9]*\).*/\1/p')"
  META_PORT="$(grep -m1 'event=listening surface=metadata' "$TMP/$name.log" | sed -n 's/.* port=\([0-9]*\).*/\1/p')"
  [ -n "$ADMIN_PORT" ] && [ -n "$META_PORT" ] || { echo "FATAL: server $name did not start" >&2; exit 1; }
}
stop_last() {
  local pid=${PIDS[-1]}
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  unset 'PIDS[-1]'
}
api() {  # api METHOD PATH [BODY]: prints the status; the body is in api.body
  local args=(-s -o "$TMP/api.body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $TOKEN")
  [ -n "${3:-}" ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
  curl "${args[@]}" "http://127.0.0.1:$ADMIN_PORT$2"
}
# imds GUEST PATH: the body a guest gets with IMDSv2, as AWS's pages fetch it (fails on non-200).
imds() {
  local token
  token="$(curl -sf --interface "$1" -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' \
    "http://127.0.0.1:$META_PORT/latest/api/token")"
  curl -sf --interface "$1" -H "X-aws-ec2-metadata-token: $token" \
    "http://127.0.0.1:$META_PORT/latest/dynamic/instance-identity/$2"
}
certificate() {  # certificate NAME FILE: the published certificate, without credentials
  curl -sf "http://127.0.0.1:$ADMIN_PORT/api/v1/identity/certificates?name=$1" >"$2"
}

# verify GUEST DIR: AWS's three procedures in DIR, as its pages write them (IMDSv2 variants).
verify() {
  local guest=$1 dir=$2
  mkdir -p "$dir"
  (
    cd "$dir"
    imds "$guest" document >document
    certificate dsa dsa.pem
    certificate rsa rsa.pem
    certificate rsa2048 rsa2048.pem
    # verify-pkcs7
    echo "-----BEGIN PKCS7-----" >>pkcs7 && imds "$guest" pkcs7 >>pkcs7 && echo "" >>pkcs7 &&
      echo "-----END PKCS7-----" >>pkcs7
    # verify-signature
    imds "$guest" signature | base64 -d >>signature
    openssl x509 -pubkey -noout -in rsa.pem >>key
    # verify-rsa2048
    echo "-----BEGIN PKCS7-----" >>rsa2048 && imds "$guest" rsa2048 >>rsa2048 && echo "" >>rsa2048 &&
      echo "-----END PKCS7-----" >>rsa2048
  )
  expect_ok "$guest: pkcs7 verifies (openssl smime, -content document)" \
    openssl smime -verify -in "$dir/pkcs7" -inform PEM -content "$dir/document" \
    -certfile "$dir/dsa.pem" -noverify -nointern -out /dev/null
  # AWS's own page leaves -content out and compares what the signature carries with the document.
  openssl smime -verify -in "$dir/pkcs7" -inform PEM -certfile "$dir/dsa.pem" -noverify \
    -nointern -out "$dir/carried" 2>/dev/null || true
  expect_eq "$guest: pkcs7 carries the document's exact bytes" \
    "$(sha256sum <"$dir/document")" "$(sha256sum <"$dir/carried")"
  expect_ok "$guest: signature verifies (openssl dgst -sha256 -verify)" \
    openssl dgst -sha256 -verify "$dir/key" -signature "$dir/signature" "$dir/document"
  expect_ok "$guest: rsa2048 verifies (openssl smime, -content document)" \
    openssl smime -verify -in "$dir/rsa2048" -inform PEM -content "$dir/document" \
    -certfile "$dir/rsa2048.pem" -noverify -nointern -out /dev/null
  expect_ok "$guest: signature verifies with python3-cryptography" python3 - "$dir" <<'EOF'
import sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
d = sys.argv[1]
cert = x509.load_pem_x509_certificate(open(d + "/rsa.pem", "rb").read())
cert.public_key().verify(open(d + "/signature", "rb").read(), open(d + "/document", "rb").read(),
                         padding.PKCS1v15(), hashes.SHA256())
EOF
}

start a
env -i PATH="$PATH" DATABASE_URL="$DB" "$BIN" token create --name identity >"$TMP/token.out"
TOKEN="$(tail -n 1 "$TMP/token.out")"
for n in 2 3 4; do
  expect_eq "instance 127.0.0.$n registered" 201 "$(api POST /api/v1/instances \
    "{\"instance_id\": \"i-0000000000000000$n\", \"ip\": \"127.0.0.$n\", \"region\": \"eu-west-1\"}")"
done

expect_eq "the listing names AWS's four leaves" "$(printf 'document\npkcs7\nrsa2048\nsignature')" \
  "$(curl -s --interface 127.0.0.2 "http://127.0.0.1:$META_PORT/latest/dynamic/instance-identity/")"
for n in 2 3 4; do verify "127.0.0.$n" "$TMP/a$n"; done

# The served form: EC2's BER SignedData prefixes (SHA-1 for pkcs7, SHA-256 for rsa2048), lines of
# 76 characters, no final newline.
curl -s --interface 127.0.0.2 "http://127.0.0.1:$META_PORT/latest/dynamic/instance-identity/pkcs7" >"$TMP/pkcs7.raw"
curl -s --interface 127.0.0.2 "http://127.0.0.1:$META_PORT/latest/dynamic/instance-identity/rsa2048" >"$TMP/rsa2048.raw"
expect_eq "pkcs7 begins as EC2's (BER, SHA-1, data attached)" "MIAGCSqGSIb3DQEHAqCAMIACAQExCzAJBgUrDgMCGgUAMIAGCSqGSIb3DQEHAaCAJIAEgg" \
  "$(head -c 70 "$TMP/pkcs7.raw")"
expect_eq "rsa2048 begins as EC2's (BER, SHA-256, data attached)" \
  "MIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgEFADCABgkqhkiG9w0BBwGggCSABIIB" \
  "$(head -c 76 "$TMP/rsa2048.raw")"
expect_eq "pkcs7 lines are 76 characters but the last" "76" \
  "$(head -n -1 "$TMP/pkcs7.raw" | awk '{print length($0)}' | sort -u | tr '\n' ' ' | xargs)"
expect_eq "pkcs7 ends without a newline" "=" "$(tail -c 1 "$TMP/pkcs7.raw" | tr '\n' '!' | tr -c '!' '=')"
expect_eq "no certificate travels inside pkcs7" "0" \
  "$(openssl pkcs7 -in "$TMP/a2/pkcs7" -print_certs 2>/dev/null | grep -c 'BEGIN CERTIFICATE' || true)"

# A signature is of one document: the other instances' do not verify it, nor a changed one.
expect_refused "127.0.0.3's rsa2048 does not verify 127.0.0.2's document" \
  openssl smime -verify -in "$TMP/a3/rsa2048" -inform PEM -content "$TMP/a2/document" \
  -certfile "$TMP/a2/rsa2048.pem" -noverify -nointern -out /dev/null
expect_eq "instance type changed" 200 "$(api PATCH /api/v1/instances/i-00000000000000002 '{"instance_type": "c5.large"}')"
verify 127.0.0.2 "$TMP/changed"
expect_eq "the document changed" 1 "$(grep -c '"instanceType" : "c5.large"' "$TMP/changed/document")"
expect_refused "the old pkcs7 does not verify the new document" \
  openssl smime -verify -in "$TMP/a2/pkcs7" -inform PEM -content "$TMP/changed/document" \
  -certfile "$TMP/a2/dsa.pem" -noverify -nointern -out /dev/null
expect_refused "the old signature does not verify the new document" \
  openssl dgst -sha256 -verify "$TMP/a2/key" -signature "$TMP/a2/signature" "$TMP/changed/document"

# A second server on the same database: the same keys, and (RSA signatures being deterministic,
# the signing time the record's) the same bytes for rsa2048 and signature.
A_META=$META_PORT
start b
verify 127.0.0.3 "$TMP/b3"
expect_eq "both servers publish one certificate" "$(cat "$TMP/a3/rsa2048.pem")" "$(cat "$TMP/b3/rsa2048.pem")"
expect_eq "both servers sign rsa2048 alike" "$(cat "$TMP/a3/rsa2048")" "$(cat "$TMP/b3/rsa2048")"
expect_eq "both servers sign signature alike" "$(base64 <"$TMP/a3/signature")" "$(base64 <"$TMP/b3/signature")"
expect_ok "the other server's DSA pkcs7 verifies with the first's certificate" \
  openssl smime -verify -in "$TMP/b3/pkcs7" -inform PEM -content "$TMP/a3/document" \
  -certfile "$TMP/a3/dsa.pem" -noverify -nointern -out /dev/null
stop_last
META_PORT=$A_META

# Keys survive a restart (they are stored in the database, not made per process).
stop_last
start a-again
certificate dsa "$TMP/dsa-again.pem"
expect_eq "the DSA certificate is the same after a restart" "$(cat "$TMP/a2/dsa.pem")" "$(cat "$TMP/dsa-again.pem")"
expect_eq "exactly one key set was generated" 1 "$(grep -c 'event=identity_keys_ready' "$TMP/a.log" "$TMP/b.log" "$TMP/a-again.log" | awk -F: '{s+=$2} END {print s}')"
expect_eq "no private key reached a log" 0 "$(cat "$TMP"/*.log | grep -c 'PRIVATE KEY' || true)"

# Rotation with overlap: the running server publishes the new set and the previous one at once,
# goes on signing with the previous keys until it restarts, and then signs with the new ones;
# signatures made before verify against the published bundle throughout.
count_certs() { grep -c 'BEGIN CERTIFICATE' "$1" || true; }
expect_ok "identity rotate" env -i PATH="$PATH" DATABASE_URL="$DB" "$BIN" identity rotate --overlap-hours 24
certificate dsa "$TMP/dsa-bundle.pem"
expect_eq "after a rotation both DSA certificates are published" 2 "$(count_certs "$TMP/dsa-bundle.pem")"
expect_eq "the previous one is named so" 1 "$(grep -c 'rotated out; published until' "$TMP/dsa-bundle.pem")"
certificate rsa2048 "$TMP/rsa2048-bundle.pem"
expect_ok "a signature from before the rotation verifies against the published bundle" \
  openssl smime -verify -in "$TMP/a3/rsa2048" -inform PEM -content "$TMP/a3/document" \
  -certfile "$TMP/rsa2048-bundle.pem" -noverify -nointern -out /dev/null
stop_last
start rotated
verify 127.0.0.4 "$TMP/rotated"
expect_refused "after a restart the server signs with the new keys, not the previous ones" \
  openssl smime -verify -in "$TMP/rotated/rsa2048" -inform PEM -content "$TMP/rotated/document" \
  -certfile "$TMP/a3/rsa2048.pem" -noverify -nointern -out /dev/null
expect_ok "a rotation with no overlap" env -i PATH="$PATH" DATABASE_URL="$DB" "$BIN" identity rotate --overlap-hours 0
certificate dsa "$TMP/dsa-bundle2.pem"
expect_eq "publishes the new set and the one rotated out 24 h before, not the one just replaced" 2 \
  "$(count_certs "$TMP/dsa-bundle2.pem")"
expect_eq "both rotations are audited" 2 "$(api GET '/api/v1/audit?limit=50' >/dev/null && grep -o '"identity.rotate"' "$TMP/api.body" | wc -l)"
stop_last

# The operator's own RSA key and certificate (no DSA pair: pkcs7 is then RSA with SHA-256).
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/own.key" -out "$TMP/own.crt" -days 30 \
  -subj "/O=operator/CN=identity" 2>/dev/null
DB="sqlite:///$TMP/own.sqlite"
start own IDENTITY_KEY_FILE="$TMP/own.key" IDENTITY_CERT_FILE="$TMP/own.crt"
env -i PATH="$PATH" DATABASE_URL="$DB" "$BIN" token create --name identity >"$TMP/token.out"
TOKEN="$(tail -n 1 "$TMP/token.out")"
api POST /api/v1/instances '{"instance_id": "i-0000000000000000b", "ip": "127.0.0.2"}' >/dev/null
verify 127.0.0.2 "$TMP/own"
expect_eq "the published certificate is the operator's" "$(openssl x509 -in "$TMP/own.crt" -noout -fingerprint)" \
  "$(openssl x509 -in "$TMP/own/rsa2048.pem" -noout -fingerprint)"
stop_last

# A key that is not the certificate's stops the start, naming the settings.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/other.key" -out "$TMP/other.crt" -days 30 \
  -subj "/O=other" 2>/dev/null
status=0
env -i PATH="$PATH" PORT=0 BIND=127.0.0.1 ADMIN_PORT=0 ADMIN_BIND=127.0.0.1 DATABASE_URL="$DB" \
  IDENTITY_KEY_FILE="$TMP/other.key" IDENTITY_CERT_FILE="$TMP/own.crt" \
  timeout 10 "$BIN" serve 2>"$TMP/mismatch.log" >/dev/null || status=$?
expect_eq "a key that is not the certificate's stops the start" 1 "$status"
expect_eq "naming the settings" 1 \
  "$(grep -c 'IDENTITY_KEY_FILE/IDENTITY_CERT_FILE: the certificate is not the key' "$TMP/mismatch.log")"

echo "# $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
