"""CloudWatch for the whole fleet from one monitoring account (cross-account observability, OAM).

With ``collectors.cloudwatch.monitoring_account: true`` the exporter reads every account's metrics from the
monitoring account (its own identity, or ``collectors.cloudwatch.monitoring_role_arn``) instead of assuming
a role in each: no AssumeRole into member accounts, one CloudWatch and one OAM client per region. Each
account gets the records and the detail the per-account collector (:mod:`exporter.collectors.cloudwatch`)
would give it, its ``accounts[].cloudwatch`` overrides applied, so the exposition cannot tell the modes apart.

One refresh is, per region that an account's scope asks for:

* OAM ListSinks, then ListAttachedLinks per sink (NextToken pages followed): the accounts linked to the
  monitoring account's sink that share ``AWS::CloudWatch::Metric``, and the sink's owner (the monitoring
  account itself). An account not linked in a region its scope asks for is a failure value
  (``NotLinked: …``: up 0, one log line, no series) and costs no further request; the others go on.
* ListMetrics (``IncludeLinkedAccounts``, RecentlyActive=PT3H) per query that names dimension keys only,
  from the cache per (owning account, region, query): one request set for every account whose entry has
  expired, split by the answer's ``OwningAccounts``, or with ``OwningAccount`` when only one account needs it.
* GetMetricData with each query's ``AccountId``, up to 500 queries per request whatever account they read
  (ids unique across accounts; NextToken pages followed): the request count follows the number of queries,
  not of accounts. Accounts whose ``period_seconds``/``delay_seconds`` differ ask for other windows, so
  each window is its own set of requests.

Billing is counted per owning account, as in per-account mode (``stats.cloudwatch_metrics(account, n)``).
A failing region (an OAM or CloudWatch error) fails the accounts that asked for it, with one log line.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exporter.spend import SpendLimitReached
from exporter.answers import reads_answer
from exporter.aws import EXPECTED_ERRORS, error_message
from exporter.collectors.base import Collected, Failed, Outcome
from exporter.collectors.cloudwatch import (OPERATIONS, DiscoveryCache, DiscoveryKey, MetricSeries, PlannedQuery,
                                            Window, collection_time, fetch_list_metrics, fixed_series, newest_values,
                                            parse_list_metrics, plan_queries, plan_window, records_of,
                                            scope_detail)
from exporter.config import Account, CloudWatchQuery, CloudWatchScope, CloudWatchSettings
from exporter.model import AccountResult, CloudWatchRecord, utcnow
from exporter.telemetry import ApiStats

log = logging.getLogger(__name__)
METRIC_RESOURCE_TYPE = "AWS::CloudWatch::Metric"  # what a link must share for its account's metrics to be read
NOT_LINKED = "NotLinked"


# ---------------------------------------------------------------------------------------------- OAM


def account_of_arn(arn: str) -> str:
    """The account field of an ARN (``arn:aws:oam:us-east-1:123456789012:link/…``)."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or not parts[4]:
        raise ValueError(f"not an ARN with an account: {arn!r}")
    return parts[4]


def fetch_sinks(client: Any) -> Iterator[Mapping[str, Any]]:
    yield from client.get_paginator("list_sinks").paginate()


def fetch_attached_links(client: Any, sink_arn: str) -> Iterator[Mapping[str, Any]]:
    yield from client.get_paginator("list_attached_links").paginate(SinkIdentifier=sink_arn)


@reads_answer("ListSinks")
def parse_sinks(pages: Iterator[Mapping[str, Any]]) -> tuple[str, ...]:
    """ListSinks pages → the sinks' ARNs."""
    return tuple(item["Arn"] for page in pages for item in page.get("Items", ()))


@reads_answer("ListAttachedLinks")
def parse_attached_links(pages: Iterator[Mapping[str, Any]]) -> dict[str, frozenset[str]]:
    """ListAttachedLinks pages → source account id (from each ``LinkArn``) → the resource types it shares."""
    shared: dict[str, set[str]] = defaultdict(set)
    for page in pages:
        for item in page.get("Items", ()):
            shared[account_of_arn(item["LinkArn"])].update(item.get("ResourceTypes", ()))
    return {account_id: frozenset(types) for account_id, types in shared.items()}


