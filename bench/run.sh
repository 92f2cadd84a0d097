#!/usr/bin/env bash
# make bench: onestop side by side with nginx and HAProxy (issue 9).
# Starts a fixed fast backend (nginx, 1 KiB), the simulated fleet (for gRPC),
# onestop, nginx and HAProxy with equivalent configurations (bench/gen.py),
# then runs every scenario against direct / onestop / nginx / haproxy one
# after another, alternating the targets over BENCH_ROUNDS rounds (medians
# reported). Prints the table and writes bench/results/<time>.json.
#
# Knobs: BENCH_DURATION (s per run, 4), BENCH_ROUNDS (3), BENCH_CONNS (64),
# BENCH_THREADS (2, load generator), BENCH_IDLE (10000), BENCH_ROUTES (10000),
# BENCH_MICRO (1: criterion route match), BENCH_WORK (/tmp/onestop-bench),
# BENCH_PROFILE (1: perf record onestop, then bare pingora, during a
# passthrough run each, and the secured onestop during a secured run:
# bench/results/profile-<time>-{onestop,pingora,secured}.txt),
# BENCH_PRELOAD (a library preloaded into onestop and bare pingora alike,
# e.g. /usr/lib/x86_64-linux-gnu/libjemalloc.so.2: allocator A/B without a
# rebuild), BENCH_NOSTEAL (1: `[proxy] work_stealing = false` and the
# bare proxy's NoSteal runtime), BENCH_ONLY (passthrough: only the
# passthrough rounds — onestop, secured onestop, nginx, HAProxy, bare
# pingora — and the idle connections; for per-change A/B runs).
set -euo pipefail
export OPENSSL_NO_VENDOR=1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
BIN=$ROOT/target/release/onestop
# pingora's ProxyHttp with only an upstream and a log line: the framework's
# floor on the passthrough (crates/onestop-proxy/examples/bare_pingora.rs).
BARE_BIN=$ROOT/target/release/examples/bare_pingora
WORK=${BENCH_WORK:-/tmp/onestop-bench}
DUR=${BENCH_DURATION:-4}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNS:-64}
THREADS=${BENCH_THREADS:-2}
IDLE=${BENCH_IDLE:-10000}
ROUTES=${BENCH_ROUTES:-10000}
MICRO=${BENCH_MICRO:-1}
PROFILE=${BENCH_PROFILE:-0}
PRELOAD=${BENCH_PRELOAD:-}
NOSTEAL=${BENCH_NOSTEAL:-0}
ONLY=${BENCH_ONLY:-}
STEAL=steal; [ "$NOSTEAL" = 1 ] && STEAL=nosteal
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RAW=$WORK/raw.jsonl
T0=$(date +%s)

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" -lt $((IDLE + 1000)) ]; then
  echo "bench: ulimit -n is $(ulimit -n); the idle scenario needs $((IDLE + 1000)); lowering BENCH_IDLE" >&2
  IDLE=$(( $(ulimit -n) - 1000 ))
fi

log() { printf '[bench %4ss] %s\n' $(( $(date +%s) - T0 )) "$*" >&2; }

# ------------------------------------------------------------ processes we start
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
stop() { kill "$1" 2>/dev/null || true; for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; kill -9 "$1" 2>/dev/null || true; }

wait_port() { # port
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "bench: nothing listens on $1" >&2; return 1
}

# The process and its children (nginx workers).
tree() { echo "$1"; pgrep -P "$1" 2>/dev/null || true; }
cpu_ticks() { # pids… → utime+stime in clock ticks, summed
  local t=0 p f
  for p in "$@"; do
    f=$(cut -d')' -f2 "/proc/$p/stat" 2>/dev/null) || continue
    set -- $f
    t=$(( t + ${12} + ${13} ))
  done
  echo "$t"
}
rss_kb() { # pids… → VmRSS summed (kB)
  local t=0 p v
  for p in "$@"; do
    v=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    t=$(( t + ${v:-0} ))
  done
  echo "$t"
}
HZ=$(getconf CLK_TCK)

# ------------------------------------------------------------ set-up
rm -rf "$WORK"; mkdir -p "$WORK/sim" "$WORK/logs" "$WORK/backend/tmp" "$BENCH/results"
: > "$RAW"

