#!/usr/bin/env bash
# The metadata surface's benchmark, one command (docs/benchmarks.md explains every number):
#
#   bench/run.sh            full comparison (~15 min, plus seeding the 1,000,000-instance fleet,
#                           ~20 min on a 2-core machine): cloudmeta vs Debian's nginx serving the
#                           instance-id with `return 200`, each pinned to core 0, the client pinned
#                           to core 1; wrk and cloudmeta_loadgen as clients; keep-alive,
#                           new-connection-per-request and IMDSv2 modes; server CPU per request
#                           from /proc/PID/stat; then the fleet-size, memory, start-up, latency,
#                           idle-connection, token-PUT and callgrind measurements.
#                           Writes bench/results.md.
#   bench/run.sh --quick    a few seconds on a small fleet, for CI: prints the table and fails only
#                           if the benchmark itself breaks (no answer, wrong status, or a GET that
#                           allocates), never on timing.
#
# Environment: BUILD_DIR (default build-bench; --quick: build), RUNS (repetitions, median
# reported; default 3), DURATION (seconds per run; default 10), FLEET (default 1000), BIG_FLEET
# (the fleet-size check's large fleet; default 1000000),
# CLOUDMETA_BIN (measure this cloudmeta binary instead of the one built here, e.g. an older
# commit's build, for before/after numbers).
set -euo pipefail
# (No `head` after a pipe: with pipefail, the writer it cuts off dies of SIGPIPE and fails the run.)
shopt -s inherit_errexit  # a broken run inside $(...) must stop the script too
cd "$(dirname "$0")/.."

quick=0
if [ "${1:-}" = "--quick" ]; then quick=1; fi

if [ "$quick" = 1 ]; then
  build_dir=${BUILD_DIR:-build}
  runs=${RUNS:-1}
  duration=${DURATION:-1}
  warmup=0.3
  fleet=${FLEET:-1000}
else
  build_dir=${BUILD_DIR:-build-bench}
  runs=${RUNS:-3}
  duration=${DURATION:-10}
  warmup=1
  fleet=${FLEET:-1000}
  ./bench/install.sh
fi
big_fleet=${BIG_FLEET:-1000000}
connections=50
sources=1000  # loadgen's source addresses (127.16.0.0 up), each a registered instance

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j"$(nproc)" --target cloudmeta cloudmeta_loadgen cloudmeta_hotpath \
  >/dev/null
cloudmeta=${CLOUDMETA_BIN:-$PWD/$build_dir/cloudmeta}
loadgen=$PWD/$build_dir/bench/cloudmeta_loadgen
hotpath=$PWD/$build_dir/bench/cloudmeta_hotpath

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Pinning needs two cores; on one, both sides share it (the numbers then say little).
server_cpu=0
client_cpu=1
if [ "$(nproc)" -lt 2 ]; then client_cpu=0; fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_for_port() {  # port, pid: until the port accepts, or fail if the process died
  local i
  for i in $(seq 1 600); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    if ! kill -0 "$2" 2>/dev/null; then echo "server exited before listening" >&2; return 1; fi
    sleep 0.05
  done
  echo "server did not listen on port $1" >&2
  return 1
}

cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
clk_tck=$(getconf CLK_TCK)

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else print v[int((NR + 1) / 2)] }'; }
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p"; }  # a key=value out of a RESULT line

# ---- the fleet -----------------------------------------------------------------------------
records() {  # count: instances at 127.16.0.0 + i, plus i-0123456789abcdef0 at 127.0.0.1 (for wrk)
  "$loadgen" records --count "$1" --first-source 127.16.0.0 --extra-ip 127.0.0.1
}
has_import=0
if "$cloudmeta" import --help >/dev/null 2>&1; then has_import=1; fi

