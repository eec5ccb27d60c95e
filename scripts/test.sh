#!/usr/bin/env bash
# The full test suite, as the README's second command and as CI run it: installs what the tests
# need (idempotent), builds in ./build, runs every ctest tier and prints ctest's summary.
# Extra arguments go to ctest, e.g. `scripts/test.sh -L unit`.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
# Boost.Asio/Beast and nlohmann/json precompiled (CLOUDMETA_PCH): a file costs g++ -O2 a half to
# two thirds of its CPU time (docs/benchmarks.md, "Build time"). The image build (docker/
# Dockerfile, built by tests/container) stays plain, so a file that forgets an include fails there.
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCLOUDMETA_PCH=ON
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j2 "$@"