log "starting the fleet (onestop sim) for the gRPC department"
"$BIN" sim --departments 32 --citizens 100 --manifest-out "$WORK/sim/manifest.json" \
  > "$WORK/logs/sim.log" 2>&1 &
SIM=$!; PIDS+=("$SIM")
for _ in $(seq 200); do [ -s "$WORK/sim/manifest.json" ] && break; sleep 0.05; done
GRPC=$(python3 -c "import json,sys; m=json.load(open('$WORK/sim/manifest.json')); print([d for d in m['departments'] if d['id']=='traffic'][0]['instances'][0]['addr'])")
BENCH_NOSTEAL=$NOSTEAL python3 "$BENCH/gen.py" "$WORK" "$GRPC" "$ROUTES"
openssl genpkey -algorithm ed25519 -out "$WORK/onestop/secure/keys/dev-ed25519.pem" 2>/dev/null
"$BIN" validate "$WORK/onestop/base" >/dev/null
"$BIN" validate "$WORK/onestop/routes" >/dev/null
"$BIN" validate "$WORK/onestop/secure" >/dev/null
# The secured scenario's request: its path, a token of the path's citizen
# bound to the channel, the channel's app key (bench/gen.py).
SECURE_PATH=$(sed -n 1p "$WORK/load/secure.txt")
SECURE_TOKEN=$("$BIN" --log-format text token citizen "$(sed -n 2p "$WORK/load/secure.txt")" \
  --channel bench-app --ttl 2h --config "$WORK/onestop/secure" 2>/dev/null | tail -1)
SECURE_HDRS=(-H "authorization: Bearer $SECURE_TOKEN" -H "x-onestop-app-key: $(sed -n 3p "$WORK/load/secure.txt")")
nginx -t -q -c "$WORK/nginx/base.conf" -g 'daemon off;'
nginx -t -q -c "$WORK/nginx/routes.conf" -g 'daemon off;'
haproxy -c -q -f "$WORK/haproxy/base.cfg"
haproxy -c -q -f "$WORK/haproxy/routes.cfg"

log "starting the fixed backend (nginx, 1 KiB answers) on 18081"
nginx -c "$WORK/backend/nginx.conf" -g 'daemon off;' 2>>"$WORK/logs/backend.log" &
BACKEND=$!; PIDS+=("$BACKEND"); wait_port 18081

start_proxies() { # base | routes
  local conf=$1
  mkdir -p "$WORK/data-$conf"
  LD_PRELOAD=$PRELOAD "$BIN" serve --config "$WORK/onestop/$conf" --data-dir "$WORK/data-$conf" \
    2> "$WORK/logs/onestop-$conf.log" > /dev/null &
  ONESTOP=$!; PIDS+=("$ONESTOP")
  SECURE=
  if [ "$conf" = base ]; then
    mkdir -p "$WORK/data-secure"
    LD_PRELOAD=$PRELOAD "$BIN" serve --config "$WORK/onestop/secure" --data-dir "$WORK/data-secure" \
      2> "$WORK/logs/onestop-secure.log" > /dev/null &
    SECURE=$!; PIDS+=("$SECURE")
  fi
  nginx -c "$WORK/nginx/$conf.conf" -g 'daemon off;' 2>>"$WORK/logs/nginx-$conf.err" &
  NGINX=$!; PIDS+=("$NGINX")
  haproxy -f "$WORK/haproxy/$conf.cfg" > "$WORK/logs/haproxy-$conf.log" 2>&1 &
  HAPROXY=$!; PIDS+=("$HAPROXY")
  BARE=
  if [ "$conf" = base ] && [ -x "$BARE_BIN" ]; then
    LD_PRELOAD=$PRELOAD "$BARE_BIN" 127.0.0.1:18086 127.0.0.1:18081 1 4096 "$STEAL" 2> "$WORK/logs/pingora-$conf.log" > /dev/null &
    BARE=$!; PIDS+=("$BARE"); wait_port 18086
  fi
  wait_port 18080; wait_port 18082; wait_port 18084; wait_port 18085
  # onestop answers 503 until its first health round; wait for a 200.
  for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:18080/api/v1/depts/bench/echo)" = 200 ] && break
    sleep 0.1
  done
  if [ -n "$SECURE" ]; then
    wait_port 18087
    for _ in $(seq 100); do
      [ "$(curl -s -o /dev/null -w '%{http_code}' "${SECURE_HDRS[@]}" "http://127.0.0.1:18087$SECURE_PATH")" = 200 ] && break
      sleep 0.1
    done
  fi
}
# pingora's SIGTERM waits out a graceful period; the bare proxy is stopped with SIGINT.
stop_proxies() { stop "$ONESTOP"; [ -z "$SECURE" ] || stop "$SECURE"; stop "$NGINX"; stop "$HAPROXY"; [ -z "$BARE" ] || { kill -INT "$BARE" 2>/dev/null; stop "$BARE"; }; }

