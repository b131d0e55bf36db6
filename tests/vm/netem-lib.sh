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
  # Ready when it answers on its socket (after its journal replay), not when the socket file
  # exists; 60 s: a large binary starting under software emulation on a loaded host.
  local deadline=$(( $(now_ms) + 60000 ))
  while [ "$(now_ms)" -lt "$deadline" ]; do
    kill -0 "$AGENT" 2>/dev/null || fail "the agent exited before it answered on $SOCK"
    [ -S "$SOCK" ] && chaosctl --socket "$SOCK" status >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  fail "the agent did not answer on $SOCK within 60s"
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
  # Until the echo server answers on every port (its start under emulation takes seconds on a
  # loaded host); this also resolves the neighbour, so the baseline measures the path.
  local port r deadline=$(( $(now_ms) + 60000 ))
  for port in 7001 7002 7003; do
    until r=$(probe "$port" 1 10 200) && [ "$(field recv "$r")" = 1 ]; do
      kill -0 "$ECHO" 2>/dev/null || fail "the echo server exited"
      [ "$(now_ms)" -lt "$deadline" ] || fail "the echo server did not answer on UDP $port within 60s"
    done
  done
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

# wait_netem NS DEV [SECONDS] [COUNT]: until COUNT (1) netem qdiscs sit on DEV in NS; 60 s by
# default: the agent's plan and apply under emulation on a loaded host take seconds.
wait_netem() {
  local ns=$1 dev=$2 t=${3:-60} want=${4:-1} n
  local deadline=$(( $(now_ms) + t * 1000 ))
  while [ "$(now_ms)" -lt "$deadline" ]; do
    n=$(tc -n "$ns" qdisc show dev "$dev" 2>/dev/null | grep -c netem || true)
    [ "${n:-0}" -ge "$want" ] && return 0
    sleep 0.05
  done
  tc -n "$ns" qdisc show dev "$dev" || true
  cat /tmp/run.err 2>/dev/null || true
  fail "no $want netem qdisc(s) appeared on $dev in $ns within ${t}s"
}

# wait_link NS PATTERN [SECONDS]: until a link whose `ip -o link` line matches PATTERN is in NS.
wait_link() {
  local deadline=$(( $(now_ms) + ${3:-60} * 1000 ))
  while [ "$(now_ms)" -lt "$deadline" ]; do
    ip -n "$1" -o link show 2>/dev/null | grep -E "$2" >/dev/null && return 0
    sleep 0.05
  done
  return 1
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

# ---- judging measurements (a loaded host under software emulation makes netem's timers fire late:
# a few samples tens to hundreds of ms late, sometimes the whole flow a few ms. Netem is never early,
# so lower bounds hold on every sample; upper bounds use minima and medians, and a measurement whose
# median is late while its minimum is on time is taken again, saying so.)

# qdisc_sent NS DEV REGEX: packets the first qdisc on DEV in NS whose tc line matches REGEX (for
# example "^qdisc netem .*delay 100ms") has sent (dequeued), from tc -s; -1 when there is none.
# awk reads tc's output to the end: an early exit would kill tc with SIGPIPE under pipefail.
qdisc_sent() {
  tc -s -n "$1" qdisc show dev "$2" | awk -v k="$3" '
    !done && /^qdisc / {want = $0 ~ k; next}
    !done && want && $1 == "Sent" {print $4; done = 1}
    END {if (!done) print -1}'
}

# judge_delay NAME RESULT BASE DELAY_MS: a flow through a constant netem delay against its baseline
# (netem_probe results). Prints one line and returns 0 when the delay is what was asked: never
# early (every sample, so the minimum, at least DELAY), the earliest within 3 ms of DELAY over the
# baseline's (lateness only adds, and one probe of many is on time: under emulation on a loaded
# host it still is within 1.5 ms), the median within 5 ms (and not below DELAY - 2); 2 when only
# the median is late (the guest was loaded: measure again); 1 otherwise.
judge_delay() {
  local name=$1 r=$2 b=$3 d=$4
  awk -v n="$name" -v d="$d" -v mn="$(field min "$r")" -v md="$(field p50 "$r")" \
      -v bmn="$(field min "$b")" -v bmd="$(field p50 "$b")" 'BEGIN {
    printf "%s: +%.3f ms at the median, +%.3f ms at the minimum over the baseline (asked %d ms)\n", n, md - bmd, mn - bmn, d
    if (mn < d - 0.1) {printf "%s: a probe came back after %.3f ms, before the %d ms delay\n", n, mn, d; exit 1}
    if (mn - bmn > d + 3) {printf "%s: even the earliest probe was %.3f ms late: the delay is not %d ms\n", n, mn - bmn - d, d; exit 1}
    if (md - bmd < d - 2) {printf "%s: the median is %.3f ms early: the delay is not %d ms\n", n, d - (md - bmd), d; exit 1}
    if (md - bmd > d + 5) {printf "%s: the median is %.3f ms late while the earliest was on time: the guest was loaded\n", n, md - bmd - d; exit 2}
  }'
}

