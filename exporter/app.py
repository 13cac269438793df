"""Wiring: config → AWS clients → collectors → runner → snapshot holder → exposition."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

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
from exporter.credentials import MainCredentials
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


def fleet_roles(config: Config, collectors: Sequence[Collector],
                discovery: Discovery | None) -> dict[str, tuple[str, str | None]]:
    """The roles assumed once for the whole fleet, as wired above, by session tag → (role ARN, ExternalId):
    ``organization`` (discovery, payer Cost Explorer, Health's organization view) and ``monitoring``
    (CloudWatch's monitoring account). Per-account collectors assume each account's role besides."""
    org, cloudwatch = config.organization, config.collectors.cloudwatch
    roles: dict[str, tuple[str, str | None]] = {}
    if org.role_arn and (discovery is not None or any(
            c.fleet_wide and not isinstance(c, MonitoringAccountCollector) for c in collectors)):
        roles["organization"] = (org.role_arn, org.external_id)
    if cloudwatch.monitoring_role_arn and any(isinstance(c, MonitoringAccountCollector) for c in collectors):
        roles["monitoring"] = (cloudwatch.monitoring_role_arn, org.external_id)
    return roles


def api_operations(config: Config, collectors: Sequence[Collector], discovery: Discovery | None) -> set[tuple[str, str]]:
    """Every (service, operation) the exporter may call as configured: what the collectors and discovery
    declare, the start-up identity check, and AssumeRole when any of them goes through a role."""
    operations = {("sts", "GetCallerIdentity")}
    for part in (*collectors, *([discovery] if discovery is not None else [])):
        operations.update(part.operations)
    if fleet_roles(config, collectors, discovery) or any(not c.fleet_wide for c in collectors):
        operations.add(("sts", "AssumeRole"))
    return operations


@dataclass
class App:
    config: Config
    clients: AwsClients
    collectors: list[Collector]
    holder: SnapshotHolder
    runner: Runner
    exposition: Exposition
    discovery: Discovery | None = None
    credentials: MainCredentials = field(init=False)

    def __post_init__(self) -> None:
        self.credentials = MainCredentials(self.clients)

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
        clients.stats.declare(api_operations(config, collectors, discovery))
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

    def schedule_when_credentials_work(self, stop: threading.Event) -> Callable[[], None]:
        """Serving: the schedule starts once the main credentials work, checked at once in the background and
        then with a back-off while they fail (no pass runs before: every one would fail, account by account).
        Returns what stops it."""
        self.clients.stats.main_credentials(False)  # down until a check says otherwise
        started: list[Schedule] = []
        guard = threading.Lock()

        def start() -> None:
            if self.credentials.wait(stop):
                with guard:
                    if not stop.is_set():
                        started.append(self.schedule())

        threading.Thread(target=start, name="main-credentials", daemon=True).start()

        def shutdown() -> None:
            with guard:
                stop.set()
                for schedule in started:
                    schedule.shutdown()
        return shutdown

    def failed_everywhere(self) -> list[str]:
        """The collectors whose last pass failed for every account it covered, and ``discovery`` when the last
        discovery failed (``--once`` then exits 1)."""
        snapshot = self.holder.current
        failed = ["discovery"] if snapshot.discovery is not None and not snapshot.discovery.up else []
        for collector in self.collectors:
            state = snapshot.collectors.get(collector.name)
            results = list(state.accounts.values()) if state is not None else []
            if results and not any(r.up for r in results):
                failed.append(collector.name)
        return failed