pids_of() { # target [grpc] → the processes whose CPU and memory count
  case $1 in
    direct) if [ "${2:-}" = grpc ]; then echo "$SIM"; else tree "$BACKEND"; fi ;;
    onestop) echo "$ONESTOP" ;;
    nginx) tree "$NGINX" ;;
    haproxy) echo "$HAPROXY" ;;
    pingora) echo "$BARE" ;;
    secure) echo "$SECURE" ;;
  esac
}
http_port() { case $1 in direct) echo 18081;; onestop) echo 18080;; nginx) echo 18082;; haproxy) echo 18084;; pingora) echo 18086;; secure) echo 18087;; esac; }
grpc_addr() { case $1 in direct) echo "$GRPC";; onestop) echo 127.0.0.1:18080;; nginx) echo 127.0.0.1:18083;; haproxy) echo 127.0.0.1:18085;; esac; }

record() { # scenario target round json-from-tool extra-json
  python3 - "$1" "$2" "$3" "$4" "${5:-{\}}" >> "$RAW" <<'PY'
import json, sys
d = json.loads(sys.argv[4]); d.update(json.loads(sys.argv[5]))
d.update({"scenario": sys.argv[1], "target": sys.argv[2], "round": int(sys.argv[3])})
print(json.dumps(d))
PY
}

run_wrk() { # scenario target round url [lua args…]
  local sc=$1 t=$2 r=$3 url=$4; shift 4
  local script=$BENCH/report.lua; [ "$sc" = routes ] && script=$BENCH/routes.lua
  local pids c0 c1 out=$WORK/logs/wrk-$sc-$t-$r.txt hdrs=()
  # The secured onestop: its own scenario row, with the citizen's token
  # and the channel's app key on every request.
  local rsc=$sc rt=$t
  if [ "$t" = secure ]; then hdrs=("${SECURE_HDRS[@]}"); rsc=secured; rt=onestop; fi
  pids=$(pids_of "$t")
  [ "$r" = 1 ] && wrk -t"$THREADS" -c"$CONNS" -d1s "${hdrs[@]}" -s "$script" "$url" -- "$@" > /dev/null 2>&1 || true
  c0=$(cpu_ticks $pids)
  wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" "${hdrs[@]}" -s "$script" "$url" -- "$@" > "$out" 2>&1 || true
  c1=$(cpu_ticks $pids)
  local j; j=$(python3 "$BENCH/tool.py" wrk "$out")
  local n; n=$(python3 -c "import json,sys; print(json.loads(sys.argv[1]).get('requests',0))" "$j")
  record "$rsc" "$rt" "$r" "$j" "{\"cpu_us_per_req\": $(python3 -c "print(($c1-$c0)*1e6/$HZ/max($n,1))")}"
  log "$rsc $t round $r: $(python3 -c "import json,sys; d=json.loads(sys.argv[1]); print('%.0f req/s p50 %.2f ms p99 %.2f ms errors %s' % (d.get('rps',0), d.get('p50_ms',0), d.get('p99_ms',0), d.get('errors')))" "$j")"
}

