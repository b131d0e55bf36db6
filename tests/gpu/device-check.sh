#!/usr/bin/env bash
# The gpu fault on a real GPU, in one go (under 5 minutes on an H200). From the repo root:
#
#   tests/gpu/device-check.sh            build (or use gpu-bundle/), run every check, print a table
#   tests/gpu/device-check.sh --bundle   on a build machine: build and pack gpu-bundle/ (the tool,
#                                        the fatbin test, their libraries) for a GPU machine that
#                                        lacks the build dependencies
#
# Each check runs the fault's real path (plan, worker process, VMM fill, kernels, NVML, revert)
# through build/bin/chaos-gpu-run and compares what was achieved with what was asked:
#   memory: NVML's memory-used delta within 1% of the bytes requested, and back after revert;
#   SMs:    exactly K distinct %smid values reported by the kernels;
#   duty:   the kernels' on-time / period on %globaltimer within 5% of the request;
#   crash:  SIGKILL the parent mid-fault: the worker dies with it and NVML shows the memory free;
#   hang:   SIGSTOP the parent: the worker's lease lapses and it gives the GPU back by itself.
# Then bench/gpu-fill.sh: time to occupy 90% of HBM and release it, VMM vs 256 MiB cuMemAlloc.
# Env: DEVICE (CUDA ordinal, default 0), BUILD_DIR (default build-gpu-check), RESULTS (a dir to
# keep logs and results.json in; default $BUILD_DIR/device-check), SKIP_BENCH=1.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DEV=${DEVICE:-0}
BUILD=${BUILD_DIR:-$ROOT/build-gpu-check}
BUNDLE=$ROOT/gpu-bundle
T_START=$(date +%s)

say() { echo "device-check: $*" >&2; }

build() {
  if [ -x scripts/install-deps.sh ] || [ -f scripts/install-deps.sh ]; then
    bash scripts/install-deps.sh >&2 || say "install-deps failed (offline?): building with what is installed"
  fi
  mkdir -p "$BUILD"
  cmake -S . -B "$BUILD" -G Ninja -DCHAOS_WITH_CUDA=ON >"$BUILD/device-check-cmake.log" 2>&1 || {
    tail -30 "$BUILD/device-check-cmake.log" >&2
    return 1
  }
  ninja -C "$BUILD" -j"$(nproc)" chaos-gpu-run unit_test_gpu_fatbin >&2
}

