"""Wiring: config → AWS clients → collectors → runner → snapshot holder → exposition."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from exporter import __version__
from exporter.aws import AwsClients, cost_explorer_region
from exporter.collectors.base import Collector
from exporter.collectors.cloudwatch import CloudWatchCollector
from exporter.collectors.cloudwatch_monitoring import MonitoringAccountCollector
from exporter.collectors.cost import CostCollector
from exporter.collectors.cost_payer import PayerCostCollector
from exporter.collectors.health import HealthCollector
from exporter.config import Account, Config
from exporter.config.model import PAYER
from exporter.credentials import MainCredentials
from exporter.discovery import Discovery
from exporter.exposition import Exposition
from exporter.fleet import Fleet, infos
from exporter.model import Snapshot, utcnow
from exporter.scheduler import Runner, Schedule
from exporter.shards import Shard
from exporter.snapshot import SnapshotHolder
from exporter.telemetry import ApiStats, ConfigReloads

COLLECTOR_NAMES = ("cost", "health", "cloudwatch")


def shard_of(config: Config) -> Shard:
    return Shard(config.shard.index, config.shard.count)


def build_collectors(config: Config, clients: AwsClients, only: Iterable[str] | None = None,
                     shard: Shard = Shard()) -> list[Collector]:
    """The enabled collectors (``only`` narrows them further, e.g. from ``--no-collector.X`` flags). A shard
    other than 0 runs none of the organization-wide ones (payer Cost Explorer, Health's organization view, the
    CloudWatch monitoring account): shard 0 asks them once for every account."""
    collectors = _enabled_collectors(config, clients, only)
    return collectors if shard.first else [c for c in collectors if not c.fleet_wide]


def _enabled_collectors(config: Config, clients: AwsClients, only: Iterable[str] | None) -> list[Collector]:
    wanted = set(config.collectors.enabled() if only is None else only)
    collectors: list[Collector] = []
    if "cost" in wanted and config.collectors.cost.mode == PAYER:
        # One query set from the organization's role; its partition's endpoint (else the first account's).
        org = config.organization
        region = _payer_region(config)
        collectors.append(PayerCostCollector(
            config.collectors.cost,
            lambda: clients.in_role(org.role_arn, org.external_id, "ce", region, session_tag="organization")))
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


def _payer_region(config: Config) -> str:
    return cost_explorer_region(config.organization.role_arn or
                                (config.accounts[0].role_arn if config.accounts else "arn:aws:"))


def collector_inputs(config: Config, name: str, timed: bool = True) -> tuple[Any, ...]:
    """What :func:`build_collectors` reads to build the collector ``name``: equal inputs build an equal collector
    (a reload keeps the running one, and its caches). ``timed=False``: leaving its intervals out."""
    org = config.organization
    settings: Any = getattr(config.collectors, name)
    if not timed:
        settings = dataclasses.replace(settings, interval_seconds=0.0, **(
            {"retry_interval_seconds": 0.0} if hasattr(settings, "retry_interval_seconds") else {}))
    if name == "cost":
        return settings, org.role_arn, org.external_id, _payer_region(config) if settings.mode == PAYER else None
    if name == "health":
        return settings, org.role_arn, org.external_id
    return settings, org.external_id


def _assumed_roles(config: Config, collectors: Sequence[Collector], discovery: Discovery | None,
                   accounts: Iterable[Account]) -> dict[str, str | None]:
    """Every role the exporter assumes as configured, serving ``accounts``: role ARN → ExternalId."""
    roles = {a.role_arn: a.external_id for a in accounts}
    roles.update(dict(fleet_roles(config, collectors, discovery).values()))
    return roles


@dataclass(frozen=True)
class Reloaded:
    """What a reload changed (``added``/``removed``: account ids served; discovery may add more later)."""

    accounts: int
    added: tuple[str, ...]
    removed: tuple[str, ...]
    collectors: tuple[str, ...]  # running now
    recollect: tuple[str, ...]  # collectors that collect differently now (or are new): a pass at once
    stopped: tuple[str, ...]  # collectors turned off


@dataclass
class App:
    config: Config
    clients: AwsClients
    collectors: list[Collector]
    holder: SnapshotHolder
    runner: Runner
    exposition: Exposition
    discovery: Discovery | None = None
    reloads: ConfigReloads = field(default_factory=ConfigReloads)
    process_metrics: bool = True
    shard: Shard = Shard()  # fixed at start (--shard, else the config's shard:); a reload does not move it
    running: Schedule | None = None  # once :meth:`schedule` started it
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # one reload at a time
    credentials: MainCredentials = field(init=False)

    def __post_init__(self) -> None:
        self.credentials = MainCredentials(self.clients)

    @classmethod
    def build(cls, config: Config, only: Iterable[str] | None = None, process_metrics: bool = True,
              as_of: dt.date | None = None, reloads: ConfigReloads | None = None) -> App:
        """``as_of``: every pass collects as if today were that UTC day (``--as-of``), else the real today;
        ``reloads``: where config reloads are counted (a new one: loaded now)."""
        clients = AwsClients(config.aws, ApiStats())
        shard = shard_of(config)
        collectors = build_collectors(config, clients, only, shard)
        fleet = Fleet(config.accounts)
        holder = SnapshotHolder(Snapshot.empty(infos(config.accounts), exporter_version=__version__))
        discovery = cls._discovery(config, clients, fleet, holder) if config.organization.enabled else None
        reloads = reloads or ConfigReloads()
        exposition = cls._exposition(config, collectors, clients.stats, process_metrics, reloads, shard)
        holder.subscribe(exposition.on_snapshot)
        clients.stats.declare(api_operations(config, collectors, discovery))
        runner = Runner(fleet, holder, concurrency=config.aws.concurrency,
                        today=(lambda: as_of) if as_of is not None else lambda: utcnow().date(),
                        owns=shard.owns if shard.count > 1 else None)
        return cls(config, clients, collectors, holder, runner, exposition, discovery, reloads, process_metrics,
                   shard)

    @staticmethod
    def _discovery(config: Config, clients: AwsClients, fleet: Fleet, holder: SnapshotHolder) -> Discovery:
        org = config.organization
        return Discovery(org, config.accounts, config.aws.region,
                         lambda: clients.in_role(org.role_arn, org.external_id, "organizations",
                                                 session_tag="organization"), fleet, holder)

    @staticmethod
    def _exposition(config: Config, collectors: Iterable[Collector], stats: ApiStats, process_metrics: bool,
                    reloads: ConfigReloads, shard: Shard) -> Exposition:
        """Sharded, every shard knows the whole fleet (``Snapshot.accounts``: discovery is free) and serves
        ``aws_account_info`` and the account budgets of its own share, shard 0 the project budgets; the cost
        collector of shard 0 in payer mode covers every account, so its account budgets are every account's."""
        collectors = list(collectors)
        cost_fleet_wide = any(c.name == "cost" and c.fleet_wide for c in collectors)
        return Exposition({c.name: c.interval_seconds for c in collectors}, stats,
                          project_budgets=config.budgets.projects if shard.first else {},
                          labels_snake_case=config.collectors.cloudwatch.labels_snake_case,
                          process_metrics=process_metrics, reloads=reloads,
                          shard=(shard.index, shard.count), owns=shard.owns if shard.count > 1 else None,
                          cost_covers_fleet=cost_fleet_wide)

    def collect_once(self, as_of: dt.date | None = None) -> None:
        if self.discovery is not None:
            self.discovery.run()
        for collector in self.collectors:
            self.runner.run(collector, as_of)

    def schedule(self) -> Schedule:
        with self._lock:
            schedule = Schedule(self.runner, self.collectors, self.discovery, max_collectors=len(COLLECTOR_NAMES))
            schedule.start()
            self.running = schedule
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

    # ------------------------------------------------------------------------------------ config reload

    def reload(self, config: Config, only: Iterable[str] | None = None) -> Reloaded:
        """Serve ``config`` (validated) from now on, without a restart and without asking AWS again for what it
        already knows: accounts that stay keep their results; collectors whose settings did not change keep
        running as they were (a new interval counts from their last pass); the others, and new ones, collect at
        once. ``aws:``, ``web:`` and ``log:`` are not applied: they need a restart."""
        with self._lock:
            before = {a.id for a in self.holder.current.accounts}
            roles = _assumed_roles(self.config, self.collectors, self.discovery, self.runner.fleet.accounts)
            collectors, recollect, retimed = self._reloaded_collectors(config, only)
            for running, like in retimed:  # the same collection, new intervals
                running.settings = like.settings  # type: ignore[attr-defined]
                running.interval_seconds, running.retry_interval_seconds = like.interval_seconds, \
                    like.retry_interval_seconds
            exposition = self._exposition(config, collectors, self.clients.stats, self.process_metrics,
                                          self.reloads, self.shard)
            if self._same_exposition(exposition):
                exposition = self.exposition
            else:  # renders the current snapshot before it serves anything
                self.holder.replace_subscriber(self.exposition.on_snapshot, exposition.on_snapshot)
                self.exposition = exposition
            self.holder.retain(c.name for c in collectors)
            discovery, rediscover = self._reloaded_fleet(config)
            self.clients.stats.declare(api_operations(config, collectors, discovery))  # counted from 0
            now_assumed = _assumed_roles(config, collectors, discovery, self.runner.fleet.accounts)
            self.clients.forget(r for r, external_id in roles.items()
                                if r not in now_assumed or now_assumed[r] != external_id)
            if self.running is not None:
                self.running.reconfigure(collectors, recollect, discovery, rediscover)
            stopped = tuple(c.name for c in self.collectors if c.name not in {n.name for n in collectors})
            self.config, self.collectors, self.discovery = config, collectors, discovery
            after = {a.id for a in self.holder.current.accounts}
            return Reloaded(len(after), tuple(sorted(after - before)), tuple(sorted(before - after)),
                            tuple(c.name for c in collectors), tuple(sorted(recollect)), stopped)

    def _reloaded_collectors(self, config: Config, only: Iterable[str] | None
                             ) -> tuple[list[Collector], set[str], list[tuple[Collector, Collector]]]:
        """The collectors for ``config``: the running one where its inputs are the same, the running one given
        new intervals (in ``retimed``, with its like) where only those differ, else a new one (in ``recollect``)."""
        running = {c.name: c for c in self.collectors}
        collectors: list[Collector] = []
        recollect: set[str] = set()
        retimed: list[tuple[Collector, Collector]] = []
        for new in build_collectors(config, self.clients, only, self.shard):
            old = running.get(new.name)
            if old is None or type(old) is not type(new) or \
                    collector_inputs(self.config, new.name, timed=False) != collector_inputs(config, new.name,
                                                                                             timed=False):
                collectors.append(new)
                recollect.add(new.name)
                continue
            collectors.append(old)
            if collector_inputs(self.config, new.name) != collector_inputs(config, new.name):
                retimed.append((old, new))
        return collectors, recollect, retimed

    def _same_exposition(self, new: Exposition) -> bool:
        old = self.exposition
        return (old.intervals, old.project_budgets, old.labels_snake_case, old.cost_covers_fleet) == (
            new.intervals, new.project_budgets, new.labels_snake_case, new.cost_covers_fleet)

    def _reloaded_fleet(self, config: Config) -> tuple[Discovery | None, bool]:
        """Publishes the accounts ``config`` serves; returns discovery (None when off) and whether it must run
        at once to know who is in scope."""
        org = config.organization
        if not org.enabled:
            self.runner.fleet.replace(config.accounts)
            self.holder.publish_fleet(infos(config.accounts), None)
            return None, False
        discovery = self.discovery
        if discovery is None or (discovery.settings.role_arn, discovery.settings.external_id) != (
                org.role_arn, org.external_id):
            fresh = self._discovery(config, self.clients, self.runner.fleet, self.holder)
            if discovery is not None:
                fresh.adopt(discovery)  # another role: serve what the old one found until the new one runs
            discovery = fresh
        known = discovery.reconfigure(org, config.accounts)
        return discovery, not known or discovery is not self.discovery