@dataclass(frozen=True, slots=True)
class Links:
    """What OAM says about one region: who owns the sinks, and what each linked account shares with them."""

    region: str
    sink_owners: frozenset[str]
    shared: Mapping[str, frozenset[str]]

    def problem(self, account_id: str) -> str | None:
        """Why the monitoring account cannot read ``account_id``'s metrics here, or None when it can."""
        if account_id in self.sink_owners:
            return None  # the monitoring account's own metrics
        types = self.shared.get(account_id)
        where = f"the monitoring account's sink in {self.region}"
        if types is None:
            none = "" if self.sink_owners else " (ListSinks found no sink)"
            return f"{NOT_LINKED}: account {account_id} is not linked to {where}{none}"
        if METRIC_RESOURCE_TYPE not in types:
            return f"{NOT_LINKED}: account {account_id}'s link to {where} does not share {METRIC_RESOURCE_TYPE}"
        return None


def fetch_links(client: Any, region: str) -> Links:
    sinks = parse_sinks(fetch_sinks(client))
    shared: dict[str, frozenset[str]] = {}
    for sink in sinks:
        for account_id, types in parse_attached_links(fetch_attached_links(client, sink)).items():
            shared[account_id] = shared.get(account_id, frozenset()) | types
    return Links(region, frozenset(account_of_arn(s) for s in sinks), shared)


# -------------------------------------------------------------------------------------- collector


