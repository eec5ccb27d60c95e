#!/usr/bin/env bash
# The full test suite, as the README's second command and as CI run it: installs what the tests
# need (idempotent), builds in ./build, runs every ctest tier and prints ctest's summary.
# Extra arguments go to ctest, e.g. `scripts/test.sh -L unit`.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j2 "$@"