run_h2load() { # target round
  local t=$1 r=$2 out=$WORK/logs/h2load-$t-$r.txt lg=$WORK/logs/h2load-$t-$r.log pids c0 c1
  pids=$(pids_of "$t" grpc)
  local args=(-t "$THREADS" -c "$((CONNS / 2))" -m 2 -d "$WORK/load/grpc-licence.bin"
    -H 'content-type: application/grpc' -H 'te: trailers')
  local url="http://$(grpc_addr "$t")/onestop.sim.traffic.v1.TrafficPolice/GetLicence"
  [ "$r" = 1 ] && h2load "${args[@]}" -D 1 "$url" > /dev/null 2>&1 || true
  c0=$(cpu_ticks $pids)
  h2load "${args[@]}" -D "$DUR" --log-file "$lg" "$url" > "$out" 2>&1 || true
  c1=$(cpu_ticks $pids)
  local j; j=$(python3 "$BENCH/tool.py" h2load "$out" "$lg")
  local n; n=$(python3 -c "import json,sys; print(json.loads(sys.argv[1]).get('requests',0))" "$j")
  record grpc "$t" "$r" "$j" "{\"cpu_us_per_req\": $(python3 -c "print(($c1-$c0)*1e6/$HZ/max($n,1))"), \"verified\": $GRPC_OK}"
  log "grpc $t round $r: $(python3 -c "import json,sys; d=json.loads(sys.argv[1]); print('%.0f req/s p50 %.2f ms p99 %.2f ms errors %s data/req %s' % (d.get('rps',0), d.get('p50_ms',0), d.get('p99_ms',0), d.get('errors'), d.get('data_bytes_per_req')))" "$j")"
}

# ------------------------------------------------------------ machine facts
FACTS=$WORK/facts.json
python3 - "$FACTS" <<PY
import json, os, platform, subprocess, sys
def sh(c):
    try: return subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip() or subprocess.run(c, shell=True, capture_output=True, text=True).stderr.strip()
    except Exception: return None
cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
json.dump({"date": "$STAMP", "cores": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
  "mem_gib": round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30, 1),
  "load_start": open('/proc/loadavg').read().split()[0],
  "git": sh("cd $ROOT && git rev-parse --short HEAD") + (" (dirty)" if sh("cd $ROOT && git status --porcelain") else ""),
  "versions": {"nginx": sh("nginx -v 2>&1").split('/')[-1], "haproxy": sh("haproxy -v").split()[2],
               "wrk": sh("wrk -v 2>&1 | head -1").split()[1], "h2load": sh("h2load --version").split('/')[-1]},
  "load_desc": "$THREADS threads, $CONNS connections (gRPC: $((CONNS / 2)) connections x 2 streams), ${DUR}s per run, $ROUNDS rounds alternating targets, medians",
  "workers": "1 each: onestop proxy.threads = 1, nginx worker_processes 1, HAProxy nbthread 1; backend nginx 1 worker",
  "allocator": "${PRELOAD:-glibc malloc (or what the binary links)}",
  "runtime": "$([ "$NOSTEAL" = 1 ] && echo "NoSteal (work_stealing = false)" || echo "work stealing (default)")",
  "logging": "one access-log line per request to a file for onestop (JSON on stderr), nginx (JSON access_log), HAProxy (log stdout); the backend logs nothing"},
  open(sys.argv[1], "w"))
PY

# ------------------------------------------------------------ base scenarios
log "starting onestop, nginx and HAProxy (base configuration)"
start_proxies base

# Sanity checks: each target answers 200 with the 1 KiB body; cache hits are hits.
for t in direct onestop nginx haproxy; do
  p=$(http_port "$t")
  size=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$p/api/v1/depts/bench/echo")
  [ "$size" = "200 1024" ] || { echo "bench: $t passthrough answered '$size'" >&2; exit 1; }
  curl -s -o /dev/null "http://127.0.0.1:$p/api/v1/depts/bench/cached"
done
CACHE_OK=true
curl -sI "http://127.0.0.1:18080/api/v1/depts/bench/cached" -X GET | grep -qi 'x-onestop-cache: HIT' || { CACHE_OK=false; log "onestop: no cache HIT header"; }
curl -sI "http://127.0.0.1:18082/api/v1/depts/bench/cached" -X GET | grep -qi 'x-cache: HIT' || { CACHE_OK=false; log "nginx: no cache HIT"; }
# HAProxy's cache says nothing in the answer: a hit has an Age header.
curl -sI "http://127.0.0.1:18084/api/v1/depts/bench/cached" -X GET | grep -qi '^age:' || { CACHE_OK=false; log "haproxy: no Age header (not a cache hit?)"; }
# gRPC: the direct answer's size is the reference (an error is trailers-only: no data).
GRPC_OK=true