if [ "${1:-}" = "--bundle" ]; then
  build || exit 1
  rm -rf "$BUNDLE" && mkdir -p "$BUNDLE/bin" "$BUNDLE/lib"
  cp "$BUILD/bin/chaos-gpu-run" "$BUILD/bin/unit_test_gpu_fatbin" "$BUNDLE/bin/"
  strip --strip-debug "$BUNDLE"/bin/*  # the carry limit is 64 MiB
  cp "$BUILD/agent/faults/gpu/chaos_gpu_kernels.fatbin" "$BUNDLE/"
  # Everything they link but the C library and the C++ runtime (the GPU image's are newer).
  for b in "$BUNDLE"/bin/*; do
    ldd "$b" | awk '/=> \//{print $3}'
  done | sort -u | grep -Ev '/(libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|ld-linux[^/]*)\.so' |
    xargs -r cp -L -t "$BUNDLE/lib/"
  say "packed $(du -sh "$BUNDLE" | cut -f1) into $BUNDLE (add /gpu-bundle/ to .git/info/exclude and carry it)"
  exit 0
fi

# ---- the binaries: a bundle if one was carried here, else build
if [ -x "$BUNDLE/bin/chaos-gpu-run" ]; then
  BIN=$BUNDLE/bin
  export LD_LIBRARY_PATH="$BUNDLE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export CHAOS_GPU_FATBIN_FILE=$BUNDLE/chaos_gpu_kernels.fatbin
  say "using $BUNDLE"
else
  say "building in $BUILD"
  build || { say "FAILED to build"; exit 1; }
  BIN=$BUILD/bin
fi
RUN=$BIN/chaos-gpu-run
RES=${RESULTS:-$BUILD/device-check}
mkdir -p "$RES"
T_BUILT=$(date +%s)

ROWS=()     # "check|requested|achieved|result"
FAILS=0
row() {
  ROWS+=("$1|$2|$3|$4")
  [ "$4" = PASS ] || [ "$4" = INFO ] || [ "$4" = SKIP ] || FAILS=$((FAILS + 1))
  printf '%-28s %-30s %-52s %s\n' "$1" "$2" "$3" "$4" >&2
}
py() { python3 -c "$@"; }

# ---- the GPU and a baseline
if ! "$RUN" info >"$RES/info.json" 2>"$RES/info.log"; then
  cat "$RES/info.json" "$RES/info.log" >&2
  say "no usable GPU: nothing to check"
  exit 1
fi
read -r PCI TOTAL SMS NAME < <(py "
import json; j=json.load(open('$RES/info.json')); g=j['gpus'][$DEV]
print(g['pci_bus_id'], g['total_bytes'], g['sms'], g['name'].replace(' ','_'))")
used_now() { "$RUN" nvml --pci "$PCI" 2>/dev/null | py "import json,sys; print(json.load(sys.stdin)['memory_used_bytes'])"; }
BASE=$(used_now)
say "GPU $DEV: $NAME $PCI, $SMS SMs, $TOTAL bytes, $BASE in use before the checks"
row "gpu" "-" "$NAME, $SMS SMs, $((TOTAL >> 20)) MiB, driver $(py "import json;print(json.load(open('$RES/info.json'))['driver_cuda_version'])")" INFO

# ---- the fatbin, as the build checks it, plus cuobjdump where it exists
if [ -x "$BIN/unit_test_gpu_fatbin" ]; then
  if "$BIN/unit_test_gpu_fatbin" >"$RES/fatbin.log" 2>&1; then
    row "fatbin sm_80+sm_90+PTX" "3 kernels each" \
      "$(sed -n 's/^\[  PASSED  \] \([0-9]*\) tests*\./\1 passed/p' "$RES/fatbin.log")$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) tests*, listed below:/, \1 skipped/p' "$RES/fatbin.log")" PASS
  else
    row "fatbin sm_80+sm_90+PTX" "3 kernels each" "see $RES/fatbin.log" FAIL
  fi
else
  row "fatbin" "-" "unit_test_gpu_fatbin not built" SKIP
fi

# fault NAME SPEC HOLD -> $RES/NAME.json ; returns the tool's status
fault() {
  local name=$1 spec=$2 hold=$3
  timeout 120 "$RUN" fault --spec "$spec" --hold "$hold" --out "$RES/$name.json" >"$RES/$name.stdout" 2>"$RES/$name.log"
}

# check_memory NAME SPEC EXPECTED_BYTES_EXPR
check_memory() {
  local name=$1 spec=$2
  fault "$name" "$spec" 4s
  local rc=$?
  local after
  after=$(used_now)
  py "
import json,sys
j=json.load(open('$RES/$name.json')); base=$BASE; total=$TOTAL; after=$after
g=(j.get('observe') or {}).get('gpus',[{}])[0]
req=g.get('requested',{}).get('memory_bytes',0); got=g.get('achieved',{}).get('memory_bytes',0)
used=[s['gpus'][0].get('nvml',{}).get('memory_used_bytes',0) for s in j.get('samples',[]) if s.get('gpus')]
peak=max(used) if used else 0
delta=peak-base-$CTX   # what the worker's CUDA context costs by itself is not part of the request
ok = $rc==0 and req>0 and got==req and abs(delta-req) <= 0.01*req and after-base <= 0.01*req
print('%s|%.2f GiB|held %.2f GiB, NVML +%.2f GiB beyond the context (%+.2f%%), free %.1f GiB, after %+d MiB, fill %.0f ms|%s' % (
  '$name', req/2**30, got/2**30, delta/2**30, 100.0*(delta-req)/max(req,1), (total-peak)/2**30, (after-base)>>20,
  g.get('achieved',{}).get('fill_ms',0), 'PASS' if ok else 'FAIL'))
" >"$RES/$name.row" 2>>"$RES/$name.log" || echo "$name|-|no result (see $RES/$name.log)|FAIL" >"$RES/$name.row"
  IFS='|' read -r a b c d <"$RES/$name.row"
  row "$a" "$b" "$c" "$d"
}

# check_sms NAME SPEC K DUTY
check_sms() {
  local name=$1 spec=$2 k=$3 duty=$4
  fault "$name" "$spec" 5s
  local rc=$?
  py "
import json
j=json.load(open('$RES/$name.json')); k=$k; duty=$duty
g=(j.get('observe') or {}).get('gpus',[{}])[0]; a=g.get('achieved',{})
ids=a.get('sm_ids',[]); d=a.get('duty') or -1
util=[s['gpus'][0].get('nvml',{}).get('utilization_gpu_pct') for s in j.get('samples',[]) if s.get('gpus')]
util=[u for u in util if u is not None][2:]
power=[s['gpus'][0].get('nvml',{}).get('power_w') for s in j.get('samples',[]) if s.get('gpus')]
power=[p for p in power if p is not None]
ok = $rc==0 and len(ids)==k and len(set(ids))==k and a.get('sms')==k and abs(d-duty) <= 0.05*duty
print('%s|%d SMs at %.0f%%|%d distinct SM ids, duty %.2f%% (min %.2f max %.2f), NVML util ~%s%%, %s W|%s' % (
  '$name', k, duty*100, len(set(ids)), d*100, (a.get('duty_min') or 0)*100, (a.get('duty_max') or 0)*100,
  round(sum(util)/len(util)) if util else '?', round(max(power)) if power else '?', 'PASS' if ok else 'FAIL'))
" >"$RES/$name.row" 2>>"$RES/$name.log" || echo "$name|-|no result (see $RES/$name.log)|FAIL" >"$RES/$name.row"
  IFS='|' read -r a b c d <"$RES/$name.row"
  row "$a" "$b" "$c" "$d"
}

# What a worker's CUDA context and bookkeeping cost in NVML's eyes, measured with a 2 MiB hold.
CTX=0
fault mem-context "{devices: [$DEV], memory: {bytes: 2MiB}}" 2s
CTX=$(py "
import json
j=json.load(open('$RES/mem-context.json'))
used=[s['gpus'][0].get('nvml',{}).get('memory_used_bytes',0) for s in j.get('samples',[]) if s.get('gpus')]
print(max(0, max(used) - $BASE - 2*2**20) if used else 0)" 2>/dev/null || echo 0)
row "context overhead" "2 MiB hold" "NVML +$((CTX >> 20)) MiB for the worker's context" INFO
check_memory mem-bytes "{devices: [$DEV], memory: {bytes: 32GiB}}"
check_memory mem-fraction-0.9 "{devices: [$DEV], memory: {fraction: 0.9}}"
check_memory mem-leave-8GiB "{devices: [$DEV], memory: {leave: 8GiB}}"
HALF=$((SMS / 2))
check_sms sm-half-100 "{devices: [$DEV], sm: {count: $HALF}}" "$HALF" 1.0
check_sms sm-quarter-50 "{devices: [$DEV], sm: {fraction: 0.25}, utilization: 50%, period: 100ms}" \
  "$(py "print(max(1, int($SMS*0.25+0.5)))")" 0.5
check_sms sm-all-80-tensor "{devices: [$DEV], utilization: 80%, tensor: true}" "$SMS" 0.8
check_sms sm-8-30 "{devices: [$DEV], sm: {count: 8}, utilization: 30%, period: 50ms}" 8 0.3

# wait_ready LOG -> prints the parent and worker pids once the fault holds
wait_ready() {
  for _ in $(seq 1 600); do
    if grep -q '^READY' "$1" 2>/dev/null; then grep '^READY' "$1"; return 0; fi
    sleep 0.1
  done
  return 1
}
# wait_released SECONDS -> seconds until NVML's memory used is back near the baseline
wait_released() {
  local t0 now used
  t0=$(date +%s.%N)
  while :; do
    used=$(used_now)
    now=$(date +%s.%N)
    if [ -n "$used" ] && [ $((used - BASE)) -le $((TOTAL / 200)) ]; then
      py "print('%.2f' % ($now - $t0))"
      return 0
    fi
    if py "import sys; sys.exit(0 if $now - $t0 > $1 else 1)"; then return 1; fi
    sleep 0.1
  done
}

# ---- SIGKILL the parent mid-fault: PDEATHSIG takes the worker, the driver frees the GPU
STATE=$RES/state-kill
rm -rf "$STATE"
"$RUN" fault --spec "{devices: [$DEV], memory: {fraction: 0.5}, sm: {count: 8}}" --hold 60s --state-dir "$STATE" \
  >"$RES/kill.stdout" 2>"$RES/kill.log" &
PARENT=$!
if READY=$(wait_ready "$RES/kill.log"); then
  WORKER=$(echo "$READY" | sed -n 's/.*worker=\([0-9]*\).*/\1/p')
  HELD=$(( $(used_now) - BASE ))
  kill -KILL "$PARENT"
  wait "$PARENT" 2>/dev/null
  if SECS=$(wait_released 15); then
    GONE=yes
    # A zombie (nobody reaped it yet) holds nothing: count it as gone.
    kill -0 "$WORKER" 2>/dev/null && [ "$(ps -o stat= -p "$WORKER" | cut -c1)" != Z ] && GONE=no
    REC=$("$RUN" recover --state-dir "$STATE" 2>>"$RES/kill.log" | py "import json,sys; j=json.load(sys.stdin); print(j['reverted'], j['failed'])")
    [ "$GONE" = yes ] && [ "${REC#* }" = 0 ] && R=PASS || R=FAIL
    row "sigkill-parent" "held $((HELD >> 30)) GiB + 8 SMs" "worker gone=$GONE, memory free after ${SECS}s, recover: $REC" "$R"
  else
    row "sigkill-parent" "held $((HELD >> 30)) GiB + 8 SMs" "memory NOT released within 15s" FAIL
  fi
