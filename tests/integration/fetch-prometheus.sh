#!/usr/bin/env bash
# Fetches Debian's prometheus package and unpacks it (without installing it: no service, no
# user, nothing under /etc or /var) into BUILD_DIR/tools/prometheus, for the integration test
# that runs the prometheus probe against a real Prometheus scraping the agent's /metrics.
#
# Usage: fetch-prometheus.sh BUILD_DIR
# Prints the path of the prometheus binary on stdout (everything else goes to stderr).
# Cached: once BUILD_DIR/tools/prometheus/.complete exists, a rerun touches no network.
# Override: CHAOS_PROMETHEUS_DEB=/path/prometheus_*.deb (offline machines).
# Exit codes: 0 ok, 77 this host cannot do it (no dpkg/apt), 1 any other failure.
set -euo pipefail

say() { echo "fetch-prometheus: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }

[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
dir="$(realpath -m "$1")/tools/prometheus"
bin="$dir/usr/bin/prometheus"

mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
flock 9
if [ -f "$dir/.complete" ] && [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi

command -v dpkg-deb >/dev/null || skip "no dpkg-deb: the prometheus package comes from Debian"
rm -rf "$dir" "$dir.tmp"
mkdir -p "$dir.tmp"
deb=${CHAOS_PROMETHEUS_DEB:-}
if [ -z "$deb" ]; then
  command -v apt-get >/dev/null || skip "no apt-get and no CHAOS_PROMETHEUS_DEB"
  say "downloading prometheus"
  # apt-get download writes into the current directory; _apt cannot write here, so it warns that
  # the download runs unsandboxed. Harmless.
  if ! (cd "$dir.tmp" && apt-get download -q prometheus >&2); then
    say "download failed; refreshing package lists and retrying"
    apt-get update -qq >&2 || die "apt-get update failed"
    (cd "$dir.tmp" && apt-get download -q prometheus >&2) || die "apt-get download prometheus failed"
  fi
  deb=$(ls "$dir.tmp"/*.deb)
fi
[ -f "$deb" ] || die "package $deb not found"
dpkg-deb -x "$deb" "$dir.tmp"
rm -f "$dir.tmp"/*.deb
[ -x "$dir.tmp/usr/bin/prometheus" ] || die "$deb holds no usr/bin/prometheus"
"$dir.tmp/usr/bin/prometheus" --version >&2 || die "the unpacked prometheus does not run"
touch "$dir.tmp/.complete"
mv "$dir.tmp" "$dir"
echo "$bin"
