"""The daily report as people read it: its order, "no data" against a real $0, expected conditions, times in
``reporter.timezone``, links to Grafana and the AWS console, the usage types behind a spike; and each rule of
the claims check, on the scenario days of bench/report_scenarios.py."""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.parse

import pytest

from bench.report_scenarios import SCENARIOS, Scenario
from exporter.config.reporter import ReporterSettings
from exporter.reporter import claims, render
from exporter.reporter.factlist import SECTIONS
from exporter.reporter.labels import labels
from exporter.reporter.runner import Reporter
from exporter.reporter.summary import Facts, build_facts

GRAFANA = "https://grafana.example"
LINK_RE = re.compile(r"\[([^\]]+)\]\((https://[^)]+)\)")


def facts_of(scenario: Scenario, timezone: str = "Asia/Seoul") -> Facts:
    settings = ReporterSettings(timezone=timezone)
    return build_facts(scenario.store, scenario.day, scenario.now, settings.summary, scenario.project_budgets,
                       scenario.account_budgets, tz=settings.tz)


def post(scenario: Scenario, language: str = "en", grafana_url: str | None = None) -> str:
    settings = ReporterSettings(timezone="Asia/Seoul", language=language, grafana_url=grafana_url)
    reporter = Reporter(settings, scenario.store, project_budgets=scenario.project_budgets,
                        account_budgets=scenario.account_budgets, now=lambda: scenario.now)
    return reporter.compose(scenario.day).text


def plain(text: str) -> str:
    return re.sub(r" — \[.*$", "", text, flags=re.MULTILINE)


def test_failures_come_first_and_an_account_without_business_support_is_not_one():
    scenario = SCENARIOS["failing"]()
    facts = facts_of(scenario)
    fresh = facts.data["freshness"]
    assert [(f["collector"], f["account"]) for f in fresh["failing_collectors"]] == [("cost", "data-staging")]
    assert fresh["expected_conditions"] == [{"collector": "health", "account": "web-staging",
                                             "account_id": "444444444444", "reason": "no_business_support"}]
    assert [f.id for f in facts.items if f.actionable] == ["exporter:http://exporter-b:9780",
                                                           "collector:cost:data-staging"]
    for language in ("en", "ko"):
        text = plain(post(scenario, language))
        sections = [labels(language)[f"section_{name}"].format(n=14) for name in SECTIONS]
        shown = [line.strip("*") for line in text.split("\n") if line.strip("*") in sections]
        assert shown == [s for s in sections if s in shown] and shown[0] == sections[0] and shown[-1] == sections[-1]
        failures = text.split(f"*{shown[0]}*", 1)[1].split(f"*{shown[1]}*", 1)[0]
        assert "`data-staging`" in failures and "`web-staging`" not in failures
    text = plain(post(scenario))
    assert "AWS Health is not available for `web-staging` (no Business support plan): expected, not a failure" in text
    assert "Collector `cost` failing for `data-staging`; last success never" in text
    assert "Exporter `http://exporter-b:9780`: last pull failed (`HTTP 503`, 2 since the last success); " \
           "last successful pull never" in text


def test_a_budget_never_collected_has_no_data_and_a_real_zero_on_the_1st_is_zero():
    never = plain(post(SCENARIOS["failing"]()))
    assert "account `data-staging`: no data (cost never collected) · budget $20,000.00" in never
    assert "of $20,000.00" not in never
    assert "계정 `data-staging`: 데이터 없음 (비용이 수집된 적 없음) · 예산 $20,000.00" in plain(
        post(SCENARIOS["failing"](), "ko"))
    first = SCENARIOS["first_of_month"]()
    budget = next(b for b in facts_of(first).data["budgets"] if b["name"] == "web-staging")
    # A real $0 month to date; on the 1st too early to project (reporter.summary.budget_min_days_elapsed).
    assert (budget["no_data"], budget["month_to_date_usd"], budget["projected_usd"]) == (False, 0, None)
    assert "account `web-staging`: $0.00 month to date of $100.00 · too early to project (1 of 3 days)" in plain(
        post(first))