profile() { # name pid port [path [wrk args…]]: perf record the process during one passthrough run
  local name=$1 pid=$2 port=$3 path=${4:-/api/v1/depts/bench/echo} out=$BENCH/results/profile-$STAMP-$1.txt
  shift 3; [ $# -gt 0 ] && shift
  log "profiling $name during a passthrough run (perf record -e cpu-clock)"
  # cpu-clock: this container has no hardware counters. Flat (self) profile.
  perf record -e cpu-clock -F 999 -p "$pid" -o "$WORK/perf-$name.data" -- sleep "$DUR" > /dev/null 2>&1 &
  local perf=$!
  sleep 0.3
  wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" "$@" "http://127.0.0.1:$port$path" > /dev/null 2>&1 || true
  wait "$perf" || true
  perf report -i "$WORK/perf-$name.data" --no-children --sort symbol --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' > "$WORK/perf-symbols-$name.txt" || true
  { echo "perf record -e cpu-clock -F 999 -p $name during wrk -t$THREADS -c$CONNS passthrough, ${DUR}s"
    echo "$(grep -c . "$WORK/perf-symbols-$name.txt") symbols; self time by shared object:"
    perf report -i "$WORK/perf-$name.data" --no-children --sort dso --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -10
    echo; echo "self time by group (bench/tool.py profile):"
    python3 "$BENCH/tool.py" profile "$WORK/perf-symbols-$name.txt"
    echo; echo "top symbols:"
    head -80 "$WORK/perf-symbols-$name.txt"
  } > "$out" || true
  log "profile: ${out#$ROOT/}"
}
if [ "$PROFILE" = 1 ] && command -v perf >/dev/null; then
  profile onestop "$ONESTOP" 18080
  [ -z "$BARE" ] || profile pingora "$BARE" 18086
  profile secured "$SECURE" 18087 "$SECURE_PATH" "${SECURE_HDRS[@]}"
fi

PASS_TARGETS="direct onestop nginx haproxy"
if [ -n "$BARE" ]; then
  PASS_TARGETS="$PASS_TARGETS pingora"
  size=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:18086/api/v1/depts/bench/echo")
  [ "$size" = "200 1024" ] || { echo "bench: bare pingora answered '$size'" >&2; exit 1; }
else
  log "no $BARE_BIN: the passthrough runs without the bare pingora floor"
fi
size=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "${SECURE_HDRS[@]}" "http://127.0.0.1:18087$SECURE_PATH")
[ "$size" = "200 1024" ] || { echo "bench: the secured onestop answered '$size' (logs/onestop-secure.log)" >&2; exit 1; }
for r in $(seq "$ROUNDS"); do
  for t in $PASS_TARGETS secure; do
    if [ "$t" = secure ]; then
      run_wrk passthrough secure "$r" "http://127.0.0.1:18087$SECURE_PATH"
    else
      run_wrk passthrough "$t" "$r" "http://127.0.0.1:$(http_port "$t")/api/v1/depts/bench/echo"
    fi
  done
  [ "$ONLY" = passthrough ] && continue
  for t in direct onestop nginx haproxy; do
    run_wrk cache "$t" "$r" "http://127.0.0.1:$(http_port "$t")/api/v1/depts/bench/cached"
    [ "$t" = direct ] || sed -i '$ s/}$/, "verified": '"$CACHE_OK"'}/' "$RAW"
  done
  for t in direct onestop nginx haproxy; do
    run_h2load "$t" "$r"
  done
done

