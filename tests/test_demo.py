"""`aws-ops-exporter --demo`: the real CLI, as a newcomer runs it, serving the synthetic fleet."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest

from aws_ops_demo.fleet import SPIKE_ACCOUNT, SPIKE_SERVICE
from tests.conftest import ROOT, free_port
from tests.test_exporter_moto import samples
from tests.test_prometheus_rules import require_tool


DEMO_AS_OF = "2026-03-31"  # never the real date: CI runs on any day


@pytest.fixture(scope="module")
def demo():
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.Popen([sys.executable, "-m", "exporter", "--demo", "--as-of", DEMO_AS_OF,
                             "--web.listen-address", f"127.0.0.1:{port}"],
                            cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        from tests.aws_helpers import wait_for

        def ready():
            if proc.poll() is not None:
                raise AssertionError(f"demo exited {proc.returncode}: {proc.stderr.read()}")
            try:
                text = httpx.get(f"{base}/metrics", timeout=2).text
            except httpx.HTTPError:
                return None
            return text if "aws_cost_usd{" in text else None

        text = wait_for(ready, timeout=90, interval=0.3)
        yield base, text
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_demo_serves_the_synthetic_fleet(demo):
    _, text = demo
    cost = samples(text, "aws_cost_usd")
    labels = [dict(k) for k in cost]
    assert len({l["account"] for l in labels}) == 6
    assert len({l["project"] for l in labels}) == 3
    per_account = {}
    for l in labels:
        per_account.setdefault(l["account"], set()).add(l["service"])
    assert min(len(s) for s in per_account.values()) >= 15
    assert {l["granularity"] for l in labels} == {"daily", "monthly"}
    up = {k: v for k, v in samples(text, "aws_exporter_collector_up").items() if ("collector", "cost") in k}
    assert len(up) == 6 and set(up.values()) == {1.0}
    # It went through STS for every account, like production.
    assume = samples(text, "aws_exporter_api_requests_total")
    assert assume[(("operation", "AssumeRole"), ("service", "sts"))] == 6.0


def test_demo_has_one_clear_spike_on_the_last_full_day(demo):
    _, text = demo
    daily = {(dict(k)["account"], dict(k)["service"]): v for k, v in samples(text, "aws_cost_usd").items()
             if dict(k)["granularity"] == "daily"}
    baseline = {(dict(k)["account"], dict(k)["service"]): v
                for k, v in samples(text, "aws_cost_daily_baseline_usd").items()}
    ratios = {key: daily[key] / baseline[key] for key in daily if baseline.get(key, 0) > 1}
    spikes = {key for key, ratio in ratios.items() if ratio > 2}
    assert spikes == {(SPIKE_ACCOUNT, SPIKE_SERVICE)}


def test_demo_endpoints(demo):
    base, _ = demo
    snapshot = httpx.get(f"{base}/snapshot").json()
    assert len(snapshot["accounts"]) == 6
    some = next(iter(snapshot["collectors"]["cost"]["accounts"].values()))
    assert some["up"] and isinstance(some["records"][0]["amount"], str)
    days = {r["period_start"] for r in some["records"] if r["granularity"] == "daily"}
    assert len(days) >= 60  # 60+ days of daily history for the reporter
    assert httpx.get(f"{base}/healthz").text == "ok\n"
    assert "aws-ops-exporter" in httpx.get(f"{base}/").text
    zipped = httpx.get(f"{base}/metrics", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip" and "aws_cost_usd{" in zipped.text


def test_the_demo_keeps_answering_cost_queries_day_after_day(aws, monkeypatch):
    """A long-running demo: its Cost Explorer answers whatever day it is, the spike staying on its day."""
    import datetime as dt

    from aws_ops_demo import cost as demo_cost
    from aws_ops_demo.config import config_document
    from aws_ops_demo.cost_explorer import CostExplorerStandIn
    from aws_ops_demo.fleet import ACCOUNTS
    from exporter.app import App
    from exporter.config import parse

    first = dt.date(2026, 11, 25)
    today = [first]
    costs = demo_cost.FleetCosts(ACCOUNTS, spike_day=first - dt.timedelta(days=1))
    stand_in = CostExplorerStandIn(costs, lambda: today[0], anomalies=costs.anomalies)
    with stand_in.serve() as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_COST_EXPLORER", endpoint)
        app = App.build(parse(config_document()), only=["cost"], process_metrics=False)
        for day in range(4):
            as_of = today[0] = first + dt.timedelta(days=day)
            app.collect_once(as_of)
            text = app.exposition.metrics().decode()
            daily = samples(text, "aws_cost_usd")
            assert len({dict(k)["account"] for k in daily}) == 6, as_of
            period = samples(text, "aws_cost_period_start_timestamp_seconds")
            expected = dt.datetime.combine(as_of - dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc).timestamp()
            assert {v for k, v in period.items() if ("granularity", "daily") in k} == {expected}
            # The spike is yesterday's news on the first day only: its drivers then (the training job first), none after.
            drivers = {dict(k)["usage_type"]: v for k, v in samples(text, "aws_cost_spike_driver_usd").items()
                       if dict(k)["window"] == "yesterday"}
            assert (max(drivers, key=drivers.get) if drivers else None) == (
                demo_cost.SPIKE_USAGE_TYPE if day == 0 else None), as_of


def test_demo_organization_mode_discovers_the_fleet_and_assumes_no_role():
    """`--demo --organization --once`: Organizations discovery, payer Cost Explorer, Health's organization view
    and the CloudWatch monitoring account, through the same code paths as an organization in AWS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run([sys.executable, "-m", "exporter", "--demo", "--organization", "--once", "--as-of",
                           DEMO_AS_OF], cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    info = {dict(k)["account"]: dict(k) for k in samples(text, "aws_account_info")}
    demo_names = {"web-prod", "web-staging", "data-prod", "data-dev", "platform-shared", "platform-sandbox"}
    assert demo_names <= set(info)
    # Discovered, with the project from the account's tag and its OU; the two listed accounts say config.
    assert {n: info[n]["source"] for n in demo_names} == {
        n: "config" if n in ("platform-shared", "platform-sandbox") else "organizations" for n in demo_names}
    assert all(info[n]["project"] == n.split("-")[0] and info[n]["ou"].startswith("ou-") for n in demo_names)
    up = {(dict(k)["collector"], dict(k)["account"]): v for k, v in samples(text, "aws_exporter_collector_up").items()}
    assert up and all(v == 1.0 for v in up.values()), {k: v for k, v in up.items() if v != 1.0}
    assert {c for c, _ in up} == {"cost", "health", "cloudwatch"}
    assert samples(text, "aws_exporter_discovery_up") == {(): 1.0}
    # No role assumed anywhere: the start-up identity check is the one STS request.
    requests = samples(text, "aws_exporter_api_requests_total")
    assert {dict(k)["operation"]: v for k, v in requests.items() if dict(k)["service"] == "sts"} == {
        "GetCallerIdentity": 1.0}
    assert {"ce", "health", "cloudwatch", "oam", "organizations"} <= {dict(k)["service"] for k in requests}
    assert samples(text, "aws_exporter_main_credentials_up") == {(): 1.0}
    cost = samples(text, "aws_cost_usd")
    baseline = samples(text, "aws_cost_daily_baseline_usd")
    spike = [(k, v) for k, v in cost.items() if dict(k)["account"] == SPIKE_ACCOUNT
             and dict(k)["service"] == SPIKE_SERVICE and dict(k)["granularity"] == "daily"]
    ((key, value),) = spike
    mean = next(v for k, v in baseline.items() if dict(k)["account"] == SPIKE_ACCOUNT
                and dict(k)["service"] == SPIKE_SERVICE)
    assert value > 4 * mean  # the demo's spike, from the payer's answer
    assert samples(text, "aws_exporter_cost_unmapped_usd") == {(("granularity", "daily"),): 0.0,
                                                                (("granularity", "monthly"),): 0.0}
    assert any(dict(k)["account"] == "web-prod" for k in samples(text, "aws_ec2_cpuutilization_average"))
    require_tool("promtool")
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and not check.stdout.strip() and not check.stderr.strip(), check


def test_the_reporter_demo_prints_the_demo_fleets_summary_a_newcomer_can_read(demo):
    """`aws-ops-reporter --demo` against the running demo exporter: its budgets, its spike day, in report order."""
    base, _ = demo
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run([sys.executable, "-m", "exporter.reporter.cli", "--demo", "--demo.exporter-url", base],
                          cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n")
    assert lines[0] == "AWS cost summary for 2026-03-30"  # the day before the exporter's --as-of
    headings = [line for line in lines if line in ("*Spikes against the 14-day baseline*", "*Budgets (projected "
                                                   "month end)*", "*AWS Health*", "*Totals*", "*Movers*", "*Also*")]
    assert headings == ["*Spikes against the 14-day baseline*", "*Budgets (projected month end)*", "*AWS Health*",
                        "*Totals*", "*Movers*", "*Also*"]
    assert any(line.startswith(f"`{SPIKE_ACCOUNT}` / `{SPIKE_SERVICE}`: $") for line in lines)
    assert any(line.startswith("project `web`: $") and " of $55,000.00 (" in line for line in lines)
    assert "AWS Health is not available for `platform-sandbox` (no Business support plan): expected" in done.stdout
    assert "Failing or stale data" not in done.stdout and "no data" not in done.stdout
    assert "[1] http://localhost:3000/d/aws-ops-cost?viewPanel=18" in done.stdout  # links listed under the text
    assert done.stderr.count("\n") <= 1  # at most the one line saying what it waits for


def test_the_reporter_demo_without_a_demo_exporter_says_what_to_start():
    done = subprocess.run([sys.executable, "-m", "exporter.reporter.cli", "--demo", "--demo.exporter-url",
                           f"http://127.0.0.1:{free_port()}", "--demo.wait", "0"], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip().endswith("start the demo exporter first (aws-ops-exporter --demo)")
    assert done.stderr.count("\n") == 1