else
  kill -KILL "$PARENT" 2>/dev/null
  row "sigkill-parent" "-" "fault never became ready (see $RES/kill.log)" FAIL
fi

# ---- SIGSTOP the parent (a hung agent): the lease lapses and the worker lets go by itself
"$RUN" fault --spec "{devices: [$DEV], memory: {fraction: 0.5}, sm: {count: 8}}" --hold 60s --lease 2s \
  >"$RES/hang.stdout" 2>"$RES/hang.log" &
PARENT=$!
if READY=$(wait_ready "$RES/hang.log"); then
  WORKER=$(echo "$READY" | sed -n 's/.*worker=\([0-9]*\).*/\1/p')
  kill -STOP "$PARENT"
  T_STOP=$(date +%s.%N)
  # The worker must end by itself (a zombie of the stopped parent counts: it holds nothing).
  GONE=no
  for _ in $(seq 1 120); do
    if ! kill -0 "$WORKER" 2>/dev/null || [ "$(ps -o stat= -p "$WORKER" | cut -c1)" = Z ]; then GONE=yes; break; fi
    sleep 0.1
  done
  GONE_S=$(py "print('%.2f' % ($(date +%s.%N) - $T_STOP))")
  if SECS=$(wait_released 5); then
    [ "$GONE" = yes ] && R=PASS || R=FAIL
    row "sigstop-parent (lease 2s)" "8 SMs + 50% HBM" "worker gone=$GONE ${GONE_S}s after the stop, then memory free" "$R"
  else
    row "sigstop-parent (lease 2s)" "8 SMs + 50% HBM" "worker gone=$GONE after ${GONE_S}s, memory NOT released" FAIL
  fi
  kill -KILL "$PARENT"
  wait "$PARENT" 2>/dev/null
