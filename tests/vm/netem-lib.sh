# Sourced by tests/vm/test-netem-*.sh inside the VM (as /opt/chaos/netem-lib.sh): the lab, the
# agent, the UDP echo probe, and checks. The lab is chaosctl's own (chaoslab-client 198.18.0.10,
# chaoslab-server 198.18.0.20 on a bridge); the echo server listens on UDP 7001, 7002 and 7003 in
# the server. tc and ip (iproute2) only look, never change what the agent made.
set -euo pipefail

CLIENT=chaoslab-client
SERVER=chaoslab-server
SERVER_IP=198.18.0.20
STATE=/tmp/chaos-state
SOCK=/tmp/chaos-agent.sock
AGENT=""
ECHO=""
LEASE=${LEASE:-2s}

fail() {
  echo "FAIL: $*"
  [ -f /tmp/agent.log ] && { echo "--- agent log (tail)"; tail -n 30 /tmp/agent.log; }
  exit 1
}
# awk does the float comparisons: check EXPR MESSAGE
check() { awk "BEGIN{exit !($1)}" || fail "$2"; }
# field NAME "RTT sent=... mean=..." -> value
field() { sed -nE "s/.*[ ]$1=([^ ]+).*/\1/p" <<<"$2"; }
now_ms() { awk '{printf "%d", $1 * 1000}' /proc/uptime; }

start_agent() {
  printf 'lease: %s\nnetwork: {attach: auto}\n%s' "$LEASE" "${AGENT_EXTRA:-}" >/tmp/agent.yaml
  chaos-agent --socket "$SOCK" --state-dir "$STATE" --config /tmp/agent.yaml --log-level ${AGENT_LOG_LEVEL:-info} >>/tmp/agent.log 2>&1 &
  AGENT=$!
  for _ in $(seq 200); do [ -S "$SOCK" ] && return 0; sleep 0.05; done
  fail "the agent did not open its socket"
}

stop_agent() {
  [ -n "$AGENT" ] || return 0
  kill -TERM "$AGENT" 2>/dev/null || true
  wait "$AGENT" 2>/dev/null || true
  AGENT=""
}

lab_up() {
  chaosctl lab up >/dev/null
  ip netns exec "$SERVER" netem_probe server 7001 7002 7003 &
  ECHO=$!
  # Warm up neighbour resolution so the baseline measures the path.
  ip netns exec "$CLIENT" netem_probe client "$SERVER_IP" 7001 5 20 1000 >/dev/null
}

teardown() {
  stop_agent
  [ -n "$ECHO" ] && kill "$ECHO" 2>/dev/null || true
  chaosctl lab down >/dev/null 2>&1 || true
}

# probe PORT COUNT INTERVAL_MS [WAIT_MS] [--raw]: UDP round trips client -> server:PORT.
probe() { ip netns exec "$CLIENT" netem_probe client "$SERVER_IP" "$@"; }

# run_bg FILE [chaosctl run args...]: the run in the background, its report in /tmp/run.json
# (RUN_OUTPUT=text: the streamed progress and the summary, in /tmp/run.out).
run_bg() {
  local f=$1
  shift
  if [ "${RUN_OUTPUT:-json}" = text ]; then
    chaosctl --socket "$SOCK" run "$f" "$@" >/tmp/run.out 2>/tmp/run.err &
  else
    chaosctl --socket "$SOCK" run "$f" "$@" -o json >/tmp/run.json 2>/tmp/run.err &
  fi
  RUN=$!
}

# wait_netem NS DEV [SECONDS]: until a netem qdisc sits on DEV in NS.
wait_netem() {
  local ns=$1 dev=$2 t=${3:-20}
  for _ in $(seq $((t * 20))); do
    tc -n "$ns" qdisc show dev "$dev" 2>/dev/null | grep netem >/dev/null && return 0
    sleep 0.05
  done
  tc -n "$ns" qdisc show dev "$dev" || true
  cat /tmp/run.err 2>/dev/null || true
  fail "no netem qdisc appeared on $dev in $ns within ${t}s"
}

wait_run() {
  local rc=0
  wait "$RUN" || rc=$?
  RUN_RC=$rc
}

# Nothing the agent makes is left in the lab client/server: no htb/netem, no chaosifb, no filter.
assert_clean() {
  local ns
  for ns in "$CLIENT" "$SERVER"; do
    local q
    q=$(tc -n "$ns" qdisc show 2>/dev/null || true)
    if grep -Eq 'htb|netem' <<<"$q"; then echo "$q"; fail "$1: qdiscs left in $ns"; fi
    if ip -n "$ns" link show 2>/dev/null | grep chaosifb >/dev/null; then ip -n "$ns" link show; fail "$1: an ifb left in $ns"; fi
    local f
    f=$(tc -n "$ns" filter show dev eth0 ingress 2>/dev/null; tc -n "$ns" filter show dev eth0 egress 2>/dev/null)
    if [ -n "$f" ]; then echo "$f"; fail "$1: filters left on eth0 in $ns"; fi
    if tc -n "$ns" qdisc show dev eth0 | grep clsact >/dev/null; then fail "$1: a clsact left on eth0 in $ns"; fi
  done
}

# exp NAME HOST DURATION LINE...: a one-fault experiment on lab host HOST; prints its path.
exp() {
  local name=$1 host=$2 dur=$3
  shift 3
  {
    printf 'apiVersion: chaos-agent/v1\nkind: Experiment\nmetadata: {name: %s}\nspec:\n  duration: 120s\n' "$name"
    printf '  faults:\n    - name: %s\n      duration: %s\n      network:\n        lab: %s\n' "$name" "$dur" "$host"
    for l in "$@"; do printf '        %s\n' "$l"; done
  } >"/tmp/$name.yaml"
  echo "/tmp/$name.yaml"
}

# sqrt_of X: busybox awk has no math library (Newton's method).
sqrt_of() { awk -v x="$1" 'BEGIN{if (x <= 0) {print 0; exit} r = x > 1 ? x : 1; for (i = 0; i < 80; i++) r = (r + x / r) / 2; printf "%.3f\n", r}'; }