# ------------------------------------------------------------ idle connections
for t in $PASS_TARGETS; do
  pids=$(pids_of "$t")
  before=$(rss_kb $pids)
  n=$IDLE; [ "$t" = haproxy ] && [ "$n" -gt 9900 ] && n=9900   # its maxconn (see gen.py)
  fifo=$WORK/idle-$t.fifo; rm -f "$fifo"; mkfifo "$fifo"
  python3 "$BENCH/idle.py" 127.0.0.1 "$(http_port "$t")" /api/v1/depts/bench/echo "$n" < "$fifo" > "$WORK/logs/idle-$t.txt" 2>&1 &
  IDLEPID=$!; PIDS+=("$IDLEPID")
  exec 7>"$fifo"
  for _ in $(seq 600); do grep -q READY "$WORK/logs/idle-$t.txt" && break; sleep 0.1; done
  sleep 1
  pids=$(pids_of "$t")
  after=$(rss_kb $pids)
  read -r _ open failed < <(grep READY "$WORK/logs/idle-$t.txt" || echo "READY 0 $n")
  record idle "$t" 1 "{\"rss_mb\": $(python3 -c "print($after/1024)"), \"rss_before_mb\": $(python3 -c "print($before/1024)"), \"open\": $open, \"failed\": $failed, \"processes\": $(echo $pids | wc -w)}"
  log "idle $t: $open open, $failed failed, RSS $((before / 1024)) MB -> $((after / 1024)) MB"
  exec 7>&-
  wait "$IDLEPID" 2>/dev/null || true
  rm -f "$fifo"
  sleep 1
done

stop_proxies

if [ "$ONLY" = passthrough ]; then MICRO=0; fi
# ------------------------------------------------------------ route table
if [ "$ONLY" != passthrough ]; then
log "restarting the proxies with $ROUTES routes"
start_proxies routes
for t in onestop nginx haproxy; do
  p=$(http_port "$t")
  s=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p$(sed -n 1p "$WORK/load/paths.txt")")
  [ "$s" = 200 ] || { echo "bench: $t answered $s on a generated route" >&2; exit 1; }
done
for r in $(seq "$ROUNDS"); do
  for t in direct onestop nginx haproxy; do
    run_wrk routes "$t" "$r" "http://127.0.0.1:$(http_port "$t")/" "$WORK/load/paths.txt"
  done
done
stop_proxies

# ------------------------------------------------------------ citizen overview
# onestop alone: GET /api/v1/me/overview over 30 departments answering after
# 1..15 ms (the backend's echo_sleep), 8 connections; against the slowest
# department's own latency measured directly with the same load.
OVC=$WORK/onestop/overview
overview_na() {
  record overview onestop 1 "$(python3 -c 'import json,sys; print(json.dumps({"note": "not available: " + sys.argv[1]}))' "$1")"
  log "overview: not available: $1"
}
if ! grep -rqn "me/overview" "$ROOT/crates/onestop-proxy/src" 2>/dev/null; then
  overview_na "GET /api/v1/me/overview is not built yet"
elif [ ! -f "$OVC/onestop.toml" ]; then
  overview_na "the backend has no echo module (libnginx-mod-http-echo) for slow departments"
