"""aws.spend_limits: a hard cap on the exporter's own AWS bill per UTC day, against the Cost Explorer stand-in,
with an injected clock (no test reads the real date)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from decimal import Decimal
from pathlib import Path

import pytest

from exporter.app import App
from exporter.config import ConfigError
from exporter.spend import SpendBudget
from exporter.telemetry import ApiStats
from tests.aws_helpers import config_for
from aws_ops_demo.cost_explorer import CostData, CostExplorerStandIn
from tests.test_cost_payer import BUDGETS, FLEET, SERVICES, ids
from tests.test_exporter_moto import samples

D = dt.date
DAY = D(2026, 6, 15)  # the stand-in's today; default cost settings: 2 GetCostAndUsage a refresh per account


@pytest.fixture
def ce(aws, monkeypatch):
    """The stand-in with pages large enough that each request is one page: 2 billed requests an account."""
    stand_in = CostExplorerStandIn(CostData(ids(), SERVICES), today=DAY, page_size=100_000)
    with stand_in.serve() as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_COST_EXPLORER", endpoint)
        yield stand_in


class Clock:
    def __init__(self, day: dt.date):
        self.now = dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now


def build(tmp_path, cap: float, clock: Clock, **spend) -> App:
    config = config_for(*FLEET, collectors={"cost": {"enabled": True}}, budgets=BUDGETS,
                        aws={"max_attempts": 1, "spend_limits": {"cost_explorer_usd_per_day": cap,
                                                                  "state_file": str(tmp_path / "spend.json"),
                                                                  **spend}})
    app = App.build(config, process_metrics=False, as_of=DAY)
    app.clients.budget.clock = clock  # the UTC day the budget counts in
    return app


def reached(app: App) -> dict[str, float]:
    return {dict(k)["service"]: v for k, v in
            samples(app.exposition.metrics(), "aws_exporter_spend_limit_reached").items()}


def results(app: App):
    return {a: app.holder.current.result("cost", a) for a in ids()}


def test_the_cap_stops_asking_mid_pass_keeps_the_last_values_and_resumes_the_next_utc_day(ce, tmp_path, caplog):
    clock = Clock(DAY)
    app = build(tmp_path, 0.07, clock)  # 7 requests: 3 accounts, then 1 request of the 4th
    assert reached(app) == {"ce": 0.0, "cloudwatch": 0.0}  # both from start
    caplog.set_level(logging.INFO)
    before = len(ce.requests)
    app.collect_once(DAY)
    assert len(ce.billed(before)) == 7
    got = results(app)
    assert [got[a].up for a in ids()] == [True, True, True, False, False]  # 4 and 5: never collected before
    assert reached(app) == {"ce": 1.0, "cloudwatch": 0.0}
    assert sum("event=spend_limit_reached" in r.message for r in caplog.records) == 1  # one line, not per account
    assert not [r for r in caplog.records if "collect_failed" in r.message]
    spent = samples(app.exposition.metrics(), "aws_exporter_api_spend_usd_total")
    assert spent[(("service", "ce"),)] == pytest.approx(0.07)  # what was billed, exactly

    # The same day again: nothing is asked, the collected accounts keep their values and their age.
    first = results(app)
    before = len(ce.requests)
    app.collect_once(DAY)
    assert ce.billed(before) == []
    again = results(app)
    for a in ids()[:3]:
        assert again[a].up and again[a].last_success == first[a].last_success and again[a].records == first[a].records

    # The UTC day rolls over: the cap is reset, requests resume, the gauge goes back to 0.
    clock.now += dt.timedelta(days=1)
    before = len(ce.requests)
    app.collect_once(DAY)
    assert len(ce.billed(before)) == 7
    assert reached(app)["ce"] == 1.0  # 7 again, and the pass asked for 10: reached again, a new day's line
    clock.now += dt.timedelta(days=1)
    assert app.clients.budget.spent("ce") == 0 and reached(app)["ce"] == 0.0


def test_the_days_spend_survives_a_restart(ce, tmp_path):
    clock = Clock(DAY)
    app = build(tmp_path, 0.07, clock)
    app.collect_once(DAY)
    state = json.loads((tmp_path / "spend.json").read_text())
    assert state == {"day": "2026-06-15", "usd": {"ce": "0.07", "cloudwatch": "0"}}
    restarted = build(tmp_path, 0.07, clock)
    before = len(ce.requests)
    restarted.collect_once(DAY)
    assert ce.billed(before) == []  # the day's budget was spent before the restart
    assert reached(restarted)["ce"] == 1.0
    # The next day the old file counts for nothing.
    later = build(tmp_path, 0.07, Clock(DAY + dt.timedelta(days=1)))
    assert later.clients.budget.spent("ce") == 0


def test_a_corrupt_state_file_is_one_warning_and_the_day_starts_from_0(tmp_path, caplog):
    path = tmp_path / "spend.json"
    path.write_text("{not json")
    budget = SpendBudget({"ce": Decimal("1")}, ApiStats(), str(path), clock=Clock(DAY))
    with caplog.at_level(logging.WARNING):
        assert budget.spent("ce") == 0
    assert [r.message for r in caplog.records if "spend_state_unreadable" in r.message].__len__() == 1
    budget.charge("ce", Decimal("0.01"))
    assert json.loads(path.read_text())["usd"]["ce"] == "0.01"  # rewritten whole


def test_a_state_file_that_cannot_be_written_is_one_warning_until_it_can(tmp_path, caplog):
    directory = tmp_path / "state"
    path = directory / "spend.json"  # its directory does not exist yet: every write fails
    budget = SpendBudget({"ce": Decimal("1")}, ApiStats(), str(path), clock=Clock(DAY))
    with caplog.at_level(logging.INFO, logger="exporter.spend"):
        for _ in range(20):
            budget.charge("ce", Decimal("0.01"))
        directory.mkdir()
        budget.charge("ce", Decimal("0.01"))
    lines = [r.message.split()[0] for r in caplog.records]
    assert lines == ["event=spend_state_not_written", "event=spend_state_written"]
    assert json.loads(path.read_text())["usd"]["ce"] == "0.21"  # nothing was lost in memory
    assert [p.name for p in directory.iterdir()] == ["spend.json"]  # no temporary file left behind


def test_a_slow_write_of_an_older_total_never_overwrites_a_newer_one(tmp_path, monkeypatch):
    """Two requests charged at once, the first one's write slow: the file ends with the newer total."""
    import threading

    import exporter.spend

    newer_written, first_writing = threading.Event(), threading.Event()
    real_dump = json.dump

    def dump(state, f):
        if state["usd"]["ce"] == "0.01":  # the first charge's state: its disk is slow
            first_writing.set()
            newer_written.wait(timeout=1)  # (with ordered writes the newer one waits for it instead)
        real_dump(state, f)

    def replace(src, dst):
        real_replace(src, dst)
        if json.loads(Path(dst).read_text())["usd"]["ce"] != "0.01":
            newer_written.set()

    real_replace = os.replace
    monkeypatch.setattr(exporter.spend.os, "replace", replace)
    monkeypatch.setattr(exporter.spend.json, "dump", dump)
    path = tmp_path / "spend.json"
    budget = SpendBudget({"ce": Decimal("100")}, ApiStats(), str(path), clock=Clock(DAY))
    first = threading.Thread(target=budget.charge, args=("ce", Decimal("0.01")))
    first.start()
    assert first_writing.wait(timeout=5)
    budget.charge("ce", Decimal("0.01"))
    first.join()
    assert json.loads(path.read_text())["usd"]["ce"] == "0.02"


