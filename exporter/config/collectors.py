"""The ``collectors:`` section: one sub-section per collector (``cost``, ``health``, ``cloudwatch``)."""

from __future__ import annotations

from exporter.config.cloudwatch import parse_cloudwatch_override
from exporter.config.model import (PAYER, PER_ACCOUNT, CloudWatchSettings, Collectors, CostSettings, DriverSettings,
                                   ForecastSettings, HealthSettings)
from exporter.config.spikes import parse_spike_thresholds
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
        drivers=_parse_drivers(s.section("drivers")),
        record_types=_switch(s.section("record_types"), d.record_types),
        anomalies=_switch(s.section("anomalies"), d.anomalies),
        forecast=_parse_forecast(s.section("forecast")),
    )
    s.close()
    return settings


def _parse_drivers(s: Section) -> DriverSettings:
    d = DriverSettings()
    spike_ratio, spike_min_usd = parse_spike_thresholds(s, d.spike_ratio, d.spike_min_usd)
    settings = DriverSettings(
        enabled=s.boolean("enabled", d.enabled),
        spike_ratio=spike_ratio,
        spike_min_usd=spike_min_usd,
        max_spikes=s.integer("max_spikes", d.max_spikes, minimum=1, maximum=50),
    )
    s.close()
    return settings


def _parse_forecast(s: Section) -> ForecastSettings:
    d = ForecastSettings()
    settings = ForecastSettings(enabled=s.boolean("enabled", d.enabled),
                                per_account=s.boolean("per_account", d.per_account))
    s.close()
    return settings


def _switch(s: Section, default: bool) -> bool:
    """A section with one key, ``enabled`` (room for more without renaming it)."""
    enabled = s.boolean("enabled", default)
    s.close()
    return enabled


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