cloudmeta_port=$(free_port)
admin_port=$(free_port)
start_cloudmeta() {  # db-path; sets cloudmeta_pid and startup_ms
  local started
  started=$(date +%s%N)
  env DATABASE_URL="sqlite://$1" SECRET_KEY=bench-secret-key-0123456789abcdef BIND=127.0.0.1 \
    PORT="$cloudmeta_port" ADMIN_PORT="$admin_port" THREADS=1 LOG_LEVEL=warn \
    IMDS_MAX_CONNECTIONS=20000 REFRESH_INTERVAL_MS=1000 ADMIN_SCHED_IDLE=1 \
    taskset -c "$server_cpu" "$cloudmeta" serve >"$work/cloudmeta.log" 2>&1 &
  cloudmeta_pid=$!
  pids+=("$cloudmeta_pid")
  wait_for_port "$cloudmeta_port" "$cloudmeta_pid"
  startup_ms=$(( ($(date +%s%N) - started) / 1000000 ))
}
stop_cloudmeta() {
  kill "$cloudmeta_pid"
  wait "$cloudmeta_pid" || true
}
# Seeds a fleet of `count` into db-path and starts cloudmeta on it: `cloudmeta import` before the
# start (so that start-up time includes loading the fleet), or, for a binary without it, the
# admin API after the start (small fleets only).
start_fleet() {  # db-path count
  if [ "$has_import" = 1 ]; then
    records "$2" | DATABASE_URL="sqlite://$1" LOG_LEVEL=warn "$cloudmeta" import >/dev/null
    start_cloudmeta "$1"
    return
  fi
  [ "$2" -le 10000 ] || { echo "seeding $2 instances needs cloudmeta import" >&2; exit 1; }
  start_cloudmeta "$1"
  local token
  token=$(DATABASE_URL="sqlite://$1" LOG_LEVEL=warn "$cloudmeta" token create \
    --name "seed$RANDOM" | tail -1)
  records "$2" | python3 bench/seed_admin.py "$admin_port" "$token"
}

start_fleet "$work/fleet.db" "$fleet"
token=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600' \
  "http://127.0.0.1:$cloudmeta_port/latest/api/token")
instance_id=$(curl -sf "http://127.0.0.1:$cloudmeta_port/latest/meta-data/instance-id")
[ "$instance_id" = i-0123456789abcdef0 ] || { echo "cloudmeta answered '$instance_id'" >&2; exit 1; }

# ---- nginx, the reference ----------------------------------------------------------------------
have_nginx=0
if command -v nginx >/dev/null && command -v wrk >/dev/null; then have_nginx=1; fi
if [ "$have_nginx" = 1 ]; then
  nginx_port=$(free_port)
  mkdir -p "$work/nginx"
  # One process (master_process off): the worker is the process whose CPU is measured.
  cat >"$work/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 20000; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 65;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$nginx_port;
    location / { default_type text/plain; return 200 "i-0123456789abcdef0"; }
    # A token PUT gets a string of the real token's length, so that loadgen's IMDSv2 mode sends
    # nginx GETs of the same size as cloudmeta's (nginx ignores the header).
    location = /latest/api/token { default_type text/plain; return 200 "$token"; }
  }
}
EOF
  taskset -c "$server_cpu" nginx -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" \
    -p "$work/nginx" &
  nginx_pid=$!
  pids+=("$nginx_pid")
  wait_for_port "$nginx_port" "$nginx_pid"
else
  echo "nginx or wrk missing (bench/install.sh installs them): cloudmeta rows only" >&2
fi

