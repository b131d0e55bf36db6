#!/usr/bin/env bash
# Time to occupy 90% of a GPU's HBM and to release it: the gpu fault's way (VMM: one address
# range, cuMemCreate + cuMemMap + cuMemsetD8 in 2 GiB steps) next to gpu-burn's way (cuMemAlloc
# in 256 MiB steps, each written). Alternating, REPEAT runs each, medians and the ratio.
# Needs a GPU. From the repo root: bench/gpu-fill.sh  (env: DEVICE=0 REPEAT=5 FRACTION=0.9,
# GPU_FILL_BIN=path/to/chaos-gpu-run, default build/bin or build-gpu-check/bin).
# Reference: the H200's 141 GB at 4.8 TB/s would be written once in about 26 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=${DEVICE:-0}
REPEAT=${REPEAT:-5}
FRACTION=${FRACTION:-0.9}
BIN=${GPU_FILL_BIN:-}
if [ -z "$BIN" ]; then
  for b in build/bin/chaos-gpu-run build-gpu-check/bin/chaos-gpu-run gpu-bundle/bin/chaos-gpu-run; do
    [ -x "$b" ] && BIN=$b && break
  done
fi
[ -n "$BIN" ] || { echo "gpu-fill: no chaos-gpu-run built (make build, or tests/gpu/device-check.sh)" >&2; exit 1; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for i in $(seq 1 "$REPEAT"); do
  "$BIN" fill --mode vmm --fraction "$FRACTION" --device "$DEV" --step 2GiB >"$out/vmm.$i.json"
  "$BIN" fill --mode alloc --fraction "$FRACTION" --device "$DEV" --step 256MiB >"$out/alloc.$i.json"
done
python3 - "$out" "$REPEAT" <<'PY'
import json, statistics, sys
d, n = sys.argv[1], int(sys.argv[2])
def load(mode):
    return [json.load(open(f"{d}/{mode}.{i}.json")) for i in range(1, n + 1)]
vmm, alloc = load("vmm"), load("alloc")
for runs in (vmm, alloc):
    for r in runs:
        if "error" in r:
            sys.exit(f"gpu-fill: {r['mode']}: {r['error']}")
def med(runs, k):
    return statistics.median(r[k] for r in runs)
gb = vmm[0]["bytes"] / 1e9
print(f"occupy {vmm[0]['bytes'] / 2**30:.1f} GiB of {vmm[0]['total_bytes'] / 2**30:.1f} GiB, median of {n} runs each, alternating")
print(f"{'method':<34}{'steps':>6}{'occupy ms':>11}{'release ms':>12}{'GB/s':>8}")
for name, runs in (("vmm 2GiB steps (the gpu fault)", vmm), ("cuMemAlloc 256MiB steps (gpu-burn)", alloc)):
    o, rel = med(runs, "occupy_ms"), med(runs, "release_ms")
    print(f"{name:<34}{runs[0]['steps']:>6}{o:>11.1f}{rel:>12.1f}{gb / (o / 1000):>8.0f}")
print(f"ratio cuMemAlloc/vmm: occupy {med(alloc, 'occupy_ms') / med(vmm, 'occupy_ms'):.2f}x, "
      f"release {med(alloc, 'release_ms') / med(vmm, 'release_ms'):.2f}x")
PY
