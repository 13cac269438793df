"""Context next to a spike or mover: the open AWS Health events of the same account and service, as facts the
model may cite and the deterministic summary shows; the Health ↔ Cost Explorer ↔ CloudWatch service table."""

from __future__ import annotations

import pytest

from bench.report_scenarios import SCENARIOS
from exporter.config.reporter import ReporterSettings
from exporter.reporter import claims, guard, render
from exporter.reporter.servicemap import ce_services_of_health, ce_services_of_namespace, health_matches
from exporter.reporter.summary import Facts, build_facts

SPIKE = "spike:data-prod:Amazon SageMaker"
CONTEXT = f"context:{SPIKE}:health:AWS_SAGEMAKER_OPERATIONAL_ISSUE:us-east-1"


def test_the_service_table_maps_health_and_cloudwatch_names_to_cost_explorer_ones():
    assert "Amazon Elastic Compute Cloud - Compute" in ce_services_of_health("EC2")
    assert ce_services_of_health("ec2") == ce_services_of_health("EC2")
    assert ce_services_of_namespace("AWS/EC2") == ce_services_of_health("EC2")
    assert ce_services_of_namespace("AWS/SageMaker") == ("Amazon SageMaker",)
    assert health_matches("SAGEMAKER", "Amazon SageMaker")
    assert not health_matches("EC2", "Amazon SageMaker")
    assert not health_matches("NOT_A_SERVICE", "Amazon SageMaker") and not health_matches(None, "AWS Lambda")
    assert ce_services_of_namespace("Custom/App") == ()


def _facts() -> Facts:
    scenario = SCENARIOS["context"]()
    settings = ReporterSettings(timezone="Asia/Seoul")
    return build_facts(scenario.store, scenario.day, scenario.now, settings.summary, scenario.project_budgets,
                       tz=settings.tz)


def test_an_open_health_event_of_the_spikes_account_and_service_sits_next_to_it_and_no_other_does():
    facts = _facts()
    context = [f for f in facts.items if f.kind == "context_health"]
    assert [f.id for f in context if f.extra["about"] == SPIKE] == [CONTEXT]
    assert {f.entity["account"] for f in context} == {"data-prod"}  # data-staging has no SageMaker spike or mover
    fact = facts.item(CONTEXT)
    assert fact.section == "spikes" and fact.entity["service"] == "Amazon SageMaker" and not fact.actionable
    assert fact.prompt()["event_type_code"] == "AWS_SAGEMAKER_OPERATIONAL_ISSUE"


@pytest.mark.parametrize("language, line", [
    ("en", "  AWS Health, open: `SAGEMAKER` `AWS_SAGEMAKER_OPERATIONAL_ISSUE` `us-east-1` since 2026-11-15 11:05 KST"),
    ("ko", "  AWS Health 진행 중: `SAGEMAKER` `AWS_SAGEMAKER_OPERATIONAL_ISSUE` `us-east-1` 시작 2026-11-15 11:05 KST"),
])
def test_the_deterministic_summary_shows_the_context_under_its_spike(language, line):
    facts = _facts()
    text = render.deterministic_text(facts, language, "test")
    lines = text.splitlines()
    spike_at = next(i for i, t in enumerate(lines) if "`data-prod` / `Amazon SageMaker`" in t)
    assert line in lines[spike_at:spike_at + 3]
    assert guard.check(text, facts).ok


@pytest.mark.parametrize("ids, text, problem", [
    ((SPIKE, CONTEXT), "`data-prod` / `Amazon SageMaker` spiked to $321.92 on 2026-11-15 while AWS Health has "
                       "`AWS_SAGEMAKER_OPERATIONAL_ISSUE` open in `us-east-1`.", None),
    ((SPIKE, CONTEXT), "`data-prod` / `Amazon SageMaker` spiked to $321.92 on 2026-11-15 while AWS Health has "
                       "`AWS_SAGEMAKER_OPERATIONAL_ISSUE` open in `data-staging`.",
     "names 'data-staging', which no cited fact it states is about"),
    ((SPIKE, CONTEXT), "`data-prod` / `Amazon SageMaker` spiked to $321.92 on 2026-11-15 while AWS Health has "
                       "`AWS_SAGEMAKER_OPERATIONAL_ISSUE` open in `eu-west-1`.", "unknown name 'eu-west-1'"),
    # another account's event put next to the spike as if it were data-prod's
    ((SPIKE, "health:data-staging:AWS_SAGEMAKER_OPERATIONAL_ISSUE:us-east-1"),
     "`data-prod` / `Amazon SageMaker` spiked to $321.92 on 2026-11-15 while AWS Health has "
     "`AWS_SAGEMAKER_OPERATIONAL_ISSUE` open for `data-prod`.",
     "cites the Health event 'health:data-staging:AWS_SAGEMAKER_OPERATIONAL_ISSUE:us-east-1' beside the cost of "
     "another account"),
])
def test_a_claim_citing_context_is_checked_like_any_other(ids, text, problem):
    assert claims.check(claims.Claim(ids, text), _facts()) == problem
