#!/usr/bin/env bash
# The Python-only tests under a pinned clock (Debian's faketime), for a last and a first day of a month:
# proof that no test depends on the real date. Run after scripts/test.sh has installed everything.
#   bash scripts/test-pinned-date.sh ['2027-01-31 23:40:00' '2027-02-01 00:20:00' ...]
# Left out: the Prometheus end-to-end test (Prometheus is Go: faketime does not move its clock, so those
# tests pin the day with --as-of instead), and tests that wait on timeouts and timers (the scheduler's
# runner tests, botocore's throttle back-off and read timeouts, a chat platform that never answers), which
# hang or time out under libfaketime's clock whatever the date; none of them reads the date.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v faketime >/dev/null || { echo "needs Debian's faketime (apt-get install faketime)" >&2; exit 2; }
[ $# -gt 0 ] || set -- '2027-01-31 23:40:00' '2027-02-01 00:20:00'
status=0
for when in "$@"; do
  echo "== faketime '$when'"
  faketime "$when" python3 -m pytest -q -p no:cacheprovider \
    --deselect tests/test_e2e_prometheus.py --deselect tests/test_runner.py \
    --deselect tests/test_exporter_moto.py::test_throttling_is_retried_and_counted \
    --deselect tests/test_exporter_moto.py::test_throttled_after_retries_or_timed_out_accounts_fail_alone \
    --deselect tests/test_reporter_chat.py::test_no_answer_after_sending_is_not_sent_again_where_the_platform_cannot_deduplicate \
    || status=1
done
exit $status
