"""The landing page ``/``, from a snapshot and the schedule's next runs: names and projects, each collector's state
and data age, expected conditions shown as such, the next pass, escaping, a bounded page for a large fleet."""

from __future__ import annotations

import datetime as dt
import re

import httpx

from exporter.exposition import Exposition
from exporter.landing import MAX_ACCOUNTS, landing_page
from exporter.model import AccountInfo, AccountResult, CollectorRun, HealthDetail, Snapshot
from exporter.server import Lifecycle, WebServer
from exporter.snapshot import SnapshotHolder
from exporter.telemetry import ApiStats

NOW = dt.datetime(2026, 5, 4, 12, 0, tzinfo=dt.timezone.utc)
HOSTILE = '<script>alert("x")</script>'
INTERVALS = {"cost": 6 * 3600.0, "health": 300.0}


def ok(collector: str, account_id: str, age: dt.timedelta) -> AccountResult:
    at = NOW - age
    return AccountResult(collector=collector, account_id=account_id, up=True, last_attempt=at, last_success=at)


def fleet_snapshot() -> Snapshot:
    accounts = (AccountInfo("000000000001", "prod-web", "web"), AccountInfo("000000000002", HOSTILE, "data & <b>"),
                AccountInfo("000000000003", "sandbox", "lab"))
    no_plan = HealthDetail(subscription_required=True, subscription_retry_after=NOW + dt.timedelta(minutes=40))
    results = [
        ok("cost", "000000000001", dt.timedelta(hours=2)),
        ok("health", "000000000001", dt.timedelta(minutes=3)),
        ok("cost", "000000000002", dt.timedelta(hours=2)).failed(
            NOW - dt.timedelta(minutes=5), 1.0, "AccessDenied: User is not authorized\n  to perform ce:GetCostAndUsage "
            + "x" * 400),
        AccountResult(collector="health", account_id="000000000002", up=False, last_attempt=NOW,
                      error="SubscriptionRequiredException: no plan", detail=no_plan),
        ok("cost", "000000000003", dt.timedelta(hours=2)),
        # sandbox: not collected by health yet
    ]
    run = CollectorRun(collector="cost", started=NOW - dt.timedelta(hours=2), duration_seconds=12.0, accounts_ok=2,
                       accounts_failed=1)
    return Snapshot(taken_at=NOW - dt.timedelta(seconds=30), accounts=accounts).with_run(run, results)


def cell(page: str, account: str, collector: str) -> str:
    """The text of one account's cell for a collector (tags stripped)."""
    row = next(r for r in page.split("<tr>") if account in r)
    found = re.search(rf'<td data-label="{collector}">(.*?)</td>', row)
    assert found, (account, collector)
    return re.sub(r"<[^>]+>", " ", found.group(1))


def test_names_projects_states_ages_and_the_next_pass():
    runs = {"cost": NOW + dt.timedelta(hours=4, minutes=1), "health": NOW + dt.timedelta(seconds=40),
            "cost-retry": NOW + dt.timedelta(minutes=14)}
    page = landing_page(fleet_snapshot(), INTERVALS, runs, reloads=(True, (NOW - dt.timedelta(hours=1)).timestamp()),
                        now=NOW)
    assert "prod-web" in page and "000000000001" in page and ">web<" in page and ">lab<" in page
    assert "up" in cell(page, "prod-web", "cost") and "data 2h 0m old" in cell(page, "prod-web", "cost")
    assert "data 3m old" in cell(page, "prod-web", "health")
    # the failing account first, DOWN with its last error on one line, cut short
    down = cell(page, "000000000002", "cost")
    assert "DOWN" in down and "AccessDenied: User is not authorized to perform ce:GetCostAndUsage" in down
    assert "\n" not in down and "x" * 200 not in down and "…" in down
    rows = [r for r in page.split("<tr>") if 'data-label="account"' in r]
    assert "000000000002" in rows[0]
    # no Business support plan: an expected condition, not DOWN
    health = cell(page, "000000000002", "health")
    assert "no Business support plan" in health and "DOWN" not in health and "asked again in 40m" in health
    assert "not collected yet; next pass in 40s" in cell(page, "sandbox", "health")
    # per collector: counts, the last pass, the next one and the retry
    assert "1 without a support plan" in page and "1 not collected yet" in page
    assert "started 2h 0m ago, took 12s" in page and "in 4h 1m; retry of failed accounts in 14m" in page
    assert "Config loaded 60m ago." in page


def test_every_value_is_escaped_and_nothing_is_loaded_from_elsewhere():
    page = landing_page(fleet_snapshot(), INTERVALS, now=NOW)
    assert HOSTILE not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page and "data &amp; &lt;b&gt;" in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "@media (max-width:700px)" in page  # tables become cards on a phone
    assert not re.search(r"(src|href)=\"(https?:)?//", page) and "<link" not in page and "<script" not in page


def test_a_failed_reload_is_said():
    page = landing_page(fleet_snapshot(), INTERVALS, reloads=(False, (NOW - dt.timedelta(days=2)).timestamp()),
                        now=NOW)
    assert "The last config reload failed" in page and "loaded 2d 0h ago is still in use" in page


def test_a_large_fleet_gets_a_bounded_page_with_the_failing_accounts_first():
    n = 5000
    accounts = tuple(AccountInfo(f"{i:012d}", f"acct-{i:05d}", f"proj-{i % 40}") for i in range(n))
    failing = {f"{i:012d}" for i in (17, 2500, 4999)}
    results = [ok("cost", a.id, dt.timedelta(minutes=10)) for a in accounts]
    results = [r.failed(NOW, 1.0, "Throttling: Rate exceeded") if r.account_id in failing else r for r in results]
    snapshot = Snapshot(taken_at=NOW, accounts=accounts).with_run(None, results)
    page = landing_page(snapshot, {"cost": 21600.0}, now=NOW)
    rows = [r for r in page.split("<tr>") if 'data-label="account"' in r]
    assert len(rows) == MAX_ACCOUNTS
    assert [next(i for i in failing if i in r) for r in rows[:3]] == sorted(failing)
    assert "3 of 5000 accounts have a collector down; showing 200 of 5000, problems first" in page
    assert page.count('<td data-label="accounts">125</td>') == 40  # every project, with its accounts
    assert len(page) < 400_000


def test_the_server_links_the_telemetry_path_and_serves_the_page():
    holder = SnapshotHolder(fleet_snapshot())
    exposition = Exposition(INTERVALS, ApiStats(), process_metrics=False)
    holder.subscribe(exposition.on_snapshot)
    server = WebServer("127.0.0.1", 0, exposition, lambda: holder.current, telemetry_path="/aws/metrics",
                       lifecycle=Lifecycle(next_runs=lambda: {"cost": NOW}))
    server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as http:
            page = http.get("/")
            metrics = http.get("/aws/metrics")
            default = http.get("/metrics")
    finally:
        server.stop()
    assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<a href="/aws/metrics">' in page.text and "&lt;script&gt;" in page.text
    assert metrics.status_code == 200 and "aws_exporter_collector_up" in metrics.text
    assert default.status_code == 404