# ---- one measured run ----------------------------------------------------------------------
# Prints "rps p50_us p99_us cpu_us_per_req busy_percent errors".
# wrk closes normally, so with "Connection: close" every request leaves a TIME-WAIT socket on the
# server's side; once the kernel's table (tcp_max_tw_buckets) is full, new connections stall on
# SYN retransmits. A new-connection run therefore starts only when the previous one's have expired
# (at most 60 s), so no server is measured in the wake of another. (cloudmeta_loadgen resets its
# connections once a response is complete and leaves none.)
settle_time_wait() {
  local i
  for i in $(seq 1 70); do
    [ "$(ss -Htan state time-wait | wc -l)" -lt 5000 ] && return
    sleep 1
  done
}
run_wrk() {  # pid port mode
  local pid=$1 port=$2 mode=$3 args=() before after out
  [ "$mode" = new ] && settle_time_wait
  [ "$mode" = new ] && args+=(-H 'Connection: close')
  [ "$mode" = v2 ] && args+=(-H "X-aws-ec2-metadata-token: $token")
  before=$(cpu_ticks "$pid")
  out=$(taskset -c "$client_cpu" wrk -t1 -c"$connections" -d"${duration}s" --latency "${args[@]}" \
    "http://127.0.0.1:$port/latest/meta-data/instance-id")
  after=$(cpu_ticks "$pid")
  echo "$out" >>"$work/wrk.log"
  awk -v ticks=$((after - before)) -v hz="$clk_tck" -v d="$duration" '
    function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; return v * 1e6 }
    /^ +50%/ { p50 = us($2) } /^ +99%/ { p99 = us($2) }
    / requests in / { n = $1 }
    /Non-2xx/ { bad += $NF } /Socket errors/ { gsub(/,/, ""); bad += $4 + $6 + $8 + $10 }
    END { cpu = ticks / hz; printf "%.0f %.1f %.1f %.2f %.0f %d\n", n / d, p50, p99,
          n ? cpu * 1e6 / n : 0, 100 * cpu / d, bad }' <<<"$out"
}
run_loadgen() {  # pid port mode [extra loadgen args...] (LOADGEN_SOURCES overrides $sources)
  local pid=$1 port=$2 mode=$3 args=() out
  shift 3
  case $mode in
    new) args+=(--requests-per-connection 1) ;;
    v2) args+=(--kind v2) ;;
    put) args+=(--kind put) ;;
  esac
  out=$(taskset -c "$client_cpu" "$loadgen" run --port "$port" -c "$connections" \
    -d "$duration" --warmup "$warmup" --sources "${LOADGEN_SOURCES:-$sources}" \
    --server-pid "$pid" --quiet "${args[@]}" "$@")
  echo "$out" >>"$work/loadgen.log"
  local unexpected
  unexpected=$(field unexpected <<<"$out")
  if [ "$(field requests <<<"$out")" = 0 ] || [ "$unexpected" != 0 ]; then
    echo "benchmark broken: $out" >&2
    exit 1
  fi
  awk -v d="$duration" '{ print }' <<<"$(field rps <<<"$out") $(field p50_us <<<"$out") \
$(field p99_us <<<"$out") $(field cpu_us_per_req <<<"$out") \
$(awk -v c="$(field server_cpu_s <<<"$out")" -v d="$duration" 'BEGIN { printf "%.0f", 100*c/d }') \
$(( $(field errors <<<"$out") ))"
}

# Median of each column over $runs repetitions.
repeat() {
  local i
  for i in $(seq 1 "$runs"); do "$@"; done >"$work/rep"
  local c out=""
  for c in 1 2 3 4 5 6; do out+="$(cut -d' ' -f$c "$work/rep" | median) "; done
  echo "$out"
}

declare -A result
modes=(keepalive new v2)
mode_name() {
  case $1 in keepalive) echo "keep-alive" ;; new) echo "new connection per request" ;;
             v2) echo "IMDSv2 (token verified)" ;; put) echo "token PUT" ;; esac
}
for mode in "${modes[@]}"; do
  result[cloudmeta,loadgen,$mode]=$(repeat run_loadgen "$cloudmeta_pid" "$cloudmeta_port" "$mode")
  if [ "$have_nginx" = 1 ]; then
    # nginx does not verify tokens. In its v2 rows it gets the same bytes (a token-sized header,
    # which it ignores), so both clients and both servers do the same I/O; what cloudmeta spends
    # over it is the verification. (Its plain GET is the keep-alive row.)
    result[cloudmeta,wrk,$mode]=$(repeat run_wrk "$cloudmeta_pid" "$cloudmeta_port" "$mode")
    result[nginx,wrk,$mode]=$(repeat run_wrk "$nginx_pid" "$nginx_port" "$mode")
    result[nginx,loadgen,$mode]=$(repeat run_loadgen "$nginx_pid" "$nginx_port" "$mode")
  fi
done

