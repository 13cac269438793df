"""--estimate-cost: the requests and USD a config costs, checked against what one refresh really sends to the
Cost Explorer stand-in; and --check-config's warning above $5/day. --as-of pins the day."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
import yaml

from exporter import cli
from exporter.app import App
from exporter.config import parse
from exporter.estimate import FLEET_MODE, PER_ACCOUNT_MODE, estimate, total_usd_per_day
from tests.aws_helpers import account_doc, config_for
from tests.test_cost_payer import BUDGETS, FLEET
from tests.test_spend_limits import DAY, ce  # noqa: F401 - the one-page-a-request stand-in


@pytest.fixture(autouse=True)
def _logging_restored():
    """cli.main (in this process) points the root logger at this test's captured stderr: put it back, or a later
    test's log lines go to a closed file ("--- Logging error ---" and a traceback on its stderr)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize("mode", ["per_account", "payer"])
def test_the_estimate_is_what_one_refresh_sends(ce, mode):
    config = config_for(*FLEET, collectors={"cost": {"enabled": True, "mode": mode, "drivers": {"enabled": False}}}, budgets=BUDGETS,
                        aws={"max_attempts": 1})
    app = App.build(config, process_metrics=False, as_of=DAY)
    before = len(ce.requests)
    app.collect_once(DAY)
    sent = len(ce.billed(before))
    lines = estimate(config, DAY, accounts=len(FLEET))
    line = lines[FLEET_MODE if mode == "payer" else PER_ACCOUNT_MODE][0]
    assert line.requests_per_refresh == sent == app.clients.stats.requests_for("ce")
    assert line.refreshes_per_day == 4  # every 6h by default
    assert line.usd_per_day == sent * 4 * app.clients.stats.view().cost_explorer_spend_usd / sent


def write(tmp_path, doc) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_the_cli_prints_both_modes_side_by_side(tmp_path, capsys):
    path = write(tmp_path, {"accounts": [account_doc(n) for n in FLEET], "collectors": {
        "cost": {"enabled": True, "drivers": {"enabled": False}}, "health": {"enabled": True},
        "cloudwatch": {"enabled": True, "queries": [{"namespace": "AWS/EC2", "metric": "CPUUtilization",
                                                     "dimensions": {"InstanceId": "i-1"},
                                                     "stats": ["Average", "Maximum"]}]}}})
    assert cli.main(["--estimate-cost", "--config", path, "--as-of", "2026-06-15"]) == 0
    out = capsys.readouterr().out
    rows = {tuple(line.split()[:2]): line.split() for line in out.splitlines()[2:] if line.split()[:1] != ["this"]}
    # cost per account: 2 requests × 5 accounts × 4 refreshes = 40 a day, $0.40; payer: 2 × 4 = 8, $0.08
    assert rows[("cost", "per-account")][2:5] == ["40", "40", "0.40"]
    assert rows[("cost", "fleet-wide")][2:5] == ["8", "8", "0.08"]
    # CloudWatch: 2 metrics × 5 accounts every 5 min = 2,880 metrics a day, 1,440 GetMetricData
    assert rows[("cloudwatch", "per-account")][2:4] == ["1,440", "2,880"]
    assert rows[("health", "per-account")][4] == "0.00"
    assert "this config: 0.43 USD/day" in out and "https://aws.amazon.com/cloudwatch/pricing/" in out


def test_organization_mode_needs_accounts_n(tmp_path, capsys):
    doc = {"organization": {"enabled": True, "role_arn": "arn:aws:iam::000000000001:role/org"},
           "collectors": {"cost": {"enabled": True, "mode": "payer"}}}
    path = write(tmp_path, doc)
    assert cli.main(["--estimate-cost", "--config", path, "--as-of", "2026-06-15"]) == 2
    assert "--accounts N" in capsys.readouterr().err
    assert cli.main(["--estimate-cost", "--config", path, "--as-of", "2026-06-15", "--accounts", "400"]) == 0
    out = capsys.readouterr().out
    assert "400 accounts" in out and "discovery" in out
    assert cli.main(["--estimate-cost", "--config", str(tmp_path / "missing.yaml")]) == 2


def test_check_config_warns_above_5_usd_a_day_unless_capped(tmp_path, capsys):
    big = {"accounts": [account_doc(n) for n in range(1, 71)],
           "collectors": {"cost": {"enabled": True, "drivers": {"enabled": False}}}}
    assert total_usd_per_day(parse(big), DAY) > 5  # 70 accounts × 2 requests × 4 refreshes × $0.01 = $5.60
    assert cli.main(["--check-config", "--config", write(tmp_path, big), "--as-of", "2026-06-15"]) == 0
    assert "warning: this config is estimated at" in capsys.readouterr().err
    big["aws"] = {"spend_limits": {"cost_explorer_usd_per_day": 5, "cloudwatch_usd_per_day": 1,
                                   "state_file": str(tmp_path / "s.json")}}
    assert cli.main(["--check-config", "--config", write(tmp_path, big), "--as-of", "2026-06-15"]) == 0
    assert "warning" not in capsys.readouterr().err
    small = {"accounts": [account_doc(1)], "collectors": {"cost": {"enabled": True}}}
    assert cli.main(["--check-config", "--config", write(tmp_path, small), "--as-of", "2026-06-15"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_discover_lists_the_organization_and_calls_nothing_else(aws, tmp_path, capsys, monkeypatch):
    """--discover: the accounts from AWS Organizations (moto, real HTTP), and not one request to any other API:
    every other endpoint points at a loopback server that records what reaches it."""
    import http.server
    import threading

    from tests.test_discovery import Organization

    org = Organization()
    for n in range(4):
        org.account(f"acct-{n}", project="web")
    seen: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            seen.append(self.headers.get("X-Amz-Target") or self.path)
            self.send_error(500)

        do_GET = do_POST  # noqa: N815

        def log_message(self, *args):
            pass

    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_ORGANIZATIONS", aws.endpoint)
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{other.server_address[1]}")
        doc = {"organization": {"enabled": True, "member_role_arn": "arn:aws:iam::{account_id}:role/ops-exporter"},
               "aws": {"max_attempts": 1},
               "collectors": {"cost": {"enabled": True, "mode": "payer", "drivers": {"enabled": False}}}}
        assert cli.main(["--estimate-cost", "--discover", "--config", write(tmp_path, doc),
                         "--as-of", "2026-06-30"]) == 0
    finally:
        other.shutdown()
        other.server_close()
    out = capsys.readouterr().out
    assert "5 accounts" in out  # the four created and the management account (moto's own)
    assert seen == []