else
  mkdir -p "$OVC/keys"
  openssl genpkey -algorithm ed25519 -out "$OVC/keys/dev-ed25519.pem" 2>/dev/null
  if ! "$BIN" validate "$OVC" > "$WORK/logs/overview-validate.txt" 2>&1; then
    overview_na "this onestop build refuses the overview configuration: $(head -c 200 "$WORK/logs/overview-validate.txt" | tr '\n' ' ')"
  else
    mkdir -p "$WORK/data-overview"
    "$BIN" serve --config "$OVC" --data-dir "$WORK/data-overview" 2> "$WORK/logs/onestop-overview.log" > /dev/null &
    ONESTOP=$!; PIDS+=("$ONESTOP"); wait_port 18080
    TOKEN=$("$BIN" --log-format text token citizen 510107199812256839 --config "$OVC" 2>/dev/null | tail -1)
    code=000
    for _ in $(seq 50); do
      code=$(curl -s -o "$WORK/logs/overview-sample.json" -w '%{http_code}' -H "authorization: Bearer $TOKEN" http://127.0.0.1:18080/api/v1/me/overview)
      [ "$code" = 200 ] && grep -q '"ov29"' "$WORK/logs/overview-sample.json" && break
      sleep 0.2
    done
    if [ "$code" != 200 ]; then
      overview_na "the overview answered $code (see logs/overview-sample.json)"
    else
      # Latency: one connection (a citizen opening the app); then 8 at once.
      ovrun() { # connections url-target [header]
        local c=$1 t=$2; shift 2
        wrk -t1 -c"$c" -d"${DUR}s" -s "$BENCH/report.lua" "$@" > "$WORK/logs/wrk-overview-$t.txt" 2>&1 || true
        python3 "$BENCH/tool.py" wrk "$WORK/logs/wrk-overview-$t.txt"
      }
      SLOW=$(ovrun 1 direct "http://127.0.0.1:18081$(cat "$WORK/load/overview-slowest.txt")")
      record overview direct 1 "$SLOW" '{"what": "the slowest department alone, directly", "connections": 1}'
      SLOWMS=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['p50_ms'])" "$SLOW")
      items=$(python3 -c "import sys; print(open(sys.argv[1]).read().count('\"ok\"'))" "$WORK/logs/overview-sample.json" 2>/dev/null || echo 0)
      for c in 1 8; do
        t=onestop; [ "$c" = 8 ] && t=onestop-8
        c0=$(cpu_ticks "$ONESTOP")
        j=$(ovrun "$c" "$t" -H "authorization: Bearer $TOKEN" http://127.0.0.1:18080/api/v1/me/overview)
        c1=$(cpu_ticks "$ONESTOP")
        n=$(python3 -c "import json,sys; print(json.loads(sys.argv[1]).get('requests',0))" "$j")
        record overview "$t" 1 "$j" "{\"cpu_us_per_req\": $(python3 -c "print(($c1-$c0)*1e6/$HZ/max($n,1))"), \"slowest_dept_ms\": $SLOWMS, \"items_ok_in_sample\": $items, \"connections\": $c}"
        log "overview, $c connection(s): $(python3 -c "import json,sys; d=json.loads(sys.argv[1]); print('%.0f req/s p50 %.2f ms p99 %.2f ms; slowest department alone p50 %s ms' % (d.get('rps',0), d.get('p50_ms',0), d.get('p99_ms',0), sys.argv[2]))" "$j" "$SLOWMS")"
      done
    fi
    stop "$ONESTOP"
  fi
fi
fi # BENCH_ONLY

# ------------------------------------------------------------ criterion route match
if [ "$MICRO" = 1 ]; then
  log "criterion: route match at 100 and 10,000 routes (short run)"
  # Bounded: another cargo holding the build lock must not stall the run.
  (cd "$ROOT" && timeout 300 cargo bench -q -p onestop-proxy --bench route_match -- --warm-up-time 1 --measurement-time 3 'route_match/(100|10000)$' ) \
    > "$WORK/logs/criterion.txt" 2>&1 || true
  NS=$(python3 - "$WORK/logs/criterion.txt" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ns(n):
    m = re.search(r"route_match/%d\s+time:\s+\[\S+ \S+ (\S+) (\S+) " % n, t)
    if m:
        return float(m.group(1)) * {"ps": 1e-3, "ns": 1, "µs": 1e3, "us": 1e3, "ms": 1e6}[m.group(2)]
small, big = ns(100), ns(10000)
if small and big:
    print(big, small)
PY
)
  if [ -n "$NS" ]; then
    set -- $NS
    python3 -c "import json,sys; f=sys.argv[1]; d=json.load(open(f)); d['route_match_10k_ns']=float(sys.argv[2]); d['route_match_100_ns']=float(sys.argv[3]); json.dump(d, open(f,'w'))" "$FACTS" "$1" "$2"
    log "route match: median $1 ns at 10,000 routes, $2 ns at 100"
  else
    log "criterion did not report (see $WORK/logs/criterion.txt)"
  fi
fi

python3 -c "import json,sys; f=sys.argv[1]; d=json.load(open(f)); d['load_end']=open('/proc/loadavg').read().split()[0]; d['seconds']=int(sys.argv[2]); json.dump(d, open(f,'w'))" "$FACTS" "$(( $(date +%s) - T0 ))"
OUT=$BENCH/results/$STAMP.json
python3 "$BENCH/tool.py" report "$RAW" "$FACTS" "$OUT"
cp "$OUT" "$BENCH/results/latest.json"
log "results: bench/results/$STAMP.json (and latest.json); logs in $WORK/logs"