else
  kill -KILL "$PARENT" 2>/dev/null
  row "sigstop-parent" "-" "fault never became ready (see $RES/hang.log)" FAIL
fi

# ---- the benchmark
if [ -z "${SKIP_BENCH:-}" ]; then
  if GPU_FILL_BIN=$RUN DEVICE=$DEV REPEAT=${REPEAT:-3} bash bench/gpu-fill.sh >"$RES/bench.txt" 2>"$RES/bench.log"; then
    row "bench: occupy 90% HBM" "vmm vs 256MiB cuMemAlloc" "$(tail -1 "$RES/bench.txt")" INFO
  else
    row "bench" "-" "failed (see $RES/bench.log)" FAIL
  fi
fi

# ---- the table
T_END=$(date +%s)
{
  echo
  echo "gpu device check, $(date -u +%Y-%m-%dT%H:%MZ), GPU $DEV ($NAME), build $((T_BUILT - T_START))s, checks $((T_END - T_BUILT))s"
  echo
  echo "| check | requested | achieved | result |"
  echo "|---|---|---|---|"
  for r in "${ROWS[@]}"; do echo "| ${r//|/ | } |"; done
  echo
  [ -f "$RES/bench.txt" ] && { echo '```'; cat "$RES/bench.txt"; echo '```'; }
} | tee "$RES/table.md"
if [ "$FAILS" -eq 0 ]; then
  echo "device-check: all checks passed"
  exit 0
fi
echo "device-check: $FAILS check(s) FAILED (logs in $RES)"
exit 1
