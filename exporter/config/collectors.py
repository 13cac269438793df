"""The ``collectors:`` section: one sub-section per collector (``cost``, ``health``, ``cloudwatch``)."""

from __future__ import annotations

from exporter.config.cloudwatch import parse_cloudwatch_override
from exporter.config.model import PAYER, PER_ACCOUNT, CloudWatchSettings, Collectors, CostSettings, HealthSettings
from exporter.config.validate import REGION_RE, ROLE_ARN_RE, Section

COST_METRICS = ("AmortizedCost", "UnblendedCost", "BlendedCost", "NetAmortizedCost", "NetUnblendedCost")


def parse_collectors(s: Section) -> Collectors:
    collectors = Collectors(cost=_parse_cost(s.section("cost")), health=_parse_health(s.section("health")),
                            cloudwatch=_parse_cloudwatch(s.section("cloudwatch")))
    s.close()
    return collectors


def _parse_cost(s: Section) -> CostSettings:
    d = CostSettings()
    settings = CostSettings(
        enabled=s.boolean("enabled", d.enabled),
        mode=s.string("mode", d.mode, choices=(PER_ACCOUNT, PAYER)),
        interval_seconds=s.duration("interval", d.interval_seconds, minimum=60),
        metric=s.string("metric", d.metric, choices=COST_METRICS),
        baseline_days=s.integer("baseline_days", d.baseline_days, minimum=1, maximum=60),
        refetch_estimated_days=s.integer("refetch_estimated_days", d.refetch_estimated_days, minimum=0, maximum=400),
        history_days=s.integer("history_days", d.history_days, minimum=0, maximum=400),
        retry_interval_seconds=s.duration("retry_interval", d.retry_interval_seconds, minimum=60),
    )
    s.close()
    return settings


def _parse_health(s: Section) -> HealthSettings:
    d = HealthSettings()
    settings = HealthSettings(
        enabled=s.boolean("enabled", d.enabled),
        interval_seconds=s.duration("interval", d.interval_seconds),
        region=s.string("region", d.region, pattern=REGION_RE, explain="not an AWS region"),
        failover_region=s.string("failover_region", d.failover_region, pattern=REGION_RE, explain="not an AWS region"),
        closed_window_seconds=s.duration("closed_window", d.closed_window_seconds, minimum=0.001),
        organization=s.boolean("organization", d.organization),
        subscription_backoff_seconds=s.duration("subscription_backoff", d.subscription_backoff_seconds),
    )
    s.close()
    return settings


def _parse_cloudwatch(s: Section) -> CloudWatchSettings:
    d = CloudWatchSettings()
    shared = parse_cloudwatch_override(s)
    settings = CloudWatchSettings(
        enabled=shared.enabled if shared.enabled is not None else d.enabled,
        interval_seconds=s.duration("interval", d.interval_seconds),
        regions=shared.regions,
        period_seconds=shared.period_seconds or d.period_seconds,
        delay_seconds=d.delay_seconds if shared.delay_seconds is None else shared.delay_seconds,
        queries=shared.queries or (),
        discovery_cache_seconds=s.duration("discovery_cache", d.discovery_cache_seconds, minimum=0.001),
        labels_snake_case=s.boolean("labels_snake_case", d.labels_snake_case),
        monitoring_account=s.boolean("monitoring_account", d.monitoring_account),
        monitoring_role_arn=s.string("monitoring_role_arn", pattern=ROLE_ARN_RE, explain="not an IAM role ARN"),
    )
    s.close()
    return settings