table() {
  echo "| mode | client | server | req/s | p50 µs | p99 µs | server CPU µs/req | server busy | CPU vs nginx | req/s vs nginx |"
  echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
  local mode client server r n
  for mode in "${modes[@]}"; do
    for client in wrk loadgen; do
      for server in nginx cloudmeta; do
        r=${result[$server,$client,$mode]:-}
        [ -n "$r" ] || continue
        n=${result[nginx,$client,$mode]:-}
        awk -v m="$(mode_name "$mode")" -v c="$client" -v s="$server" -v r="$r" -v n="$n" 'BEGIN {
          split(r, a, " "); split(n, b, " ")
          cpu = (s != "nginx" && b[4] > 0) ? sprintf("%.2fx", a[4] / b[4]) : ""
          rps = (s != "nginx" && b[1] > 0) ? sprintf("%.2fx", a[1] / b[1]) : ""
          err = a[6] > 0 ? sprintf(" (%d errors)", a[6]) : ""
          printf "| %s | %s | %s | %d%s | %.0f | %.0f | %.2f | %d %% | %s | %s |\n",
                 m, c, s, a[1], err, a[2], a[3], a[4], a[5], cpu, rps }'
      done
    done
  done
}

machine() {
  echo "- Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))," \
    "load average before the run: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg)"
}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

if ! hot=$("$hotpath"); then
  echo "$hot"
  echo "benchmark broken: the hot path allocates per request" >&2
  exit 1
fi
if [ "$quick" = 1 ]; then
  echo
  echo "## bench/run.sh --quick ($duration s per run, $fleet instances; timings are indicative only)"
  echo
  table
  echo
  echo "$hot"
  echo
  machine
  exit 0
fi

# ---- the rest of the targets (full run only) ---------------------------------------------------
col() { cut -d' ' -f"$1" <<<"$2"; }
get_rps=$(col 1 "${result[cloudmeta,loadgen,keepalive]}")

# Token PUTs: each signs a new token (HMAC-SHA256) and allocates its 66 bytes.
put=$(repeat run_loadgen "$cloudmeta_pid" "$cloudmeta_port" put)

# Paced load at half of the closed-loop maximum: open loop, latency counted from when each
# request was due.
half=$(( ${get_rps%.*} / 2 ))
paced_cloudmeta=$(repeat run_loadgen "$cloudmeta_pid" "$cloudmeta_port" keepalive --rate "$half")
paced_nginx=""
if [ "$have_nginx" = 1 ]; then
  paced_nginx=$(repeat run_loadgen "$nginx_pid" "$nginx_port" keepalive --rate "$half")
fi

# 10,000 idle keep-alive connections held open while the 50 active ones run.
idle_out=$(taskset -c "$client_cpu" "$loadgen" run --port "$cloudmeta_port" -c "$connections" \
  -d "$duration" --warmup "$warmup" --sources "$sources" --server-pid "$cloudmeta_pid" \
  --idle 10000 --quiet)
idle_paced=$(taskset -c "$client_cpu" "$loadgen" run --port "$cloudmeta_port" -c "$connections" \
  -d "$duration" --warmup "$warmup" --sources "$sources" --idle 10000 --rate "$half" --quiet)

# 50 clients doing nothing but token PUTs for 60 s: resident memory after warm-up and at the end.
soak_seconds=60
taskset -c "$client_cpu" "$loadgen" run --port "$cloudmeta_port" -c 50 --kind put \
  -d "$soak_seconds" --warmup 5 --sources "$sources" --quiet >"$work/soak" &
soak_pid=$!
pids+=("$soak_pid")
sleep 10
soak_rss_start=$(rss_kib "$cloudmeta_pid")
wait "$soak_pid"
soak_rss_end=$(rss_kib "$cloudmeta_pid")
soak_out=$(cat "$work/soak")
kill -0 "$cloudmeta_pid"  # still alive

# Admin writes at 100/s while a paced read load runs: the reads' p99, and each write visible to
# the very next metadata request. The writes come from loadgen's own thread (bench/admin_writes.hpp):
# a separate writer process would take its CPU from the client's core and show in the reads' tail.
admin_token=$(DATABASE_URL="sqlite://$work/fleet.db" LOG_LEVEL=warn "$cloudmeta" token create \
  --name bench | tail -1)
writes_paced=$(LOADGEN_ADMIN_TOKEN="$admin_token" taskset -c "$client_cpu" "$loadgen" run \
  --port "$cloudmeta_port" -c "$connections" -d "$duration" --warmup 0 --sources "$sources" \
  --rate "$half" --admin-writes 100 --admin-port "$admin_port" --quiet)
stop_cloudmeta

