"""CloudWatch: the metrics the config lists, through GetMetricData only, named as YACE names them.

One refresh of one account is, per region: ListMetrics (RecentlyActive=PT3H) for the queries that name
dimension keys only, from a cache refreshed every ``discovery_cache``; then GetMetricData with up to
500 queries per request (NextToken pages followed) over a window of ``WINDOW_PERIODS`` periods that
ended ``delay_seconds`` ago, aligned to the period. The newest datapoint in the window is the value; a
series without a datapoint in the window is left out. With ``monitoring_account: true`` the same plan runs
once per region for the whole fleet from the monitoring account instead
(:mod:`exporter.collectors.cloudwatch_monitoring`); the helpers here carry the owning account for it.

AWS bills GetMetricData per metric requested ($0.01 per 1,000): every query sent is counted in
``aws_exporter_cloudwatch_metrics_requested_total{account}`` and its dollars in
``aws_exporter_api_spend_usd_total{service="cloudwatch"}``.

Records (:class:`~exporter.model.CloudWatchRecord`) keep CloudWatch's own names; the exposition
(``exporter.exposition.cloudwatch``) names them as YACE does.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exporter.answers import reads_answer
from exporter.collectors.base import Collected, PerAccountCollector
from exporter.config import Account, CloudWatchQuery, CloudWatchScope, CloudWatchSettings
from exporter.model import AccountResult, CloudWatchDetail, CloudWatchRecord, utcnow
from exporter.telemetry import ApiStats

UTC = dt.timezone.utc
OPERATIONS = (("cloudwatch", "ListMetrics"), ("cloudwatch", "GetMetricData"))  # ListMetrics: discover queries
MAX_QUERIES_PER_REQUEST = 500  # GetMetricData MetricDataQueries limit
WINDOW_PERIODS = 3  # a window of a few periods still finds a value for metrics that report late or sparsely
RECENTLY_ACTIVE = "PT3H"  # the only value ListMetrics accepts

Dimensions = tuple[tuple[str, str], ...]


# ---------------------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class MetricSeries:
    """One concrete CloudWatch metric: namespace, name and every dimension with its value; ``account_id`` is
    the account that owns it when read from a monitoring account (None: the caller's own metric)."""

    namespace: str
    metric: str
    dimensions: Dimensions
    account_id: str | None = None


def fixed_series(query: CloudWatchQuery, account_id: str | None = None) -> MetricSeries:
    """The one series a query with every dimension value given names."""
    dims = tuple(sorted((n, v) for n, v in query.dimensions if v is not None))
    return MetricSeries(query.namespace, query.metric, dims, account_id)


@dataclass(frozen=True, slots=True)
class Window:
    start: dt.datetime
    end: dt.datetime
    period_seconds: int


def plan_window(now: dt.datetime, period_seconds: int, delay_seconds: int) -> Window:
    """The window to ask for: it ends ``delay_seconds`` ago, on a period boundary (as CloudWatch aligns)."""
    end_epoch = int((now.timestamp() - delay_seconds) // period_seconds * period_seconds)
    end = dt.datetime.fromtimestamp(end_epoch, UTC)
    return Window(end - dt.timedelta(seconds=WINDOW_PERIODS * period_seconds), end, period_seconds)


def scope_detail(scope: CloudWatchScope, window: Window) -> CloudWatchDetail:
    """What the exposition needs to know about one account's refresh: its window and the regions asked."""
    return CloudWatchDetail(window_start=window.start, window_end=window.end, period_seconds=scope.period_seconds,
                            regions=scope.regions)


def collection_time(as_of: dt.date, now: dt.datetime) -> dt.datetime:
    """The moment a collection as of ``as_of`` reads CloudWatch at: now, or for a past day (``--as-of``) that
    day's first moment (UTC)."""
    return dt.datetime.combine(as_of, dt.time(), tzinfo=UTC) if as_of < now.date() else now


@dataclass(frozen=True, slots=True)
class PlannedQuery:
    id: str
    series: MetricSeries
    stat: str

    def request(self, period_seconds: int) -> dict[str, Any]:
        request: dict[str, Any] = {
            "Id": self.id,
            "MetricStat": {
                "Metric": {"Namespace": self.series.namespace, "MetricName": self.series.metric,
                           "Dimensions": [{"Name": n, "Value": v} for n, v in self.series.dimensions]},
                "Period": period_seconds,
                "Stat": self.stat,
            },
            "ReturnData": True,
        }
        if self.series.account_id is not None:  # from a monitoring account: the linked account to read
            request["AccountId"] = self.series.account_id
        return request


def plan_queries(series_stats: Iterable[tuple[MetricSeries, Sequence[str]]]) -> tuple[PlannedQuery, ...]:
    """One GetMetricData query per distinct (series, stat) — the same series of two accounts is two — ids
    unique across the plan and valid (``^[a-z][a-zA-Z0-9_]*$``)."""
    seen: dict[tuple[MetricSeries, str], PlannedQuery] = {}
    for series, stats in series_stats:
        for stat in stats:
            if (series, stat) not in seen:
                seen[(series, stat)] = PlannedQuery(f"m{len(seen)}", series, stat)
    return tuple(seen.values())


def batches(queries: Sequence[PlannedQuery], size: int = MAX_QUERIES_PER_REQUEST) -> list[Sequence[PlannedQuery]]:
    return [queries[i:i + size] for i in range(0, len(queries), size)]


# ---------------------------------------------------------------------------------------- parsing


@reads_answer("ListMetrics")
def parse_list_metrics(pages: Iterable[Mapping[str, Any]], query: CloudWatchQuery,
                       account_id: str | None = None) -> tuple[MetricSeries, ...]:
    """ListMetrics pages → the series whose dimension names are exactly the query's (values as given).

    Asked with ``IncludeLinkedAccounts``, a page lists each metric's owner in ``OwningAccounts`` (parallel to
    ``Metrics``): that becomes the series' ``account_id``; ``account_id`` is the owner where a page does not say."""
    names = {n for n, _ in query.dimensions}
    fixed = {n: v for n, v in query.dimensions if v is not None}
    found: dict[MetricSeries, None] = {}
    for page in pages:
        metrics = page.get("Metrics", ())
        owners = page.get("OwningAccounts") or ()
        if owners and len(owners) != len(metrics):
            raise ValueError(f"ListMetrics page lists {len(metrics)} metrics but {len(owners)} OwningAccounts")
        for i, m in enumerate(metrics):
            dims = {d["Name"]: d["Value"] for d in m.get("Dimensions", ())}
            if set(dims) != names or any(dims[n] != v for n, v in fixed.items()):
                continue
            found[MetricSeries(m.get("Namespace", query.namespace), m.get("MetricName", query.metric),
                               tuple(sorted(dims.items())), owners[i] if owners else account_id)] = None
    return tuple(found)


@reads_answer("GetMetricData")
def parse_metric_data(pages: Iterable[Mapping[str, Any]]) -> dict[str, tuple[dt.datetime, float]]:
    """GetMetricData pages → query id → its newest (timestamp, value); a query may span pages."""
    newest: dict[str, tuple[dt.datetime, float]] = {}
    for page in pages:
        for result in page.get("MetricDataResults", ()):
            for timestamp, value in zip(result.get("Timestamps", ()), result.get("Values", ())):
                if not math.isfinite(value):  # not a datapoint (and JSON, the snapshot's format, has no NaN)
                    continue
                timestamp = timestamp.astimezone(UTC)
                current = newest.get(result["Id"])
                if current is None or timestamp > current[0]:
                    newest[result["Id"]] = (timestamp, float(value))
    return newest


# --------------------------------------------------------------------------------------- fetching


def fetch_list_metrics(client: Any, query: CloudWatchQuery, linked: bool = False,
                       owning_account: str | None = None) -> Iterator[Mapping[str, Any]]:
    """ListMetrics pages; ``linked``: from a monitoring account, its linked accounts' metrics too (only
    ``owning_account``'s when given)."""
    dimension_filter = [{"Name": n, **({"Value": v} if v is not None else {})} for n, v in query.dimensions]
    cross_account: dict[str, Any] = {}
    if linked:
        cross_account["IncludeLinkedAccounts"] = True
        if owning_account is not None:
            cross_account["OwningAccount"] = owning_account
    yield from client.get_paginator("list_metrics").paginate(
        Namespace=query.namespace, MetricName=query.metric, Dimensions=dimension_filter,
        RecentlyActive=RECENTLY_ACTIVE, **cross_account)


def fetch_metric_data(client: Any, batch: Sequence[PlannedQuery], window: Window) -> Iterator[Mapping[str, Any]]:
    """GetMetricData pages for one batch of at most 500 queries (NextToken followed by the paginator)."""
    if len(batch) > MAX_QUERIES_PER_REQUEST:
        raise ValueError(f"GetMetricData takes at most {MAX_QUERIES_PER_REQUEST} queries, got {len(batch)}")
    yield from client.get_paginator("get_metric_data").paginate(
        MetricDataQueries=[q.request(window.period_seconds) for q in batch],
        StartTime=window.start, EndTime=window.end, ScanBy="TimestampDescending")


def newest_values(client: Any, queries: Sequence[PlannedQuery], window: Window,
                  bill: Callable[[Sequence[PlannedQuery]], None]) -> dict[str, tuple[dt.datetime, float]]:
    """Every query in batches of at most 500 → query id → its newest (timestamp, value); ``bill`` is told each
    batch before it is sent (AWS bills per metric requested, whatever the answer)."""
    newest: dict[str, tuple[dt.datetime, float]] = {}
    for batch in batches(queries):
        bill(batch)
        newest.update(parse_metric_data(fetch_metric_data(client, batch, window)))
    return newest


def records_of(region: str, queries: Iterable[PlannedQuery],
               newest: Mapping[str, tuple[dt.datetime, float]]) -> Iterator[tuple[PlannedQuery, CloudWatchRecord]]:
    """The record of each query that had a datapoint in the window, in plan order."""
    for q in queries:
        if q.id in newest:
            timestamp, value = newest[q.id]
            yield q, CloudWatchRecord(region, q.series.namespace, q.series.metric, q.stat, q.series.dimensions,
                                      value, timestamp)


DiscoveryKey = tuple[str, str, CloudWatchQuery]  # (owning account id, region, query)


class DiscoveryCache:
    """ListMetrics answers per (owning account, region, query), reused for ``ttl_seconds``."""

    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._entries: dict[DiscoveryKey, tuple[float, tuple[MetricSeries, ...]]] = {}
        self._lock = threading.Lock()

    def get(self, key: DiscoveryKey, load: Callable[[], tuple[MetricSeries, ...]]) -> tuple[MetricSeries, ...]:
        return self.get_many([key], lambda missing: {key: load()})[key]

    def get_many(self, keys: Sequence[DiscoveryKey],
                 load: Callable[[Sequence[DiscoveryKey]], Mapping[DiscoveryKey, tuple[MetricSeries, ...]]]
                 ) -> dict[DiscoveryKey, tuple[MetricSeries, ...]]:
        """The answers for ``keys``; ``load`` is called once, with the keys not cached (or expired), and must
        answer each of them (one ListMetrics can answer several owning accounts)."""
        now = self.clock()
        with self._lock:
            entries = {k: self._entries.get(k) for k in keys}
        found = {k: e[1] for k, e in entries.items() if e is not None and now < e[0]}
        missing = [k for k in keys if k not in found]
        if missing:
            loaded = load(missing)
            with self._lock:
                for key in missing:
                    self._entries[key] = (now + self.ttl_seconds, loaded[key])
            found.update((k, loaded[k]) for k in missing)
        return {k: found[k] for k in keys}


# -------------------------------------------------------------------------------------- collector


class CloudWatchCollector(PerAccountCollector):
    name = "cloudwatch"
    operations = OPERATIONS

    def __init__(self, settings: CloudWatchSettings, client_for: Callable[[Account, str], Any],
                 stats: ApiStats | None = None, clock: Callable[[], dt.datetime] = utcnow,
                 discovery: DiscoveryCache | None = None):
        """``client_for(account, region)`` returns a CloudWatch client in that account and region."""
        self.settings = settings
        self.interval_seconds = settings.interval_seconds
        self.client_for = client_for
        self.stats = stats
        self.clock = clock
        self.discovery = discovery or DiscoveryCache(settings.discovery_cache_seconds)

    def collect_account(self, account: Account, as_of: dt.date, previous: AccountResult | None) -> Collected:
        scope = self.settings.scope(account)
        if scope is None:
            return Collected(records=())
        window = plan_window(collection_time(as_of, self.clock()), scope.period_seconds, scope.delay_seconds)
        records: list[CloudWatchRecord] = []
        for region in scope.regions:
            records.extend(self.collect_region(account, region, scope, window))
        return Collected(records=tuple(records), detail=scope_detail(scope, window))

    def series_for(self, account: Account, region: str, client: Any,
                   scope: CloudWatchScope) -> list[tuple[MetricSeries, Sequence[str]]]:
        out: list[tuple[MetricSeries, Sequence[str]]] = []
        for query in scope.queries:
            if query.discover:
                found = self.discovery.get((account.id, region, query),
                                           lambda q=query: parse_list_metrics(fetch_list_metrics(client, q), q))
                out.extend((series, query.stats) for series in found)
            else:
                out.append((fixed_series(query), query.stats))
        return out

    def collect_region(self, account: Account, region: str, scope: CloudWatchScope,
                       window: Window) -> list[CloudWatchRecord]:
        client = self.client_for(account, region)
        queries = plan_queries(self.series_for(account, region, client, scope))

        def bill(batch: Sequence[PlannedQuery]) -> None:
            if self.stats is not None:
                self.stats.cloudwatch_metrics(account.name, len(batch))

        return [record for _, record in records_of(region, queries, newest_values(client, queries, window, bill))]
