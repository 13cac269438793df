"""The exporter's own families from a snapshot: configured accounts, build, per-collector × account health."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric

from exporter import __version__
from exporter.config import Account
from exporter.model import Snapshot


def exporter_families(snapshot: Snapshot, accounts: Sequence[Account],
                      intervals: Mapping[str, float]) -> Iterator[Metric]:
    """``intervals``: each running collector's name → its interval (config collectors.<name>.interval)."""
    info = InfoMetricFamily("aws_account", "Configured AWS accounts (config.yaml accounts[]).",
                            labels=["account", "account_id", "project"])
    for a in accounts:
        info.add_metric([a.name, a.id, a.project], {})
    yield info

    build = InfoMetricFamily("aws_exporter_build", "aws-ops-exporter build information.")
    build.add_metric([], {"version": __version__})
    yield build

    up = GaugeMetricFamily(
        "aws_exporter_collector_up",
        "1 if the collector's last attempt for the account succeeded, 0 if it failed (the account's last good "
        "values are still served; see aws_exporter_collector_last_success_timestamp_seconds).",
        labels=["collector", "account"])
    last_success = GaugeMetricFamily(
        "aws_exporter_collector_last_success_timestamp_seconds",
        "When the collector last collected the account successfully (Unix time); the age of the cached data.",
        labels=["collector", "account"])
    last_attempt = GaugeMetricFamily(
        "aws_exporter_collector_last_attempt_timestamp_seconds",
        "When the collector last tried to collect the account (Unix time).",
        labels=["collector", "account"])
    account_duration = GaugeMetricFamily(
        "aws_exporter_collector_account_duration_seconds",
        "How long the collector's last attempt for the account took.",
        labels=["collector", "account"])
    duration = GaugeMetricFamily(
        "aws_exporter_collector_duration_seconds",
        "How long the collector's last pass over all accounts took.", labels=["collector"])
    last_run = GaugeMetricFamily(
        "aws_exporter_collector_last_run_timestamp_seconds",
        "When the collector's last pass over all accounts started (Unix time).", labels=["collector"])
    interval = GaugeMetricFamily(
        "aws_exporter_collector_interval_seconds",
        "How often the collector runs (config collectors.<name>.interval).", labels=["collector"])
    by_id = {a.id: a for a in accounts}
    for name, seconds in intervals.items():
        interval.add_metric([name], seconds)
        state = snapshot.collectors.get(name)
        if state is None:
            continue
        if state.run is not None:
            duration.add_metric([name], state.run.duration_seconds)
            last_run.add_metric([name], state.run.started.timestamp())
        for result in state.accounts.values():
            account = by_id.get(result.account_id)
            if account is None:
                continue
            labels = [name, account.name]
            up.add_metric(labels, 1.0 if result.up else 0.0)
            if result.last_success is not None:
                last_success.add_metric(labels, result.last_success.timestamp())
            if result.last_attempt is not None:
                last_attempt.add_metric(labels, result.last_attempt.timestamp())
            account_duration.add_metric(labels, result.duration_seconds)
    yield from (up, last_success, last_attempt, account_duration, duration, last_run, interval)

    taken = GaugeMetricFamily("aws_exporter_snapshot_timestamp_seconds",
                              "When the snapshot being served was published (Unix time).")
    taken.add_metric([], snapshot.taken_at.timestamp())
    yield taken