# Fleet size: 10 instances vs BIG_FLEET (1,000,000), CPU per request with connections from 10
# resp. 10,000 addresses (a new connection every 100 requests, so the per-address tables are
# exercised).
flat_run() {  # count sources
  start_fleet "$work/flat-$1.db" "$1"
  local startup=$startup_ms rss
  rss=$(rss_kib "$cloudmeta_pid")
  local r
  r=$(LOADGEN_SOURCES=$2 repeat run_loadgen "$cloudmeta_pid" "$cloudmeta_port" keepalive \
    --requests-per-connection 100)
  stop_cloudmeta
  echo "$startup $rss $r"
}
flat_small=$(flat_run 10 10)
seed_started=$(date +%s)
flat_big=$(flat_run "$big_fleet" 10000)
seed_seconds=$(( $(date +%s) - seed_started ))

# callgrind: instructions per request in-process (the harness, no sockets) and end to end (the
# real server; user space only: the kernel's share is what the CPU-per-request rows add).
callgrind_per_request() {  # kind: Ir per request from two loop lengths
  local n1=2000 n2=12000 a b
  a=$(valgrind --tool=callgrind --callgrind-out-file="$work/cg.a" "$hotpath" loop "$1" $n1 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
  b=$(valgrind --tool=callgrind --callgrind-out-file="$work/cg.b" "$hotpath" loop "$1" $n2 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
  echo $(( (b - a) / (n2 - n1) ))
}
cg_v1=$(callgrind_per_request v1)
cg_v2=$(callgrind_per_request v2)
cg_put=$(callgrind_per_request put)

# End to end: the server under callgrind, counters zeroed once it listens, 5 s of keep-alive GETs
# on 4 connections: user-space instructions and malloc calls per request.
callgrind_server() {  # mode: prints "instructions-per-request mallocs-per-request requests"
  local args=()
  [ "$1" = new ] && args+=(--requests-per-connection 1)
  [ "$1" = v2 ] && args+=(--kind v2)
  rm -f "$work"/cg.server*
  env DATABASE_URL="sqlite://$work/fleet.db" SECRET_KEY=bench-secret-key-0123456789abcdef \
    BIND=127.0.0.1 PORT="$cloudmeta_port" ADMIN_PORT="$admin_port" THREADS=1 LOG_LEVEL=warn \
    valgrind --tool=callgrind --callgrind-out-file="$work/cg.server" "$cloudmeta" serve \
    >"$work/cg.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  wait_for_port "$cloudmeta_port" "$pid"
  sleep 1
  callgrind_control -z "$pid" >/dev/null
  local out
  out=$("$loadgen" run --port "$cloudmeta_port" -c 4 -d 5 --warmup 0 --sources 4 --quiet \
    "${args[@]}")
  callgrind_control -d "$pid" >/dev/null
  kill "$pid"
  wait "$pid" || true
  local file requests total mallocs
  file=$(ls -t "$work"/cg.server.* | awk 'NR == 1')
  requests=$(field requests <<<"$out")
  total=$(callgrind_annotate "$file" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(/,/, ""); print $1 }')
  mallocs=$(python3 bench/callgrind_calls.py "$file" malloc | cut -d' ' -f2)
  # Self cost; the thread entry points that hold everything after the counters were zeroed
  # (clone, start_thread, ...) are dropped.
  callgrind_annotate --inclusive=no --threshold=100 "$file" 2>/dev/null |
    awk '/file:function/ { n++ } n == 1 && !/\((99|100)\.[0-9]+%\)/' |
    sed 's/ \[[^]]*\]$//' | cut -c1-160 | awk 'NR <= 32' >"$work/cg.top.$1"
  awk -v t="$total" -v m="$mallocs" -v n="$requests" \
    'BEGIN { printf "%d %.3f %d\n", t / n, m / n, n }'
}
cg_keepalive=$(callgrind_server keepalive)
cg_new=$(callgrind_server new)
cg_v2server=$(callgrind_server v2)
cp "$work/cg.top.keepalive" "$work/cg.top"

{
  echo "# Benchmark results"
  echo
  echo "Written by \`bench/run.sh\` ($(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD))."
  echo "Server pinned to core $server_cpu, client to core $client_cpu; $connections connections;"
  echo "medians of $runs runs of $duration s; fleet of $fleet instances; loadgen from $sources"
  echo "source addresses. docs/benchmarks.md explains the columns and the targets."
  echo
  machine
  echo
  echo "## cloudmeta vs nginx (\`return 200\`), CPU per request and throughput"
  echo
  table
  echo
  echo "## Other targets"
  echo
  echo "| what | measured |"
  echo "|---|---|"
  echo "| token PUTs (loadgen, keep-alive) | $(col 1 "$put") req/s = $(awk -v a="$(col 1 "$put")" -v b="$get_rps" 'BEGIN { printf "%.2f", a / b }')x GETs; $(col 4 "$put") µs CPU per PUT |"
  echo "| paced at $half req/s (half the maximum), p50 / p99 | cloudmeta $(col 2 "$paced_cloudmeta") / $(col 3 "$paced_cloudmeta") µs${paced_nginx:+; nginx $(col 2 "$paced_nginx") / $(col 3 "$paced_nginx") µs} |"
  echo "| 10,000 idle keep-alive connections + 50 active, closed loop | $(field rps <<<"$idle_out") req/s, p99 $(field p99_us <<<"$idle_out") µs, $(field idle_open <<<"$idle_out") of $(field idle_opened <<<"$idle_out") idle still open |"
  echo "| 10,000 idle + 50 active paced at $half req/s | p99 $(field p99_us <<<"$idle_paced") µs |"
  echo "| 50 clients doing token PUTs for $soak_seconds s | $(field rps <<<"$soak_out") PUT/s, $(field errors <<<"$soak_out") errors; RSS $soak_rss_start KiB after 10 s, $soak_rss_end KiB at the end; server alive |"
  echo "| paced reads at $half req/s during 100 admin writes/s | p99 $(field p99_us <<<"$writes_paced") µs; $(field writes <<<"$writes_paced") writes, $(field write_errors <<<"$writes_paced") errors, $(field stale_reads <<<"$writes_paced") reads after a write that did not see it |"
  echo "| 10 instances (10 addresses) | start-up $(col 1 "$flat_small") ms, RSS $(col 2 "$flat_small") KiB, $(col 6 "$flat_small") µs CPU per request, $(col 3 "$flat_small") req/s |"
  echo "| $big_fleet instances (10,000 addresses) | start-up $(col 1 "$flat_big") ms, RSS $(col 2 "$flat_big") KiB, $(col 6 "$flat_big") µs CPU per request, $(col 3 "$flat_big") req/s; seeding + run took $seed_seconds s |"
  echo "| CPU per request, $big_fleet vs 10 | $(awk -v a="$(col 6 "$flat_big")" -v b="$(col 6 "$flat_small")" 'BEGIN { printf "%+.1f %%", 100 * (a / b - 1) }') |"
  echo "| resident memory per 100,000 instances | $(awk -v a="$(col 2 "$flat_big")" -v b="$(col 2 "$flat_small")" -v n="$big_fleet" 'BEGIN { printf "%.0f MiB", (a - b) / (n / 100000) / 1024 }') |"
  echo "| callgrind, in-process (parse + respond + head), instructions per request | GET $cg_v1, IMDSv2 GET $cg_v2, token PUT $cg_put |"
  echo "| callgrind, whole server (user space), per keep-alive GET | $(col 1 "$cg_keepalive") instructions, $(col 2 "$cg_keepalive") malloc calls ($(col 3 "$cg_keepalive") requests) |"
  echo "| callgrind, whole server (user space), per new-connection GET | $(col 1 "$cg_new") instructions, $(col 2 "$cg_new") malloc calls ($(col 3 "$cg_new") requests) |"
  echo "| callgrind, whole server (user space), per IMDSv2 GET | $(col 1 "$cg_v2server") instructions, $(col 2 "$cg_v2server") malloc calls ($(col 3 "$cg_v2server") requests) |"
  echo
  echo "## Heap allocations"
  echo
  echo '```'
  echo "$hot"
  echo '```'
  echo
  echo "## Where the server's user-space instructions go (callgrind, keep-alive GETs, self cost)"
  echo
  echo '```'
  cat "$work/cg.top"
  echo '```'
} >bench/results.md
cat bench/results.md
