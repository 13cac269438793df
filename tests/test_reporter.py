"""The reporter's config, CLI, schedule, self-metrics and backfill."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import signal
import subprocess
import sys
from decimal import Decimal

import httpx
import yaml

from exporter.aws import ApiStats, AwsClients
from exporter.reporter import backfill
from exporter.reporter.runner import Reporter
from exporter.reporter.settings import load_settings
from exporter.reporter.store import Store
from tests.aws_helpers import CostExplorerStandIn, account_doc, config_for, daily_response, serve, wait_for
from tests.conftest import ROOT, free_port, write_config
from tests.test_reporter_fakes import exporter_with_known_history, receivers, chat_config

UTC = dt.timezone.utc


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "exporter.reporter.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_bad_reporter_config_exits_2_listing_every_problem_with_its_path(tmp_path, monkeypatch):
    monkeypatch.setenv("SLACK_URL", "https://hooks.slack.com/services/T0/B0/secret-token-value")
    monkeypatch.setenv("NOT_A_URL", "secret-but-not-a-url")
    path = write_config(tmp_path, {"accounts": [account_doc(1)], "reporter": {
        "exporter_urls": ["ftp://nope"],
        "shedule": "09:00",
        "timezone": "Mars/Olympus",
        "language": "fr",
        "llm": {"base_url": "gateway", "model": "m", "api_key_env": "NO_SUCH_KEY_VAR"},
        "chat": [{"type": "slack", "webhook_url_env": "SLACK_URL"},
                 {"type": "teams", "webhook_url_env": "bad name"},
                 {"type": "irc", "webhook_url_env": "X"}],
    }})
    result = run_cli("--config", str(path), "--once")
    assert result.returncode == 2
    for expected in ("reporter.exporter_urls[0]: not an http(s) URL: 'ftp://nope'",
                     "reporter.shedule: unknown key (did you mean 'schedule'?)",
                     "reporter.timezone: unknown time zone 'Mars/Olympus'",
                     "reporter.language: must be one of en, ko, got 'fr'",
                     "reporter.llm.base_url: not an http(s) URL: 'gateway'",
                     "reporter.chat[1].webhook_url_env: not an environment variable name: 'bad name'",
                     "reporter.chat[2].type: must be one of slack, teams, google_chat, webhook, got 'irc'"):
        assert expected in result.stderr
    # The exporter's own --check-config sees the same reporter problems (one config file).
    check = subprocess.run([sys.executable, "-m", "exporter", "--check-config", "--config", str(path)], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 2 and "reporter.chat[1].webhook_url_env" in check.stderr

    # Shape fixed, the environment is checked when the reporter starts; values never echoed.
    path = write_config(tmp_path, {"accounts": [account_doc(1)], "reporter": {
        "llm": {"base_url": "http://gateway/v1", "model": "m", "api_key_env": "NO_SUCH_KEY_VAR"},
        "chat": [{"type": "slack", "webhook_url_env": "SLACK_URL"},
                 {"type": "webhook", "name": "hook", "webhook_url_env": "NOT_A_URL"}]}})
    result = run_cli("--config", str(path), "--once")
    assert result.returncode == 2
    assert "reporter.llm.api_key_env: environment variable NO_SUCH_KEY_VAR is not set" in result.stderr
    assert "reporter.chat[1].webhook_url_env: NOT_A_URL does not hold an http(s) URL" in result.stderr
    assert "secret" not in result.stderr


def test_schedule_in_asia_seoul(tmp_path):
    settings = load_settings({"timezone": "Asia/Seoul", "database": str(tmp_path / "h.db")}, "<test>", {})
    assert (settings.schedule_hour, settings.schedule_minute) == (9, 0)  # the default: 09:00 local
    unquoted = yaml.safe_load("schedule: 7:30")  # YAML 1.1: the number 450
    assert load_settings(unquoted, "<test>", {}).schedule_hour == 7
    assert load_settings(unquoted, "<test>", {}).schedule_minute == 30
    clock = {"now": dt.datetime(2026, 11, 16, 23, 59, tzinfo=UTC)}  # 08:59 on the 17th in Seoul
    r = Reporter(settings, Store.open(settings.database), now=lambda: clock["now"])
    assert r.due_day() is None
    clock["now"] = dt.datetime(2026, 11, 17, 0, 0, tzinfo=UTC)  # 09:00 in Seoul
    assert r.due_day() == dt.date(2026, 11, 16)  # the UTC day that just ended
    fire = r.trigger.get_next_fire_time(None, dt.datetime(2026, 11, 17, 1, 0, tzinfo=UTC))  # the sidecar's job
    assert fire.astimezone(UTC) == dt.datetime(2026, 11, 18, 0, 0, tzinfo=UTC)


def _zone_past_the_grace() -> str:
    """A zone where today's 00:00 is more than the 6 h a post waits for the day's cost (the history here is old)."""
    import zoneinfo

    for name in ("Asia/Seoul", "Europe/London", "America/New_York", "America/Los_Angeles", "Pacific/Auckland"):
        if dt.datetime.now(zoneinfo.ZoneInfo(name)).hour >= 7:
            return name
    raise AssertionError("no zone past 07:00")  # pragma: no cover - one of them always is


def test_sidecar_with_only_the_exporter_url_logs_a_deterministic_summary_and_serves_metrics(aws, tmp_path):
    port = free_port()
    with exporter_with_known_history(aws) as url:
        path = write_config(tmp_path, {"accounts": [account_doc(1), account_doc(2)], "reporter": {
            "exporter_urls": [url], "database": str(tmp_path / "h.db"), "schedule": "00:00",
            "timezone": _zone_past_the_grace(), "listen_address": f"127.0.0.1:{port}"}})
        proc = subprocess.Popen([sys.executable, "-m", "exporter.reporter.cli", "--config", str(path)], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            def posted() -> bool:
                try:
                    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
                except httpx.HTTPError:
                    return False
                return 'aws_ops_reporter_posts_total{destination="log",result="ok"} 1.0' in text
            wait_for(posted, timeout=60, interval=0.3)
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f'aws_ops_reporter_last_pull_success_timestamp_seconds{{exporter="{url}"}}' in metrics
    assert 'aws_ops_reporter_fallbacks_total{reason="llm_not_configured"} 1.0' in metrics
    assert "event=llm_not_configured" in err and "event=summary" in err and "Deterministic summary" in err


def test_secrets_stay_out_of_metrics_and_logs(aws, tmp_path, caplog):
    with exporter_with_known_history(aws) as url, receivers("slack") as recv:
        recv["slack"].fail = [500]
        chat_list, env = chat_config(recv)
        env["AI_KEY"] = "sk-do-not-leak"
        settings = load_settings({"exporter_urls": [url], "database": str(tmp_path / "h.db"), "chat": chat_list,
                                  "llm": {"base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key_env": "AI_KEY",
                                          "max_attempts": 1, "timeout": "1s"}}, "<test>", env)
        r = Reporter(settings, Store.open(settings.database))
        assert "sk-do-not-leak" not in repr(settings) and "very-secret-token" not in repr(settings)
        caplog.set_level("DEBUG")
        assert not r.once(dt.date(2026, 11, 15))  # the gateway is unreachable and Slack answers 500
    from prometheus_client import generate_latest

    exposition = generate_latest(r.metrics.registry).decode()
    assert 'destination="slack-ops"' in exposition
    assert "event=post_failed" in caplog.text and "event=llm_failed" in caplog.text
    for secret in ("very-secret-token", "sk-do-not-leak"):
        assert secret not in exposition and secret not in caplog.text


def _ce_config(**aws_settings):
    return config_for(1, 2, aws={"max_attempts": 1, **aws_settings})


def test_backfill_announces_its_price_and_resumes_where_it_stopped(aws, tmp_path, monkeypatch):
    start, end = dt.date(2026, 9, 10), dt.date(2026, 10, 21)  # windows [09-10, 10-01) and [10-01, 10-21)
    sept, octo = daily_response(start, 21, {"Amazon EC2": "4.50"}), daily_response(dt.date(2026, 10, 1), 20,
                                                                                   {"Amazon EC2": "5.25"})
    store = Store.open(tmp_path / "h.db")
    config = _ce_config()
    # acct-1's October window fails (a non-retryable error); the others are stored.
    stand_in = CostExplorerStandIn([sept, ("error", "ValidationException", "try later"), sept, octo])
    with serve(stand_in.handler()) as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_COST_EXPLORER", endpoint)
        out = io.StringIO()
        failed = backfill.run(config, store, start, end, clients=AwsClients(config.aws, ApiStats()), stream=out)
    assert failed == 1
    text = out.getvalue()
    assert ("2 account(s) × 2 monthly window(s); 0 already done; 4 Cost Explorer GetCostAndUsage request(s) to make "
            "(more if an answer is paged), $0.04 at $0.01 per request") in text
    assert text.index("$0.04") < text.index("[")  # announced before the first request
    assert "1 failed; run the same command again" in text
    assert [b["TimePeriod"] for _, b in stand_in.requests][:2] == [
        {"Start": "2026-09-10", "End": "2026-10-01"}, {"Start": "2026-10-01", "End": "2026-10-21"}]
    assert store.db["cost"].count == 21 + 21 + 20

    stand_in = CostExplorerStandIn([octo])
    with serve(stand_in.handler()) as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_COST_EXPLORER", endpoint)
        out = io.StringIO()
        stats = ApiStats()
        assert backfill.run(config, store, start, end, clients=AwsClients(config.aws, stats), stream=out) == 0
    assert "3 already done; 1 Cost Explorer GetCostAndUsage request(s)" in out.getvalue()
    assert len(stand_in.requests) == 1 and stats.requests_for("ce") == 1
    assert store.db["cost"].count == 21 * 2 + 20 * 2
    row = store.db["cost"].get(("000000000001", "Amazon EC2", "daily", "2026-10-20", "AmortizedCost"))
    assert (Decimal(row["amount"]), row["source"]) == (Decimal("5.25"), "backfill")

    out = io.StringIO()
    assert backfill.run(config, store, start, end, stream=out) == 0
    assert "0 Cost Explorer GetCostAndUsage request(s)" in out.getvalue() and "nothing to do" in out.getvalue()


def test_backfill_cli_refuses_more_than_14_months_and_goes_through_assume_role(aws, tmp_path):
    today = dt.datetime.now(UTC).date()
    path = write_config(tmp_path, {"accounts": [account_doc(1)], "reporter": {"database": str(tmp_path / "h.db")}})
    too_old = (today - dt.timedelta(days=500)).isoformat()
    result = run_cli("backfill", "--config", str(path), "--from", too_old, env=aws.env() | {"PATH": "/usr/bin"})
    assert result.returncode == 2 and "Cost Explorer keeps 14 months by default" in result.stderr
    start = (today - dt.timedelta(days=3)).isoformat()
    result = run_cli("--config", str(path), "backfill", "--from", start, env=aws.env() | {"PATH": "/usr/bin"})
    assert result.returncode == 0, result.stderr
    assert "Cost Explorer GetCostAndUsage request(s) to make" in result.stderr
    windows = len(backfill.month_windows(today - dt.timedelta(days=3), today))  # 1, or 2 across a month's end
    assert f"made {windows} Cost Explorer request(s) (${windows / 100:.2f})" in result.stderr


def test_scheduled_post_waits_for_the_exporter_after_a_start(aws, tmp_path):
    clock = {"now": dt.datetime(2026, 11, 16, 9, 30, tzinfo=UTC)}  # past the 09:00 UTC schedule
    settings = load_settings({"exporter_urls": [f"http://127.0.0.1:{free_port()}"],
                              "database": str(tmp_path / "h.db")}, "<test>", {})
    r = Reporter(settings, Store.open(settings.database), now=lambda: clock["now"])
    r.tick()  # the exporter does not answer yet: nothing is posted, nothing recorded
    assert r.store.post_state(dt.date(2026, 11, 15), "log") is None
    with exporter_with_known_history(aws) as url:
        r.settings = dataclasses.replace(settings, exporter_urls=(url,))
        r.tick()
    assert r.store.post_state(dt.date(2026, 11, 15), "log")["state"] == "posted"
    assert r.metrics.registry.get_sample_value("aws_ops_reporter_posts_total",
                                               {"destination": "log", "result": "ok"}) == 1
