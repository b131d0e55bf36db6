#!/usr/bin/env bash
# make demo: brings up the lab, starts an agent with a temporary state dir, runs
# experiments/lab-partition.yaml (an HTTP probe from client to server, a partition in the
# middle), prints the run summary, and tears everything down, also on failure or Ctrl-C.
set -uo pipefail
BUILD=${1:-build}
BIN=$(cd "$BUILD/bin" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
EXPERIMENT=${EXPERIMENT:-$ROOT/experiments/lab-partition.yaml}
# The run's report outlives the demo's temporary state: JSON and the HTML page with plots.
REPORT_DIR=${REPORT_DIR:-$(cd "$BUILD" && pwd)/demo-report}
REPORT=$REPORT_DIR/$(basename "$EXPERIMENT" .yaml)

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: needs root (network namespaces, eBPF); run: sudo make demo" >&2
  exit 2
fi

tmp=$(mktemp -d /tmp/chaos-demo.XXXXXX)
agent_pid=""
own_lab=0
cleanup() {
  if [ -n "$agent_pid" ] && kill -0 "$agent_pid" 2>/dev/null; then
    kill -TERM "$agent_pid"
    wait "$agent_pid" 2>/dev/null
  fi
  if [ "$own_lab" = 1 ]; then
    "$BIN/chaosctl" lab down >/dev/null || echo "demo: lab down failed" >&2
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== lab"
if "$BIN/chaosctl" lab status >/dev/null 2>&1; then
  echo "(using the lab that is already up; it stays up)"
  "$BIN/chaosctl" lab status
else
  "$BIN/chaosctl" lab up || exit 1
  own_lab=1
fi

echo "== agent (state in $tmp)"
cat >"$tmp/agent.yaml" <<'YAML'
lease: 2s          # the dead-man lease: faults stop by themselves 2s after the agent stops renewing
guardrails:
  allowDefaultRouteInterface: false
YAML
"$BIN/chaos-agent" --socket "$tmp/agent.sock" --state-dir "$tmp/state" --config "$tmp/agent.yaml" \
  >"$tmp/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 1 100); do
  [ -S "$tmp/agent.sock" ] && break
  sleep 0.05
done
[ -S "$tmp/agent.sock" ] || { echo "demo: agent did not start:"; cat "$tmp/agent.log"; exit 1; }

echo "== run $EXPERIMENT"
mkdir -p "$REPORT_DIR" && rm -f "$REPORT.json" "$REPORT.html"
"$BIN/chaosctl" --socket "$tmp/agent.sock" run "$EXPERIMENT" --report-out "$REPORT.json" --report-out "$REPORT.html"
rc=$?
echo
echo "== agent log"
sed 's/^/  /' "$tmp/agent.log"
[ -f "$REPORT.html" ] && echo "demo: report: $REPORT.html (the page, with plots) and $REPORT.json"
echo "demo: chaosctl run exited $rc ($( [ $rc = 0 ] && echo 'hypothesis held before and after; errors only inside the partition' || echo 'see above'))"
exit $rc
