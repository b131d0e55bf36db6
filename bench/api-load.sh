#!/usr/bin/env bash
# The API under load: CLIENTS clients hammering `status` (a new connection per request, closed
# loop) while RUNS runs are active in a lab (each a partition of its own unused port on the lab
# client, plus an HTTP probe client -> server every 100ms; lease 1s, tick 100ms). Measured:
#   - status latency (connect to close) p50/p90/p99/max, three arms: 1 client and no runs,
#     CLIENTS clients and no runs, CLIENTS clients with RUNS runs active;
#   - whether the runs kept their leases: each run's outcome (a lapse aborts it: "lease lapsed"),
#     chaos_lease_lapses_total, and the largest gap between two renewals of a fault's lease (the
#     runner samples a fault's telemetry right after renewing it, every tick: the report's series
#     timestamps are the renewals), against the 1s lease.
# Usage: bench/api-load.sh BUILD_DIR [SECONDS] [CLIENTS] [RUNS]
set -euo pipefail
BUILD=${1:-build}; SECS=${2:-20}; CLIENTS=${3:-50}; RUNS=${4:-5}
BIN=$(cd "$BUILD/bin" && pwd)
[ -x "$BIN/chaos-bench-api-load" ] || { echo "build chaos-bench-api-load first (cmake --build $BUILD --target chaos-bench-api-load)"; exit 2; }
LAB=bal$$
tmp=$(mktemp -d /tmp/chaos-bench.XXXXXX)
agent=""; runs=()
cleanup() {
  for p in "${runs[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "$agent" ] && kill -TERM "$agent" 2>/dev/null && wait "$agent" 2>/dev/null
  "$BIN/chaosctl" lab down --name "$LAB" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
"$BIN/chaosctl" lab up --name "$LAB" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'lease: 1s\ntick: 100ms\nmetrics: {listen: "127.0.0.1:%s"}\napi: {maxConnections: %d, maxConcurrentRuns: %d}\n' \
  "$port" $((CLIENTS + RUNS + 8)) $((RUNS + 1)) >"$tmp/agent.yaml"
"$BIN/chaos-agent" --socket "$tmp/s" --state-dir "$tmp/state" --config "$tmp/agent.yaml" --log-level warn 2>"$tmp/agent.log" &
agent=$!
for _ in $(seq 100); do [ -S "$tmp/s" ] && break; sleep 0.05; done
ctl() { "$BIN/chaosctl" --socket "$tmp/s" "$@"; }
load() { "$BIN/chaos-bench-api-load" --socket "$tmp/s" --clients "$1" --seconds "$2"; }

idle1=$(load 1 $((SECS / 2)))
idleN=$(load "$CLIENTS" $((SECS / 2)))

# RUNS runs, each a partition of its own port (nothing listens there: the lab's traffic is not
# cut) held from +1s to the end, and an HTTP probe on the served port: the hypothesis holds
# unless the agent falls behind.
dur=$((SECS + 12))
for i in $(seq 1 "$RUNS"); do
  cat >"$tmp/run$i.yaml" <<YAML
apiVersion: chaos-agent/v1
kind: Experiment
metadata: {name: bench-load-$i}
spec:
  duration: ${dur}s
  faults:
    - name: hold
      start: 1s
      duration: $((dur - 2))s
      network: {action: partition, lab: $LAB/client, direction: egress, match: {cidrs: [198.18.0.20/32], protocol: tcp, ports: [$((9000 + i))]}}
  steadyState:
    - name: client-to-server
      interval: 100ms
      timeout: 300ms
      tolerance: {maxErrorRate: 0%}
      http: {url: "http://198.18.0.20:8080/", lab: $LAB/client}
YAML
  ctl run "$tmp/run$i.yaml" -o json >"$tmp/run$i.json" 2>"$tmp/run$i.err" &
  runs+=($!)
done
# Until every fault is applied (status says so).
for _ in $(seq 200); do
  n=$(ctl status -o json | python3 -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin)["runs"] if r.get("activeFaults")))')
  [ "$n" -ge "$RUNS" ] && break; sleep 0.1
done
active=$(load "$CLIENTS" "$SECS")
for p in "${runs[@]}"; do wait "$p" || true; done; runs=()
metrics=$(curl -fsS "http://127.0.0.1:$port/metrics")

python3 - "$tmp" "$RUNS" "$idle1" "$idleN" "$active" "$metrics" <<'PY'
import json, sys
tmp, runs = sys.argv[1], int(sys.argv[2])
arms = [("1 client, no runs", json.loads(sys.argv[3])), ("%d clients, no runs" % json.loads(sys.argv[4])["clients"], json.loads(sys.argv[4])),
        ("%d clients, %d runs active" % (json.loads(sys.argv[5])["clients"], runs), json.loads(sys.argv[5]))]
print("status latency (connect to close, ms):")
for name, a in arms:
    print("  %-28s %6d requests (%5.0f/s)  p50 %6.2f  p90 %6.2f  p99 %6.2f  max %7.2f  errors %d failures %d busy %d" % (
        name, a["requests"], a["perSecond"], a["p50_ms"], a["p90_ms"], a["p99_ms"], a["max_ms"], a["errors"], a["failures"], a["busy"]))
lapses = [l for l in sys.argv[6].splitlines() if l.startswith("chaos_lease_lapses_total")]
renewals = [l for l in sys.argv[6].splitlines() if l.startswith("chaos_lease_renewals_total")]
print("runs (lease 1s, tick 100ms): %s; %s" % (lapses[0] if lapses else "?", renewals[0] if renewals else "?"))
for i in range(1, runs + 1):
    try:
        r = json.load(open("%s/run%d.json" % (tmp, i)))
    except Exception as e:
        print("  run %d: no report (%s): %s" % (i, e, open("%s/run%d.err" % (tmp, i)).read().strip()))
        continue
    ts = [s["t"] for s in r.get("series", []) if s.get("fault") == "hold"]
    gaps = [b - a for a, b in zip(ts, ts[1:])]
    gaps.sort()
    p = r["probes"][0] if r.get("probes") else {}
    errs = sum(1 for s in p.get("samples", []) if not s[1])
    print("  %s: %s%s; %d renewals, gap between renewals p50 %.0f ms, max %.0f ms; probe errors %d of %d" % (
        r["run"], r["outcome"], (" (" + r["reason"] + ")") if r.get("reason") else "", len(ts),
        1000 * gaps[len(gaps) // 2] if gaps else 0, 1000 * gaps[-1] if gaps else 0, errs, len(p.get("samples", []))))
PY
