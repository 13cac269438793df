"""Wiring: config → AWS clients → collectors → runner → snapshot holder → exposition."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from exporter import __version__
from exporter.aws import AwsClients, cost_explorer_region
from exporter.collectors.base import Collector
from exporter.collectors.cloudwatch import CloudWatchCollector
from exporter.collectors.cloudwatch_monitoring import MonitoringAccountCollector
from exporter.collectors.cost import CostCollector
from exporter.collectors.cost_payer import PayerCostCollector
from exporter.collectors.health import HealthCollector
from exporter.config import Config
from exporter.config.model import PAYER
from exporter.discovery import Discovery
from exporter.exposition import Exposition
from exporter.fleet import Fleet, infos
from exporter.model import Snapshot, utcnow
from exporter.scheduler import Runner, Schedule
from exporter.snapshot import SnapshotHolder
from exporter.telemetry import ApiStats

COLLECTOR_NAMES = ("cost", "health", "cloudwatch")


def build_collectors(config: Config, clients: AwsClients, only: Iterable[str] | None = None) -> list[Collector]:
    """The enabled collectors (``only`` narrows them further, e.g. from ``--no-collector.X`` flags)."""
    wanted = set(config.collectors.enabled() if only is None else only)
    collectors: list[Collector] = []
    if "cost" in wanted and config.collectors.cost.mode == PAYER:
        # One query set from the organization's role; its partition's endpoint (else the first account's).
        org = config.organization
        partition_of = org.role_arn or (config.accounts[0].role_arn if config.accounts else "arn:aws:")
        collectors.append(PayerCostCollector(
            config.collectors.cost,
            lambda: clients.in_role(org.role_arn, org.external_id, "ce", cost_explorer_region(partition_of),
                                    session_tag="organization")))
    elif "cost" in wanted:
        # Cost Explorer has one endpoint per partition (us-east-1 in aws), whatever the account's regions.
        collectors.append(CostCollector(
            config.collectors.cost,
            lambda account, service: clients.for_account(account, service, cost_explorer_region(account.role_arn))))
    if "health" in wanted:
        # The Health API is global: the region picks the active (or passive) endpoint; None = the main account.
        org = config.organization
        collectors.append(HealthCollector(
            config.collectors.health,
            lambda account, region: (clients.for_account(account, "health", region) if account is not None
                                     else clients.in_role(org.role_arn, org.external_id, "health", region,
                                                          session_tag="organization"))))
    if "cloudwatch" in wanted:
        cloudwatch = config.collectors.cloudwatch
        if cloudwatch.monitoring_account:
            # Cross-account observability: every account through the monitoring account, one client per region.
            collectors.append(MonitoringAccountCollector(
                cloudwatch,
                lambda service, region: clients.in_role(cloudwatch.monitoring_role_arn, config.organization.external_id,
                                                        service, region, session_tag="monitoring"),
                stats=clients.stats))
        else:
            collectors.append(CloudWatchCollector(
                cloudwatch, lambda account, region: clients.for_account(account, "cloudwatch", region),
                stats=clients.stats))
    return collectors


@dataclass
class App:
    config: Config
    clients: AwsClients
    collectors: list[Collector]
    holder: SnapshotHolder
    runner: Runner
    exposition: Exposition
    discovery: Discovery | None = None

    @classmethod
    def build(cls, config: Config, only: Iterable[str] | None = None, process_metrics: bool = True,
              as_of: dt.date | None = None) -> App:
        """``as_of``: every pass collects as if today were that UTC day (``--as-of``), else the real today."""
        clients = AwsClients(config.aws, ApiStats())
        collectors = build_collectors(config, clients, only)
        fleet = Fleet(config.accounts)
        holder = SnapshotHolder(Snapshot.empty(infos(config.accounts), exporter_version=__version__))
        discovery = None
        if config.organization.enabled:
            org = config.organization
            discovery = Discovery(org, config.accounts, config.aws.region,
                                  lambda: clients.in_role(org.role_arn, org.external_id, "organizations",
                                                          session_tag="organization"), fleet, holder)
        exposition = Exposition({c.name: c.interval_seconds for c in collectors}, clients.stats,
                                project_budgets=config.budgets.projects,
                                labels_snake_case=config.collectors.cloudwatch.labels_snake_case,
                                process_metrics=process_metrics)
        holder.subscribe(exposition.on_snapshot)
        runner = Runner(fleet, holder, concurrency=config.aws.concurrency,
                        today=(lambda: as_of) if as_of is not None else lambda: utcnow().date())
        return cls(config, clients, collectors, holder, runner, exposition, discovery)

    def collect_once(self, as_of: dt.date | None = None) -> None:
        if self.discovery is not None:
            self.discovery.run()
        for collector in self.collectors:
            self.runner.run(collector, as_of)

    def schedule(self) -> Schedule:
        schedule = Schedule(self.runner, self.collectors, self.discovery)
        schedule.start()
        return schedule
