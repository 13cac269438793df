"""The daily report's loose ends: links for anomalies, Health context and drivers (each once, not repeated line after
line), Health context only from events open during the cost day, no budget projection before
``reporter.summary.budget_min_days_elapsed`` complete days (unless the money is spent already), and upcoming Health
events that say when they start. Dates pinned; English and Korean."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import urllib.parse
from decimal import Decimal
from pathlib import Path

import pytest

from bench.report_scenarios import (ACCOUNTS, IDS, SAGEMAKER, SCENARIOS, URL, Scenario, _history, _store, health_event,
                                    result_of, snapshot_of)
from exporter.config.reporter import ReporterSettings, SummarySettings, parse_reporter
from exporter.config.validate import Section
from exporter.reporter import claims, compose, links, render
from exporter.reporter.factlist import Fact
from exporter.reporter.llm import system_prompt
from exporter.reporter.runner import Reporter
from exporter.reporter.summary import Facts, build_facts

GRAFANA = "https://grafana.example"
LINK_RE = re.compile(r"\[([^\]]+)\]\((https://[^)]+)\)")
DATA_PROD = "111111111111"
DAY = dt.date(2026, 11, 15)


def facts_of(scenario: Scenario, summary: SummarySettings | None = None) -> Facts:
    settings = ReporterSettings(timezone="Asia/Seoul")
    return build_facts(scenario.store, scenario.day, scenario.now, summary or settings.summary,
                       scenario.project_budgets, scenario.account_budgets, tz=settings.tz)


def post(scenario: Scenario, language: str = "en", grafana_url: str | None = GRAFANA) -> str:
    settings = ReporterSettings(timezone="Asia/Seoul", language=language, grafana_url=grafana_url)
    reporter = Reporter(settings, scenario.store, project_budgets=scenario.project_budgets,
                        account_budgets=scenario.account_budgets, now=lambda: scenario.now)
    return reporter.compose(scenario.day).text


def _panel(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.path, dict(urllib.parse.parse_qsl(parts.query))["viewPanel"]


def _console_filters(url: str) -> dict[str, list[str]]:
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).fragment.split("?", 1)[1]))
    return {f["dimension"]["id"]: [v["value"] for v in f["values"]] for f in json.loads(query["filter"])}


# ------------------------------------------------------------------------------------------------------ links

def test_an_anomaly_links_its_grafana_panel_and_the_cost_anomaly_detection_console():
    fact = Fact("anomaly:data-prod:a1", "anomaly", "spikes",
                {"account": "data-prod", "account_id": DATA_PROD, "service": SAGEMAKER, "anomaly_id": "a1"})
    (g_label, g_url), (c_label, c_url) = links.for_fact(fact, DAY, "UnblendedCost", GRAFANA)
    assert (g_label, _panel(g_url)) == ("Grafana", ("/d/aws-ops-cost", "28"))  # Open cost anomalies
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(g_url).query))
    assert (query["var-account"], query["var-service"]) == ("data-prod", SAGEMAKER)
    assert c_label == "Cost Anomaly Detection"
    assert c_url.startswith("https://us-east-1.console.aws.amazon.com/cost-management/home#/anomaly-detection/")


def test_health_context_links_the_event_like_the_health_section():
    arn = "arn:aws:health:us-east-1::event/SAGEMAKER/AWS_SAGEMAKER_OPERATIONAL_ISSUE/sm-1"
    fact = Fact("context:spike:data-prod:Amazon SageMaker:health:X:us-east-1", "context_health", "spikes",
                {"account": "data-prod", "account_id": DATA_PROD, "service": SAGEMAKER}, extra={"about": "x", "arn": arn})
    health = Fact("health:data-prod:X:us-east-1", "health_open", "health", {"account": "data-prod"}, extra={"arn": arn})
    assert links.for_fact(fact, DAY, "UnblendedCost", GRAFANA) == links.for_fact(health, DAY, "UnblendedCost", GRAFANA)
    assert [label for label, _ in links.for_fact(fact, DAY, "UnblendedCost", GRAFANA)] == ["Grafana", "AWS Health"]


def test_a_driver_links_the_spike_drivers_panel_and_cost_explorer_filtered_to_its_usage_type():
    text = post(SCENARIOS["spike"]())
    lines = text.split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("`data-prod` / `Amazon SageMaker`"))
    spike, driver = dict(LINK_RE.findall(lines[at])), dict(LINK_RE.findall(lines[at + 1]))
    assert lines[at + 1].startswith("  driven by `USE1-ml.p3.2xlarge-hours`")
    assert _panel(spike["Grafana"])[1] == "18" and _panel(driver["Grafana"])[1] == "27"
    assert _console_filters(driver["Cost Explorer"]) == {"LinkedAccount": [DATA_PROD], "Service": [SAGEMAKER],
                                                         "UsageType": ["USE1-ml.p3.2xlarge-hours"]}
    assert "UsageType" not in _console_filters(spike["Cost Explorer"])


def test_no_line_under_an_item_repeats_a_link_of_the_line_before_it():
    scenario = SCENARIOS["spike"]()
    store = scenario.store
    store.drivers = store.drivers + [{"account": "data-prod", "account_id": DATA_PROD, "service": SAGEMAKER,
                                      "usage_type": "USE1-ml.p3.2xlarge-storage", "usd": Decimal("20.00"),
                                      "baseline_mean_usd": Decimal("5.00"), "change_usd": Decimal("15.00")}]
    for language in ("en", "ko"):
        lines = post(scenario, language).split("\n")
        drivers = [i for i, line in enumerate(lines) if "`USE1-ml.p3.2xlarge-" in line]
        assert len(drivers) == 2 and drivers[1] == drivers[0] + 1
        first, second = (dict(LINK_RE.findall(lines[i])) for i in drivers)
        assert _panel(first["Grafana"])[1] == "27" and "Grafana" not in second  # the same panel: given once
        assert second["Cost Explorer"] != first["Cost Explorer"]
        shown = [set(LINK_RE.findall(line)) for line in lines]
        under = [i for i, line in enumerate(lines) if line.startswith("  ")]
        assert under and all(not (shown[i] & shown[i - 1]) for i in under)


def test_two_accounts_lines_on_one_public_health_event_both_link_it():
    arn = "arn:aws:health:us-east-1::event/EC2/AWS_EC2_OPERATIONAL_ISSUE/public-1"
    event = health_event(arn, start="2026-11-15T08:00:00+00:00", scope="PUBLIC")
    scenario = _with_events(event, account_ids=(DATA_PROD, IDS["web-prod"]))
    for language in ("en", "ko"):
        lines = [line for line in post(scenario, language).split("\n") if "`AWS_EC2_OPERATIONAL_ISSUE`" in line]
        assert [line.split("`")[1] for line in lines] == ["data-prod", "web-prod"]
        assert [dict(LINK_RE.findall(line)).get("AWS Health") for line in lines] == [links.health_event(arn)] * 2


# ------------------------------------------------------------------------- Health context, the day's events only

def _with_events(*events, account_ids: tuple[str, ...] = (DATA_PROD,)) -> Scenario:
    """The spike day with ``events`` open in each of ``account_ids``."""
    scenario = SCENARIOS["spike"]()
    at = dt.datetime(2026, 11, 16, 0, 20, tzinfo=dt.timezone.utc)
    accounts = [(a, name, project) for a, (name, project) in ACCOUNTS.items()]
    results = [result_of("health", a, list(events), last_success=at, last_attempt=at) for a in account_ids]
    scenario.store.store_snapshot(snapshot_of(*results, accounts=accounts), URL, at)
    return scenario


def _sagemaker(code: str, start: str, end: str | None = None):
    return health_event(f"arn:aws:health:us-east-1::event/SAGEMAKER/{code}/x", start=start, service="SAGEMAKER",
                        event_type_code=code, end=dt.datetime.fromisoformat(end) if end else None)


def test_health_context_is_only_the_events_open_during_the_cost_day_in_utc():
    scenario = _with_events(
        _sagemaker("STARTED_BEFORE", "2026-11-10T00:00:00Z"),
        _sagemaker("STARTED_LATE_ON_THE_DAY", "2026-11-15T23:30:00Z"),  # 08:30 KST on the 16th: still the UTC day
        _sagemaker("STARTED_THE_NEXT_DAY", "2026-11-16T00:00:00Z"),
        _sagemaker("ENDED_BEFORE_THE_DAY", "2026-11-10T00:00:00Z", "2026-11-14T23:59:00+00:00"),
        _sagemaker("ENDED_ON_THE_DAY", "2026-11-10T00:00:00Z", "2026-11-15T00:00:00+00:00"))
    facts = facts_of(scenario)
    def context(about: str) -> list[str]:
        return sorted(f.entity["event_type_code"] for f in facts.items
                      if f.kind == "context_health" and f.extra["about"] == about)

    assert context("spike:data-prod:Amazon SageMaker") == ["ENDED_ON_THE_DAY", "STARTED_BEFORE",
                                                           "STARTED_LATE_ON_THE_DAY"]
    # A month-over-month mover is about the month to date: an event that ended on the 14th was open in it.
    assert context("mover:mom:data-prod:Amazon SageMaker") == ["ENDED_BEFORE_THE_DAY", "ENDED_ON_THE_DAY",
                                                               "STARTED_BEFORE", "STARTED_LATE_ON_THE_DAY"]
    assert len(facts.data["health"]["open"]) == 5  # the Health section still lists every open event
    text = post(scenario)
    assert "`STARTED_THE_NEXT_DAY`" in text.split("*AWS Health*")[1]
    assert "`STARTED_THE_NEXT_DAY`" not in text.split("*AWS Health*")[0]


# -------------------------------------------------------------------------- budgets: too early to project

def _budget_day(day: dt.date, budget: str, summary: SummarySettings | None = None) -> tuple[Fact, Scenario]:
    scenario = Scenario("budget", day, _store(day, _history(day)), project_budgets={"data": Decimal(budget)})
    facts = facts_of(scenario, summary)
    return next(f for f in facts.items if f.id == "budget:data"), scenario


def _value(fact: Fact, name: str) -> Decimal | None:
    return next((v.amount for v in fact.values if v.name == name), None)


@pytest.mark.parametrize("day,days", [(dt.date(2026, 12, 1), 1), (dt.date(2026, 12, 2), 2)])
def test_before_three_complete_days_no_projection_is_made(day, days):
    fact, scenario = _budget_day(day, "2000")
    mtd = _value(fact, "month_to_date")
    assert mtd * 31 > Decimal(2000)  # one day × the days in the month would have said "over budget"
    assert (fact.state, fact.actionable, _value(fact, "projected"), _value(fact, "projected_pct_of_budget")) == (
        "too_early", False, None, None)
    assert (_value(fact, "days_elapsed"), _value(fact, "days_needed_to_project")) == (days, 3)
    assert not fact.row["over_budget"] and fact.row["projected_usd"] is None
    text = post(scenario)
    assert f"project `data`: ${mtd:,.2f} month to date of $2,000.00 · too early to project ({days} of 3 days)" in text
    assert "over budget" not in text
    assert f"프로젝트 `data`: 이번 달 누계 ${mtd:,.2f} / 예산 $2,000.00 · 아직 월말 예상 불가 (3일 중 {days}일 경과)" in post(
        scenario, "ko")


def test_too_early_to_project_but_already_over_the_budget_is_over_budget():
    fact, scenario = _budget_day(dt.date(2026, 12, 1), "50")
    mtd = _value(fact, "month_to_date")
    assert mtd > 50
    assert (fact.state, fact.actionable, _value(fact, "projected")) == ("over_budget", True, None)
    assert _value(fact, "over_by") == mtd - 50
    assert "already over budget (too early to project: 1 of 3 days)" in post(scenario)
    assert "이미 예산 초과" in post(scenario, "ko")


@pytest.mark.parametrize("day", [dt.date(2026, 12, 3), dt.date(2026, 12, 4), dt.date(2026, 11, 30)])
def test_from_the_third_day_to_the_last_the_month_is_projected(day):
    fact, scenario = _budget_day(day, "2000")
    mtd = _value(fact, "month_to_date")
    days_in_month = 30 if day.month == 11 else 31
    projected = (mtd / day.day * days_in_month).quantize(Decimal("0.01"))
    assert _value(fact, "projected") == projected and fact.state in ("within_budget", "over_budget")
    assert _value(fact, "days_needed_to_project") is None
    if day.day == days_in_month:
        assert projected == mtd
    assert "too early" not in post(scenario)


def test_budget_min_days_elapsed_zero_projects_from_the_first():
    fact, _ = _budget_day(dt.date(2026, 12, 1), "2000", SummarySettings(budget_min_days_elapsed=0))
    assert fact.state == "over_budget" and _value(fact, "projected") == _value(fact, "month_to_date") * 31


@pytest.mark.parametrize("value,problem", [
    (-1, "reporter.summary.budget_min_days_elapsed: must be between 0 and 31, got -1"),
    ("3", "reporter.summary.budget_min_days_elapsed: must be a whole number, got '3'"),
    (2.5, "reporter.summary.budget_min_days_elapsed: must be a whole number, got 2.5")])
def test_a_bad_budget_min_days_elapsed_names_its_place(value, problem):
    problems: list[str] = []
    parse_reporter(Section({"summary": {"budget_min_days_elapsed": value}}, "reporter", problems))
    assert problems == [problem]
    problems = []
    settings = parse_reporter(Section({"summary": {"budget_min_days_elapsed": 5}}, "reporter", problems))
    assert (problems, settings.summary.budget_min_days_elapsed, SummarySettings().budget_min_days_elapsed) == ([], 5, 3)


def test_check_config_exits_2_on_a_bad_budget_min_days_elapsed(tmp_path: Path):
    config = tmp_path / "config.yaml"
    config.write_text('accounts:\n  - {id: "111111111111", name: a, project: p, '
                      'role_arn: "arn:aws:iam::111111111111:role/ops"}\n'
                      'reporter:\n  summary: {budget_min_days_elapsed: -1}\n')
    proc = subprocess.run([sys.executable, "-m", "exporter", "--check-config", "--config", str(config)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "reporter.summary.budget_min_days_elapsed: must be between 0 and 31, got -1" in proc.stderr + proc.stdout


# ----------------------------------------------------------------------------------- upcoming Health events

def test_an_upcoming_health_event_says_when_it_starts():
    scenario = SCENARIOS["health"]()
    en, ko = post(scenario, grafana_url=None), post(scenario, "ko", grafana_url=None)
    assert ("• upcoming: `data-prod` `RDS` `AWS_RDS_MAINTENANCE_SCHEDULED` `us-east-1` starts 2026-11-21 03:00 KST"
            in en)
    assert "• open: `web-prod` `EC2` `AWS_EC2_OPERATIONAL_ISSUE` `us-east-1` since 2026-11-15 12:35 KST" in en
    assert "• 예정: `data-prod` `RDS` `AWS_RDS_MAINTENANCE_SCHEDULED` `us-east-1` 시작 예정 2026-11-21 03:00 KST" in ko
    assert "since 2026-11-21" not in en


def test_the_claims_check_reads_a_too_early_budget_from_its_facts():
    day = dt.date(2026, 12, 1)
    scenario = Scenario("budget", day, _store(day, _history(day)), project_budgets={"data": Decimal("2000")})
    facts = facts_of(scenario)
    mtd = _value(facts.item("budget:data"), "month_to_date")
    said = claims.Claim(("budget:data",), f"`data` has spent ${mtd:,.2f} of its $2,000.00 budget; too early to "
                                          "project (1 of 3 days).")
    assert claims.check(said, facts) is None
    over = claims.Claim(("budget:data",), f"`data` is over budget: ${mtd * 31:,.2f} projected against $2,000.00.")
    assert claims.check(over, facts) is not None  # one day × 31 is no fact, and the budget is not over


@pytest.mark.parametrize("language", ["en", "ko"])
def test_the_model_is_told_a_too_early_budget_has_no_projection(language):
    assert "too_early has no projection yet" in system_prompt(language)


def test_checked_claims_in_a_row_citing_the_same_fact_give_its_links_once():
    scenario = SCENARIOS["spike"]()
    facts = facts_of(scenario)
    link, _ = compose._linker(facts, facts.data["metric"], GRAFANA)
    spike, driver = "spike:data-prod:Amazon SageMaker", "driver:data-prod:Amazon SageMaker:USE1-ml.p3.2xlarge-hours"
    said = [claims.Claim((spike,), "`data-prod` / `Amazon SageMaker` spiked to $321.92."),
            claims.Claim((spike, driver), "Driven by `USE1-ml.p3.2xlarge-hours`, +$265.10."),
            claims.Claim((spike,), "That is 8.0× its mean."),
            claims.Claim((driver,), "`USE1-ml.p3.2xlarge-hours` cost $290.10."),
            claims.Claim((spike,), "`data-prod` / `Amazon SageMaker` spiked to $321.92.")]
    lines = render.claims_text(said, 0, facts, "en", link).split("\n")
    first, second, third, fourth, fifth = (set(LINK_RE.findall(line)) for line in lines if line.startswith("• "))
    assert {label for label, _ in first} == {"Grafana", "Cost Explorer"}
    assert not first & second and {label for label, _ in second} == {"Grafana", "Cost Explorer"}  # the driver's
    assert third == set()  # the line before cited the spike too
    assert fourth == second - first and fifth == first  # not right after the same links: given again
