#!/usr/bin/env bash
# Installs everything the tests need, then runs the whole suite. The README's test command; .ci/run calls it.
#   - Debian packages, when a tool is missing and this runs as root with apt-get:
#       prometheus (prometheus, promtool)    the rules and end-to-end tests
#       prometheus-alertmanager (amtool)     the Alertmanager config test
#       kubernetes-client (kubectl)          renders deploy/kubernetes/ (kubectl kustomize)
#       nodejs, npm                          tests/k8s/validate.mjs (the Prometheus Operator's models)
#   - tests/k8s/'s npm packages, from its lockfile (npm ci)
#   - this package with its test extras
set -euo pipefail
cd "$(dirname "$0")/.."

packages=()
{ command -v promtool && command -v prometheus; } >/dev/null 2>&1 || packages+=(prometheus)
command -v amtool >/dev/null 2>&1 || packages+=(prometheus-alertmanager)
command -v kubectl >/dev/null 2>&1 || packages+=(kubernetes-client)
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

# apt-get install without starting any service: the prometheus packages would start Prometheus and
# Alertmanager on :9090/:9093 (the tests start their own, on free ports). invoke-rc.d and deb-systemd-invoke
# ask /usr/sbin/policy-rc.d first, and 101 means "not allowed", so nothing starts, nothing needs stopping,
# and a Prometheus that was already running here is never touched. The machine's own policy-rc.d, if it has
# one, is put back afterwards. (On a systemd machine the units are still enabled for the next boot.)
policy_rc=/usr/sbin/policy-rc.d
policy_rc_saved=""
restore_policy_rc() {
  if [ -n "$policy_rc_saved" ]; then mv -f "$policy_rc_saved" "$policy_rc"; else rm -f "$policy_rc"; fi
}
install_without_starting_services() {
  if [ -e "$policy_rc" ]; then
    policy_rc_saved="$(mktemp)"
    cp -p "$policy_rc" "$policy_rc_saved"
  fi
  trap restore_policy_rc EXIT   # also when apt-get fails or the run is interrupted
  printf '#!/bin/sh\n# written by scripts/test.sh for the length of one apt-get install\nexit 101\n' >"$policy_rc"
  chmod 755 "$policy_rc"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  restore_policy_rc
  trap - EXIT
}

if [ "${#packages[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages: ${packages[*]}" >&2
    apt-get update -qq >/dev/null
    install_without_starting_services "${packages[@]}"
  else
    echo "warning: not found and cannot apt-get install: ${packages[*]}; the tests that need them fail in CI" >&2
  fi
fi

if command -v npm >/dev/null 2>&1; then
  npm ci --prefix tests/k8s --no-audit --no-fund --loglevel=error >/dev/null
else
  echo "warning: npm not found; tests/test_kubernetes.py's Prometheus Operator checks fail in CI" >&2
fi

python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
exec python3 -m pytest "$@"