def test_times_are_in_the_reporters_time_zone_to_the_minute():
    scenario = SCENARIOS["health"]()
    event = facts_of(scenario).data["health"]["open"][0]
    assert event["start_time"] == "2026-11-15T12:35+09:00"  # 03:35:41Z
    text = plain(post(scenario))
    assert "• open: `web-prod` `EC2` `AWS_EC2_OPERATIONAL_ISSUE` `us-east-1` since 2026-11-15 12:35 KST" in text
    assert "Data: last pull 2026-11-16 09:10 KST (0.3 h ago)" in text
    assert facts_of(scenario, "UTC").data["health"]["open"][0]["start_time"] == "2026-11-15T03:35+00:00"


def test_each_item_links_to_its_grafana_panel_and_its_aws_console_page():
    text = post(SCENARIOS["spike"](), grafana_url=GRAFANA)
    spike_line = next(line for line in text.split("\n") if line.startswith("`data-prod` / `Amazon SageMaker`"))
    links = dict(LINK_RE.findall(spike_line))
    grafana = urllib.parse.urlsplit(links["Grafana"])
    assert f"{grafana.scheme}://{grafana.netloc}{grafana.path}" == f"{GRAFANA}/d/aws-ops-cost"
    query = dict(urllib.parse.parse_qsl(grafana.query))
    assert (query["viewPanel"], query["var-account"], query["var-service"]) == ("18", "data-prod", "Amazon SageMaker")
    ms = [int(dt.datetime(2026, 11, d, tzinfo=dt.timezone.utc).timestamp() * 1000) for d in (2, 16)]
    assert (query["from"], query["to"]) == tuple(map(str, ms))  # the 14 days up to the day, UTC
    console = urllib.parse.urlsplit(links["Cost Explorer"])
    assert console.netloc == "us-east-1.console.aws.amazon.com" and console.fragment.startswith("/cost-explorer?")
    ce = dict(urllib.parse.parse_qsl(console.fragment.split("?", 1)[1]))
    assert (ce["startDate"], ce["endDate"], ce["costAggregate"], ce["groupBy"]) == (
        "2026-11-02", "2026-11-15", "amortizedCost", '["UsageType"]')
    assert [(f["dimension"]["id"], [v["value"] for v in f["values"]]) for f in json.loads(ce["filter"])] == [
        ("LinkedAccount", ["111111111111"]), ("Service", ["Amazon SageMaker"])]
    health = post(SCENARIOS["health"]())  # no grafana_url: the console page only
    event_line = next(line for line in health.split("\n") if "`AWS_EC2_OPERATIONAL_ISSUE`" in line)
    assert dict(LINK_RE.findall(event_line)) == {"AWS Health": (
        "https://health.aws.amazon.com/health/home#/account/event-log?eventID=arn%3Aaws%3Ahealth%3Aus-east-1%3A%3A"
        "event%2FEC2%2FAWS_EC2_OPERATIONAL_ISSUE%2FAWS_EC2_OPERATIONAL_ISSUE_7f3a&eventTab=details")}


def test_the_usage_types_behind_a_spike_are_named_under_it():
    scenario = SCENARIOS["spike"]()  # its store gives drivers, as the exporter's aws_cost_spike_driver_usd will
    facts = facts_of(scenario)
    driver = facts.item("driver:data-prod:Amazon SageMaker:USE1-ml.p3.2xlarge-hours")
    assert driver is not None and driver.section == "spikes" and not driver.actionable
    lines = plain(post(scenario)).split("\n")
    spike = lines.index("`data-prod` / `Amazon SageMaker`: $321.92 on 2026-11-15 vs a mean of $40.37 (8.0×)")
    assert lines[spike + 1] == "  driven by `USE1-ml.p3.2xlarge-hours`: $290.10 vs a mean of $25.00 (+$265.10)"
    claim = claims.Claim((driver.id,), "SageMaker in `data-prod` is driven by `USE1-ml.p3.2xlarge-hours`, +$265.10.")
    assert claims.check(claim, facts) is None
    wrong = claims.Claim((driver.id,), "It is driven by `USE1-ml.p3.2xlarge-hours`, +$281.55.")
    assert claims.check(wrong, facts) == "figure '+$281.55' is no usd value of the cited facts"


SPIKE = "spike:data-prod:Amazon SageMaker"
TOTALS = ("total:yesterday", "total:month_to_date", "total:last_month")


