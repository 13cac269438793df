"""The exporter's own families from a snapshot: the accounts served, build, discovery, per-collector × account
health; and, read on every scrape, the outcome of config reloads."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric

from exporter import __version__
from exporter.model import DiscoveryStatus, Snapshot
from exporter.telemetry import ConfigReloads


def exporter_families(snapshot: Snapshot, intervals: Mapping[str, float], shard: tuple[int, int] = (0, 1),
                      owns: Callable[[str], bool] | None = None) -> Iterator[Metric]:
    """``intervals``: each running collector's name → its interval (config collectors.<name>.interval);
    ``shard``: (index, count); ``owns``: the shard's share, whose accounts ``aws_account_info`` lists (every
    shard knows the whole fleet; each account is listed by one shard only)."""
    accounts = snapshot.accounts
    info = InfoMetricFamily(
        "aws_account",
        "AWS accounts served: listed in config.yaml accounts[] (source=config) or discovered from AWS Organizations "
        "ListAccounts (source=organizations); ou is the parent OU or root id from ListParents (\"\" when unknown).",
        labels=["account", "account_id", "project", "ou", "source"])
    for a in accounts:
        if owns is None or owns(a.id):
            info.add_metric([a.name, a.id, a.project, a.ou, a.source], {})
    yield info
    sharded = InfoMetricFamily(
        "aws_exporter_shard",
        "This replica's share of the accounts (--shard I/N, else config shard.index/shard.count; 0 of 1 = every "
        "account): it collects the accounts whose jump hash of the account id is index; shard 0 also makes the "
        "organization-wide calls.", labels=["index", "count"])
    sharded.add_metric([str(shard[0]), str(shard[1])], {})
    yield sharded
    if snapshot.discovery is not None:
        yield from discovery_families(snapshot.discovery)

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


def discovery_families(status: DiscoveryStatus) -> Iterator[Metric]:
    up = GaugeMetricFamily(
        "aws_exporter_discovery_up",
        "1 if the last AWS Organizations discovery (ListAccounts, ListTagsForResource, ListParents) succeeded, 0 if "
        "it failed (the last good account list is still served).")
    up.add_metric([], 1.0 if status.up else 0.0)
    count = GaugeMetricFamily(
        "aws_exporter_discovered_accounts",
        "ACTIVE accounts in scope (organization.include_ous, exclude_accounts) after the last successful discovery.")
    count.add_metric([], float(status.discovered_accounts))
    yield from (up, count)
    if status.last_success is not None:
        last = GaugeMetricFamily(
            "aws_exporter_discovery_last_success_timestamp_seconds",
            "When AWS Organizations discovery last succeeded (Unix time): the age of the account list.")
        last.add_metric([], status.last_success.timestamp())
        yield last


class ReloadCollector:
    """A prometheus_client collector over :class:`ConfigReloads` (Prometheus's names, ``aws_exporter_`` instead
    of ``prometheus_``)."""

    def __init__(self, reloads: ConfigReloads):
        self.reloads = reloads

    def describe(self) -> list[Metric]:
        return []

    def collect(self, view: tuple[bool, float] | None = None) -> Iterator[Metric]:
        """The families of ``view`` (by default the reloads' outcome now), and of nothing else."""
        successful, last_success = self.reloads.view() if view is None else view
        ok = GaugeMetricFamily(
            "aws_exporter_config_last_reload_successful",
            "1 if the last config reload (SIGHUP or POST /-/reload) succeeded, or none was asked since start; 0 if "
            "it failed (the config loaded before is still in use).")
        ok.add_metric([], 1.0 if successful else 0.0)
        at = GaugeMetricFamily(
            "aws_exporter_config_last_reload_success_timestamp_seconds",
            "When the config in use was loaded (Unix time): at start, then at each successful reload.")
        at.add_metric([], last_success)
        yield from (ok, at)
