#!/usr/bin/env bash
# Installs everything the tests need, then runs the whole suite. The README's test command; .ci/run calls it.
#   - Debian's `prometheus` package (prometheus + promtool) for the rules and end-to-end tests
#   - this package with its test extras
set -euo pipefail
cd "$(dirname "$0")/.."

#   - Debian's `prometheus-alertmanager` package (amtool) for the Alertmanager config test
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1 || ! command -v amtool >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's prometheus and prometheus-alertmanager packages (prometheus, promtool, amtool)" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null
    # The packages start system services on :9090/:9093; the tests start their own on free ports.
    for svc in prometheus prometheus-alertmanager; do
      (systemctl stop "$svc" 2>/dev/null || service "$svc" stop 2>/dev/null) >/dev/null 2>&1 || true
    done
    pkill -x prometheus >/dev/null 2>&1 || true
    pkill -x prometheus-alertmanager >/dev/null 2>&1 || true
  else
    echo "warning: prometheus/promtool/amtool not found and cannot apt-get install them; those tests fail in CI" >&2
  fi
fi

python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
exec python3 -m pytest "$@"