# measure_judged CMD: runs CMD, a measurement that judges itself (0 holds, 1 does not, 2 the guest
# was too loaded to judge: see judge_delay), until it holds: again only after a 2, 3 times at most.
measure_judged() {
  local attempt rc
  for attempt in 1 2 3; do
    rc=0
    "$@" || rc=$?
    [ "$rc" -eq 0 ] && return 0
    [ "$rc" -eq 2 ] && [ "$attempt" -lt 3 ] && { echo "the guest was too loaded to judge: measuring again (attempt $((attempt + 1)) of 3)"; continue; }
    [ "$rc" -eq 2 ] && fail "$1: the guest was too loaded to judge in 3 measurements"
    fail "$1: the delay is not what was asked"
  done
}

# pair_stats RAW_A RAW_B OFFSET: probes of two flows (netem_probe --raw files) sent at the same
# moments, paired by send time (within 10 ms): prints
#   "pairs=N rejected=R mean=M sd=S csd=C"
# where the per-pair value is rttA - rttB + OFFSET, pairs further than 50 ms from the median are
# rejected (netem's normal table ends at 4 sigma: a flow of 100 +- 10 ms is never 50 ms off; that
# far is emulation), mean is over the kept pairs, sd = sqrt(var(A) - var(B)) over them (B: a
# constant-delay flow, whose variance is what emulation adds to any delay), csd the sd of B alone.
pair_stats() {
  awk -v off="$3" '
    function sq(x,   r, i) {if (x <= 0) return 0; r = x > 1 ? x : 1; for (i = 0; i < 80; i++) r = (r + x / r) / 2; return r}
    FNR == 1 {f++}
    $1 == "T0" {t0[f] = $2; next}
    $1 == "S" && $4 >= 0 {k = ++n[f]; t[f, k] = t0[f] + $3; r[f, k] = $4}
    END {
      j = 1; m = 0
      for (i = 1; i <= n[1]; i++) {
        while (j < n[2] && t[2, j + 1] <= t[1, i]) j++
        best = j
        if (j < n[2] && t[2, j + 1] - t[1, i] < t[1, i] - t[2, j]) best = j + 1
        dt = t[2, best] - t[1, i]; if (dt < 0) dt = -dt
        if (n[2] == 0 || dt > 10) continue
        m++; a[m] = r[1, i]; b[m] = r[2, best]; v[m] = a[m] - b[m] + off; s[m] = v[m]
      }
      for (x = 2; x <= m; x++) {y = s[x]; z = x - 1; while (z >= 1 && s[z] > y) {s[z + 1] = s[z]; z--} s[z + 1] = y}
      med = m % 2 ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2
      kept = 0; sv = 0; sa = 0; sb = 0; sa2 = 0; sb2 = 0
      for (x = 1; x <= m; x++) {
        if (v[x] - med > 50 || med - v[x] > 50) continue
        kept++; sv += v[x]; sa += a[x]; sb += b[x]; sa2 += a[x] * a[x]; sb2 += b[x] * b[x]
      }
      if (kept < 2) {printf "pairs=%d rejected=%d mean=nan sd=nan csd=nan\n", m, m - kept; exit}
      va = (sa2 - sa * sa / kept) / (kept - 1); vb = (sb2 - sb * sb / kept) / (kept - 1)
      printf "pairs=%d rejected=%d mean=%.3f sd=%.3f csd=%.3f\n", m, m - kept, sv / kept, sq(va - vb), sq(vb)
    }' "$1" "$2"
}
