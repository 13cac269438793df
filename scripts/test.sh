#!/usr/bin/env bash
# Installs everything the tests need, then runs the whole suite. The README's test command; .ci/run calls it.
#   - Debian's `prometheus` package (prometheus + promtool) for the rules and end-to-end tests
#   - this package with its test extras
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's prometheus package (prometheus, promtool)" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    # The package starts a system Prometheus on :9090; the tests start their own on free ports.
    (systemctl stop prometheus 2>/dev/null || service prometheus stop 2>/dev/null || pkill -x prometheus) >/dev/null 2>&1 || true
  else
    echo "warning: promtool/prometheus not found and cannot apt-get install them; Prometheus tests will fail in CI" >&2
  fi
fi

python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
exec python3 -m pytest "$@"
