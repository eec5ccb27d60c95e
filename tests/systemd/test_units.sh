#!/usr/bin/env bash
# The shipped unit files: `systemd-analyze verify` prints nothing at all (it exits 0 even on
# warnings such as an unknown key), and `systemd-analyze security --offline=true` scores the
# service at 1.5 or lower (--threshold is in tenths). verify checks that ExecStart= is
# executable, so the units are copied with the install path /usr/local/bin/cloudmeta pointed at
# the binary under test.
# Usage: test_units.sh CLOUDMETA_BINARY
set -euo pipefail
binary=$(realpath "$1")
units=$(cd "$(dirname "$0")/../../systemd" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for unit in cloudmeta.service cloudmeta.socket cloudmeta-admin.socket; do
  sed "s|/usr/local/bin/cloudmeta|$binary|g" "$units/$unit" > "$work/$unit"
done
output=$(cd "$work" && systemd-analyze verify ./cloudmeta.socket ./cloudmeta-admin.socket \
  ./cloudmeta.service 2>&1) || true
if [ -n "$output" ]; then
  echo "FAIL systemd-analyze verify printed:"; echo "$output"; exit 1
fi
echo "ok   systemd-analyze verify prints nothing"

report=$(systemd-analyze security --offline=true --threshold=15 "$units/cloudmeta.service" 2>&1) \
  && passed=1 || passed=0
echo "$report" | tail -n1
if [ "$passed" != 1 ]; then echo "$report"; echo "FAIL exposure above 1.5"; exit 1; fi
echo "ok   exposure at or below 1.5"