def test_no_cap_asks_everything_and_says_0(ce):
    app = App.build(config_for(*FLEET, budgets=BUDGETS), process_metrics=False, as_of=DAY)
    assert app.clients.budget is None
    before = len(ce.requests)
    app.collect_once(DAY)
    assert len(ce.billed(before)) == 10
    assert reached(app) == {"ce": 0.0, "cloudwatch": 0.0}


@pytest.mark.parametrize("value", [-1, "lots", True])
def test_a_bad_cap_names_its_place(value):
    with pytest.raises(ConfigError, match=r"aws\.spend_limits\.cost_explorer_usd_per_day"):
        config_for(1, aws={"spend_limits": {"cost_explorer_usd_per_day": value}})


# ------------------------------------------------------------------ aws_exporter_api_spend_usd_total exact


def test_spend_counts_successful_requests_only_a_retried_throttle_bills_once(aws, monkeypatch):
    """AWS bills successful requests: a throttle then a success is one billed request; a 4xx is none."""
    from aws_ops_demo.loopback import post_handler, serve
    from exporter.aws import AwsClients
    from exporter.config.model import AwsSettings

    answers = [(400, {"__type": "ThrottlingException", "message": "Rate exceeded"}),
               (200, {"ResultsByTime": [], "DimensionValueAttributes": []}),
               (400, {"__type": "AccessDeniedException", "message": "no"})]
    sent = []

    def answer(http):
        http.rfile.read(int(http.headers.get("Content-Length", 0)))
        status, body = answers[min(len(sent), len(answers) - 1)]
        sent.append(status)
        data = json.dumps(body).encode()
        http.send_response(status)
        http.send_header("Content-Type", "application/x-amz-json-1.1")
        http.send_header("Content-Length", str(len(data)))
        http.end_headers()
        http.wfile.write(data)

    with serve(post_handler(answer)) as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_COST_EXPLORER", endpoint)
        clients = AwsClients(AwsSettings(max_attempts=3))
        client = clients.main("ce", "us-east-1")
        query = {"TimePeriod": {"Start": "2026-06-01", "End": "2026-06-02"}, "Granularity": "DAILY",
                 "Metrics": ["AmortizedCost"]}
        client.get_cost_and_usage(**query)  # throttled, retried, answered
        with pytest.raises(Exception, match="AccessDenied"):
            client.get_cost_and_usage(**query)
    view = clients.stats.view()
    assert sent == [400, 200, 400]
    assert view.requests[("ce", "GetCostAndUsage")] == 3  # every attempt counted
    assert view.cost_explorer_spend_usd == Decimal("0.01")  # one billed