@pytest.mark.parametrize("ids, text, problem", [
    ((SPIKE,), "`data-prod` / `Amazon SageMaker` spiked to $321.92 on 2026-11-15, 8.0× its 14-day mean of $40.37.",
     None),
    ((SPIKE,), "`web-prod` / `Amazon SageMaker` spiked to $321.92.", "names 'web-prod', which no cited fact it states is about"),
    (("spike:web-prod:Amazon SageMaker",), "`web-prod` / `Amazon SageMaker` spiked to $321.92.",
     "unknown fact id 'spike:web-prod:Amazon SageMaker'"),
    ((SPIKE,), "`data-prod` / `Amazon EC2` spiked to $321.92.", "names 'Amazon EC2', which no cited fact it states is about"),
    ((SPIKE, "total:account:web-prod"), "`web-prod` / `Amazon SageMaker` spiked to $321.92.",
     "names 'web-prod', which no cited fact it states is about"),  # citing web-prod's fact does not make it web-prod's
    ((SPIKE, "total:account:web-prod"), "`data-prod` / `Amazon SageMaker` spiked to $321.92; `web-prod` spent $36.00.",
     None),
    ((SPIKE, "total:account:web-prod"), "`data-prod` spent $36.00; `web-prod` / `Amazon SageMaker` spiked to $321.92.",
     "figure '$36.00' is not a value of data-prod"),
    (TOTALS, "Fleet spend is up 14% on last month.", "figure '14%' is no pct value of the cited facts"),
    (("budget:web",), "`web` is 30% over budget.", "figure '30%' is no pct value of the cited facts"),
    (("budget:web",), "`web` is over budget at $1,318.00 projected.", "says over budget, against the cited facts"),
    (("budget:web",), "`web` is projected at $1,318.00 (65.9%) of $2,000.00 by month end.", None),
    ((SPIKE,), "`data-prod` / `Amazon SageMaker` spiked to $321.92 on 2026-11-14.",
     "'$321.92' is not a figure for '2026-11-14'"),
    ((SPIKE,), "On 2026-11-08, `data-prod` / `Amazon SageMaker` spiked to $321.92.",
     "'2026-11-08' is not the period of the cited facts"),
    (TOTALS, "Fleet: $1,977.60 last month.", "'$1,977.60' is not a figure for 'last month'"),
    (TOTALS, "Fleet: $1,977.60 month to date, $3,535.32 last month.", None),
    ((SPIKE,), "`data-prod` / `Amazon SageMaker` fell to $321.92.", "says $321.92 is down, against the cited facts"),
    ((SPIKE,), "`data-prod` / `Amazon SageMaker` rose $281.55 day over day.",
     "'$281.55' is not a figure for 'day over day'"),
    ((SPIKE,), "`data-prod` / `Amazon SageMaker` spiked to $321.92 (+697.4%).",
     "figure '+697.4%' is no pct value of the cited facts"),  # a mover's percentage, not the spike's
    (("mover:wow:data-prod:Amazon SageMaker",), "`data-prod` / `Amazon SageMaker` rose $281.55 (+697.4%) week over week.",
     None),
    (("total:yesterday",), "Nothing unusual: the fleet spent $379.27 on 2026-11-15.",
     "reassures on a day with something to act on"),
    ((), "The fleet spent $379.27 on 2026-11-15.", "no facts cited"),
    (("total:yesterday",), "The fleet spent $379.27 on 2026-11-15, see https://example.com.",
     "a link, mention or markup"),
    (("total:yesterday",), "@here the fleet spent $379.27 on 2026-11-15.", "a link, mention or markup"),
])
def test_each_claim_is_checked_against_the_facts_it_cites(ids, text, problem):
    facts = facts_of(SCENARIOS["spike"]())
    assert claims.check(claims.Claim(ids, text), facts) == problem


def test_an_answer_in_a_fenced_block_or_with_a_broken_item_is_read_and_prose_is_not():
    fenced = '```json\n{"claims": [{"facts": ["total:yesterday"], "text": "x"}, {"text": 5}]}\n```'
    assert claims.parse(fenced) == [claims.Claim(("total:yesterday",), "x"), claims.Claim((), "")]
    for prose in ("The fleet spent $379.27.", "```json\n{not json\n```", '{"claims": "none"}'):
        with pytest.raises(claims.AnswerError):
            claims.parse(prose)
    assert render.claims_text([], 0, facts_of(SCENARIOS["quiet"]()), "en") == (
        "_AI summary; every statement checked against the facts._")
