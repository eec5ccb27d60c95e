#!/usr/bin/env bash
# The checks that need builds of their own (docs/fuzzing.md), run by CI after scripts/test.sh:
#   1. ASan+UBSan (build-asan): the unit, store and integration tiers, the server the integration
#      tests start included; a report fails the test (no recovery; LeakSanitizer on).
#   2. TSan (build-tsan): the tests that run threads against each other (snapshot swaps and
#      reloads, the listener, fleet resyncs, live updates across servers).
#   3. libFuzzer: every target of tests/fuzz, built in build-asan, for FUZZ_SECONDS each (30)
#      from its seed corpus, two at a time; new inputs go to a temp dir, the repository is left
#      as it is.
# Both sanitizer builds use clang-14 at -O0 -g with the heavy headers precompiled
# (CLOUDMETA_PCH): a third of -O1's compile time, exact stack traces, and the tiers still run in
# minutes (docs/fuzzing.md has the timings). With ccache, told to accept precompiled headers.
# Prints ctest's summary per build and a closing line; exits non-zero on any failure.
# Usage: scripts/check-deep.sh [build|asan|tsan|fuzz]...   (default: asan tsan fuzz, in order;
# `build` only builds both, each step builds what it needs anyway)
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-30}
# Every tests/fuzz/*.cpp is a target (tests/fuzz/CMakeLists.txt builds the same list), each with
# a seed corpus in tests/fuzz/corpus/<target>/.
fuzz_targets=()
for source in tests/fuzz/*.cpp; do
  fuzz_targets+=("$(basename "$source" .cpp)")
done
# The TSan tier: the unit tier whole (the snapshot's racing renders and copy-on-write swaps,
# the listener's accept loop, the limiters, the deadline sweeper, session scratch), and the store
# and integration cases where threads or servers share state (doctest names, as ctest lists them):
# fleet resyncs against writes, reloads, two servers on one database, keep-alive sessions.
tsan_cases='fleet|reload|another server|sharing SECRET_KEY|keep-alive|last seen|live'

launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
configure() {  # configure DIR SANITIZERS [more cmake args]
  local dir=$1 sanitize=$2
  shift 2
  CXX=clang++-14 cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g" \
    -DCLOUDMETA_SANITIZE="$sanitize" -DCLOUDMETA_PCH=ON "${launcher[@]}" "$@" >/dev/null
}
test_targets=(cloudmeta cloudmeta_unit_tests cloudmeta_store_tests cloudmeta_integration_tests)

# Sanitizer options for every test and every server a test starts (they inherit the environment).
# abort_on_error: a report ends the process with SIGABRT, which no test mistakes for an exit code
# it expects.
# log_path: every report also lands in a file of its own (one per process, printed at the end),
# since the servers' logs go with the integration tests' temporary directories, and a server
# stopped by a report leaves its test only "connection closed".
reports=$(mktemp -d)
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1:log_path=$reports/asan
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:log_path=$reports/tsan

failed=()
build_asan() {
  configure build-asan address,undefined -DCLOUDMETA_FUZZ=ON
  cmake --build build-asan -j2 --target "${test_targets[@]}" "${fuzz_targets[@]/#/fuzz_}"
}
build_tsan() {
  configure build-tsan thread
  cmake --build build-tsan -j2 --target "${test_targets[@]}"
}
# Both builds, nothing run: .ci/run starts this beside the test suite, niced, so the compilers
# take the CPU the suite leaves idle; the steps below then find their builds done.
run_build() {
  build_asan
  build_tsan
}
run_asan() {
  build_asan
  ctest --test-dir build-asan -L '^(unit|store|integration|postgres)$' -j2 \
    --output-on-failure || failed+=(asan)
}
run_tsan() {
  build_tsan
  ctest --test-dir build-tsan -L '^unit$' -j2 --output-on-failure || failed+=(tsan-unit)
  ctest --test-dir build-tsan -R "$tsan_cases" -LE '^unit$' -j2 --output-on-failure ||
    failed+=(tsan)
}
fuzz_one() {  # fuzz_one TARGET WORKDIR: runs it, writes WORKDIR/TARGET.log, exits as libFuzzer did
  local target=$1 work=$2
  mkdir -p "$work/$target"
  # The first directory receives new inputs; the seeds are only read.
  build-asan/tests/fuzz/fuzz_"$target" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
    -artifact_prefix="$work/$target-" "$work/$target" "tests/fuzz/corpus/$target" \
    >"$work/$target.log" 2>&1
}
run_fuzz() {
  configure build-asan address,undefined -DCLOUDMETA_FUZZ=ON
  cmake --build build-asan -j2 --target "${fuzz_targets[@]/#/fuzz_}"
  local work passed=0 crashed=0 target i
  work=$(mktemp -d)
  # Two targets at a time, one per core: each is one single-threaded process.
  local -A pid=()
  for ((i = 0; i < ${#fuzz_targets[@]}; i += 2)); do
    for target in "${fuzz_targets[@]:i:2}"; do
      fuzz_one "$target" "$work" &
      pid[$target]=$!
    done
    for target in "${fuzz_targets[@]:i:2}"; do
      if wait "${pid[$target]}"; then
        passed=$((passed + 1))
        echo "fuzz $target: $(grep -E '^stat::number_of_executed_units' "$work/$target.log" |
          awk '{print $2}') executions, no crash"
      else
        crashed=$((crashed + 1))
        echo "fuzz $target: FAILED (its log follows; the input is in $work)"
        tail -n 60 "$work/$target.log"
      fi
    done
  done
  echo "fuzz: $passed passed, $crashed failed"
  [ "$crashed" = 0 ] || failed+=(fuzz)
  [ "$crashed" != 0 ] || rm -rf "$work"
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(asan tsan fuzz)
for step in "${steps[@]}"; do
  case "$step" in
    build | asan | tsan | fuzz)
      started=$SECONDS
      "run_$step"
      echo "check-deep $step: $((SECONDS - started)) s"
      ;;
    *) echo "unknown step $step (build, asan, tsan, fuzz)" >&2; exit 2 ;;
  esac
done
for report in "$reports"/*; do
  [ -e "$report" ] || continue
  echo "==== sanitizer report $(basename "$report") (first 120 lines)"
  sed -n 1,120p "$report"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "check-deep: FAILED: ${failed[*]} (reports above; all in $reports)"
  exit 1
fi
rm -rf "$reports"
echo "check-deep: all passed (${steps[*]})"
