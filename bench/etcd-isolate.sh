#!/usr/bin/env bash
# etcd leader isolation: how long the agent takes to apply the isolation and to heal it, how
# long the cluster then takes to elect a new leader (next to the election timeout it was
# configured with) and to be healthy again after the heal; side by side, alternating in the same
# lab, the same cut made by inserting and deleting iptables rules in the leader's namespace (how
# peer tools partition).
# Usage: bench/etcd-isolate.sh BUILD_DIR [ROUNDS]
set -euo pipefail
BUILD=${1:-build}; ROUNDS=${2:-5}
BIN=$(cd "$BUILD/bin" && pwd)
LAB=bei$$
tmp=$(mktemp -d /tmp/chaos-bench-etcd.XXXXXX)
agent=""
cleanup() {
  [ -n "$agent" ] && kill -TERM "$agent" 2>/dev/null && wait "$agent" 2>/dev/null
  "$BIN/chaosctl" lab down --name "$LAB" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
[ -x /usr/bin/etcd ] || { echo "SKIP: etcd-server not installed (scripts/install-deps.sh)"; exit 0; }
have_ipt=1; command -v iptables >/dev/null || have_ipt=0

"$BIN/chaosctl" lab up --name "$LAB" --etcd 3 >"$tmp/lab.txt"
printf 'lease: 3s\nnetwork: {attach: %s}\n' "${ATTACH:-auto}" >"$tmp/agent.yaml"
"$BIN/chaos-agent" --socket "$tmp/s" --state-dir "$tmp/state" --config "$tmp/agent.yaml" --log-level warn 2>"$tmp/agent.log" &
agent=$!
for _ in $(seq 100); do [ -S "$tmp/s" ] && break; sleep 0.05; done

eps=""
for k in 1 2 3; do eps+="          - {url: \"http://198.18.0.3$k:2379\", lab: $LAB/etcd$k}"$'\n'; done
cat >"$tmp/exp.yaml" <<EOF
apiVersion: chaos-agent/v1
kind: Experiment
metadata: {name: bench-etcd-isolate}
spec:
  duration: 9s
  faults:
    - name: isolate-leader
      start: 1s
      duration: 5s
      etcd:
        action: isolate-member
        member: leader
        endpoints:
$eps  steadyState:
    - name: writes
      interval: 50ms
      timeout: 500ms
      checkIn: [before, after]
      tolerance: {maxErrorRate: 0%}
      etcdWriter:
        endpoints: ["http://198.18.0.31:2379", "http://198.18.0.32:2379", "http://198.18.0.33:2379"]
        lab: $LAB/client
EOF

# The leader now, as etcd says (etcdctl from inside etcd1's namespace).
leader_ns() {
  ip netns exec "$LAB-etcd1" etcdctl --endpoints=http://198.18.0.31:2379,http://198.18.0.32:2379,http://198.18.0.33:2379 \
    endpoint status -w json 2>/dev/null | python3 -c '
import json,sys
st=json.load(sys.stdin)
for s in st:
  if s["Status"]["header"]["member_id"]==s["Status"]["leader"]:
    print(s["Endpoint"].split("//")[1].split(":")[0].rsplit(".",1)[1][-1]); break'
}
healthy() {
  ip netns exec "$LAB-etcd1" etcdctl --endpoints=http://198.18.0.31:2379,http://198.18.0.32:2379,http://198.18.0.33:2379 \
    endpoint health >/dev/null 2>&1
}

: >"$tmp/agent.tsv"; : >"$tmp/ipt.tsv"
for r in $(seq 1 "$ROUNDS"); do
  until healthy; do sleep 0.2; done
  rc=0; "$BIN/chaosctl" --socket "$tmp/s" run "$tmp/exp.yaml" -o json >"$tmp/report.json" || rc=$?
  python3 - "$tmp/report.json" "$rc" >>"$tmp/agent.tsv" <<'PY'
import json,sys
r=json.load(open(sys.argv[1])); f=r["faults"][0]; o=f["observed"]; c=o["cluster"]; t=o["timing"]; p=r["probes"][0]
w=p.get("errorWindow",{}); win=(w["last"]-w["first"])*1000 if w else 0
print("\t".join(str(x) for x in [f["apply_ms"], f["revert_ms"], t.get("roles_ms",0), t.get("attach_ms",0), t.get("detach_ms",0),
  c.get("newLeaderElectedAfter_ms") or -1, c.get("healthyAfterHeal_ms") or -1, c.get("noWorkingLeaderDuringFault_ms",0),
  win, p["verify"]["lost"], sys.argv[2]]))
PY
  if [ "$have_ipt" = 1 ]; then
    until healthy; do sleep 0.2; done
    k=$(leader_ns); ns="$LAB-etcd$k"
    t0=$(date +%s%N)
    for c in "INPUT -p tcp --dport 2380" "INPUT -p tcp --sport 2380" "OUTPUT -p tcp --dport 2380" "OUTPUT -p tcp --sport 2380"; do
      ip netns exec "$ns" iptables -w -I $c -j DROP
    done
    t1=$(date +%s%N)
    sleep 3
    t2=$(date +%s%N)
    for c in "INPUT -p tcp --dport 2380" "INPUT -p tcp --sport 2380" "OUTPUT -p tcp --dport 2380" "OUTPUT -p tcp --sport 2380"; do
      ip netns exec "$ns" iptables -w -D $c -j DROP
    done
    t3=$(date +%s%N)
    echo -e "$(( (t1 - t0) / 1000 ))\t$(( (t3 - t2) / 1000 ))" >>"$tmp/ipt.tsv"
  fi
done

python3 - "$tmp/agent.tsv" "$tmp/ipt.tsv" "$tmp/lab.txt" "$ROUNDS" <<'PY'
import statistics as st, sys, re
rows=[[float(x) for x in l.split("\t")] for l in open(sys.argv[1]) if l.strip()]
ipt=[[float(x)/1000 for x in l.split("\t")] for l in open(sys.argv[2]) if l.strip()]
lab=open(sys.argv[3]).read()
m=re.search(r"heartbeat (\d+)ms, election timeout (\d+)ms, pre-vote (\w+)", lab)
hb, et, pv = (int(m.group(1)), int(m.group(2)), m.group(3)) if m else (0, 0, "?")
col=lambda i: [r[i] for r in rows]
med=lambda i: st.median(col(i))
el=[x for x in col(5) if x >= 0]
print(f"etcd leader isolation, {len(rows)} rounds (median; min..max where it matters)")
print(f"  configured: heartbeat {hb}ms, election timeout {et}ms, pre-vote {pv}")
print(f"  agent apply (roles + journaled attach, both ways)   {med(0):8.1f} ms  [roles {med(2):.1f}, attach {med(3):.1f}]")
print(f"  agent heal (journaled detach, both ways)            {med(1):8.1f} ms  [detach {med(4):.1f}]")
if ipt:
  ia=st.median([r[0] for r in ipt]); ir=st.median([r[1] for r in ipt])
  print(f"  iptables: 4 rules inserted / deleted (fork+exec)    {ia:8.1f} / {ir:.1f} ms  (ratio to agent attach/detach: {ia/med(3):.1f}x / {ir/med(4):.1f}x)")
if el:
  print(f"  new leader elected after the isolation             {st.median(el):8.1f} ms  ({min(el):.0f}..{max(el):.0f}; "
        f"{st.median(el)/et if et else 0:.2f} election timeouts)")
print(f"  no working leader during the fault                 {med(7):8.1f} ms")
print(f"  cluster healthy again after the heal               {med(6):8.1f} ms  ({min(col(6)):.0f}..{max(col(6)):.0f})")
print(f"  writer error window (first..last failed put)       {med(8):8.1f} ms")
print(f"  acknowledged writes lost (all rounds)              {int(sum(col(9)))}")
print(f"  runs that held                                     {sum(1 for x in col(10) if x == 0)}/{len(rows)}")
PY