class MonitoringAccountCollector:
    """CloudWatch for every account through the monitoring account (see the module's docstring)."""

    name = "cloudwatch"
    fleet_wide = True  # one request set answers for every account: a retry repeats the whole pass
    operations = OPERATIONS + (("oam", "ListSinks"), ("oam", "ListAttachedLinks"))
    retry_interval_seconds: float | None = None

    def __init__(self, settings: CloudWatchSettings, client_for: Callable[[str, str], Any],
                 stats: ApiStats | None = None, clock: Callable[[], dt.datetime] = utcnow,
                 discovery: DiscoveryCache | None = None):
        """``client_for(service, region)`` returns a ``cloudwatch`` or ``oam`` client in the monitoring account."""
        self.settings = settings
        self.interval_seconds = settings.interval_seconds
        self.client_for = client_for
        self.stats = stats
        self.clock = clock
        self.discovery = discovery or DiscoveryCache(settings.discovery_cache_seconds)

    def collect_account(self, account: Account, as_of: dt.date, previous: AccountResult | None) -> Outcome:
        return self.collect_fleet([account], as_of, {} if previous is None else {account.id: previous})[account.id]

    def collect_fleet(self, accounts: Sequence[Account], as_of: dt.date,
                      previous: Mapping[str, AccountResult]) -> dict[str, Outcome]:
        now = collection_time(as_of, self.clock())
        scopes = {a.id: scope for a in accounts if (scope := self.settings.scope(a)) is not None}
        windows = {a_id: plan_window(now, s.period_seconds, s.delay_seconds) for a_id, s in scopes.items()}
        regions = tuple(dict.fromkeys(region for s in scopes.values() for region in s.regions))
        failures: dict[str, Failed] = {}

        def asking(region: str) -> list[Account]:
            return [a for a in accounts if a.id in scopes and a.id not in failures and region in scopes[a.id].regions]

        for region in regions:  # every region's links first: an unlinked account costs no CloudWatch request
            self._check_links(region, asking(region), failures)
        records: dict[tuple[str, str], list[CloudWatchRecord]] = defaultdict(list)
        for region in regions:
            by_window: dict[Window, list[Account]] = defaultdict(list)
            for a in asking(region):
                by_window[windows[a.id]].append(a)
            for window, group in by_window.items():
                try:
                    for account_id, record in self._collect_group(region, window, group, scopes):
                        records[(account_id, region)].append(record)
                except SpendLimitReached:
                    raise
                except Exception as exc:  # noqa: BLE001 - fails this region's accounts, as values
                    self._fail(failures, group, region, exc)

        outcomes: dict[str, Outcome] = {}
        for a in accounts:
            if a.id in failures:
                outcomes[a.id] = failures[a.id]
            elif a.id not in scopes:
                outcomes[a.id] = Collected(records=())  # opted out (accounts[].cloudwatch.enabled: false)
            else:
                scope = scopes[a.id]
                mine = tuple(r for region in scope.regions for r in records[(a.id, region)])
                outcomes[a.id] = Collected(records=mine, detail=scope_detail(scope, windows[a.id]))
        return outcomes

    def _check_links(self, region: str, accounts: Sequence[Account], failures: dict[str, Failed]) -> None:
        if not accounts:
            return
        try:
            links = fetch_links(self.client_for("oam", region), region)
        except Exception as exc:  # noqa: BLE001 - fails this region's accounts, as values
            self._fail(failures, accounts, region, exc)
            return
        for a in accounts:
            if (problem := links.problem(a.id)) is not None:
                log.warning("event=collect_failed collector=%s account=%s account_id=%s region=%s error=%r",
                            self.name, a.name, a.id, region, problem)
                failures[a.id] = Failed(problem)

    def _fail(self, failures: dict[str, Failed], accounts: Sequence[Account], region: str,
              exc: BaseException) -> None:
        message = error_message(exc)
        expected = isinstance(exc, EXPECTED_ERRORS)
        log.log(logging.WARNING if expected else logging.ERROR,
                "event=collect_failed collector=%s account=* accounts=%d region=%s error=%r", self.name,
                len(accounts), region, message, exc_info=None if expected else exc)
        for a in accounts:
            failures[a.id] = Failed(message, exc)

    def _collect_group(self, region: str, window: Window, group: Sequence[Account],
                       scopes: Mapping[str, CloudWatchScope]) -> list[tuple[str, CloudWatchRecord]]:
        """The records of accounts that share a window in one region: (owning account id, record)."""
        client = self.client_for("cloudwatch", region)
        discovered = self._discover(client, region, group, scopes)
        series_stats: list[tuple[MetricSeries, Sequence[str]]] = []
        for a in group:  # account by account, query by query: each account's records in per-account order
            for query in scopes[a.id].queries:
                if query.discover:
                    series_stats.extend((series, query.stats) for series in discovered[(a.id, region, query)])
                else:
                    series_stats.append((fixed_series(query, a.id), query.stats))
        queries = plan_queries(series_stats)
        names = {a.id: a.name for a in group}

        def bill(batch: Sequence[PlannedQuery]) -> None:
            if self.stats is not None:
                for account_id, n in Counter(q.series.account_id for q in batch).items():
                    self.stats.cloudwatch_metrics(names[str(account_id)], n)

        newest = newest_values(client, queries, window, bill)
        return [(str(q.series.account_id), record) for q, record in records_of(region, queries, newest)]

    def _discover(self, client: Any, region: str, group: Sequence[Account],
                  scopes: Mapping[str, CloudWatchScope]) -> dict[DiscoveryKey, tuple[MetricSeries, ...]]:
        found: dict[DiscoveryKey, tuple[MetricSeries, ...]] = {}
        for query in dict.fromkeys(q for a in group for q in scopes[a.id].queries if q.discover):
            keys = [(a.id, region, query) for a in group if query in scopes[a.id].queries]
            found.update(self.discovery.get_many(
                keys, lambda missing, q=query: list_linked_metrics(client, q, missing)))
        return found


def list_linked_metrics(client: Any, query: CloudWatchQuery,
                        keys: Sequence[DiscoveryKey]) -> dict[DiscoveryKey, tuple[MetricSeries, ...]]:
    """One ListMetrics request set for the owning accounts of ``keys`` (``OwningAccount`` when only one)."""
    owners = {account_id for account_id, _, _ in keys}
    only = next(iter(owners)) if len(owners) == 1 else None
    by_owner: dict[str | None, list[MetricSeries]] = defaultdict(list)
    for series in parse_list_metrics(fetch_list_metrics(client, query, linked=True, owning_account=only), query,
                                     account_id=only):
        by_owner[series.account_id].append(series)
    return {key: tuple(by_owner.get(key[0], ())) for key in keys}
