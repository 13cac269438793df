"""CloudWatch: the metrics the config lists, through GetMetricData only, named as YACE names them.

One refresh of one account is, per region: ListMetrics (RecentlyActive=PT3H) for the queries that name
dimension keys only, from a cache refreshed every ``discovery_cache``; then GetMetricData with up to
500 queries per request (NextToken pages followed) over a window of ``WINDOW_PERIODS`` periods that
ended ``delay_seconds`` ago, aligned to the period. The newest datapoint in the window is the value; a
series without a datapoint in the window is left out.

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

from exporter.collectors.base import Collected, PerAccountCollector
from exporter.config import Account, CloudWatchQuery, CloudWatchScope, CloudWatchSettings
from exporter.model import AccountResult, CloudWatchDetail, CloudWatchRecord, utcnow
from exporter.telemetry import ApiStats

UTC = dt.timezone.utc
MAX_QUERIES_PER_REQUEST = 500  # GetMetricData MetricDataQueries limit
WINDOW_PERIODS = 3  # a window of a few periods still finds a value for metrics that report late or sparsely
RECENTLY_ACTIVE = "PT3H"  # the only value ListMetrics accepts

Dimensions = tuple[tuple[str, str], ...]


# ---------------------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class MetricSeries:
    """One concrete CloudWatch metric: namespace, name and every dimension with its value."""

    namespace: str
    metric: str
    dimensions: Dimensions


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
        return {
            "Id": self.id,
            "MetricStat": {
                "Metric": {"Namespace": self.series.namespace, "MetricName": self.series.metric,
                           "Dimensions": [{"Name": n, "Value": v} for n, v in self.series.dimensions]},
                "Period": period_seconds,
                "Stat": self.stat,
            },
            "ReturnData": True,
        }


def plan_queries(series_stats: Iterable[tuple[MetricSeries, Sequence[str]]]) -> tuple[PlannedQuery, ...]:
    """One GetMetricData query per distinct (series, stat); ids are unique and valid (``^[a-z][a-zA-Z0-9_]*$``)."""
    seen: dict[tuple[MetricSeries, str], PlannedQuery] = {}
    for series, stats in series_stats:
        for stat in stats:
            if (series, stat) not in seen:
                seen[(series, stat)] = PlannedQuery(f"m{len(seen)}", series, stat)
    return tuple(seen.values())


def batches(queries: Sequence[PlannedQuery], size: int = MAX_QUERIES_PER_REQUEST) -> list[Sequence[PlannedQuery]]:
    return [queries[i:i + size] for i in range(0, len(queries), size)]


# ---------------------------------------------------------------------------------------- parsing


def parse_list_metrics(pages: Iterable[Mapping[str, Any]], query: CloudWatchQuery) -> tuple[MetricSeries, ...]:
    """ListMetrics pages → the series whose dimension names are exactly the query's (values as given)."""
    names = {n for n, _ in query.dimensions}
    fixed = {n: v for n, v in query.dimensions if v is not None}
    found: dict[MetricSeries, None] = {}
    for page in pages:
        for m in page.get("Metrics", ()):
            dims = {d["Name"]: d["Value"] for d in m.get("Dimensions", ())}
            if set(dims) != names or any(dims[n] != v for n, v in fixed.items()):
                continue
            found[MetricSeries(m.get("Namespace", query.namespace), m.get("MetricName", query.metric),
                               tuple(sorted(dims.items())))] = None
    return tuple(found)


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


def fetch_list_metrics(client: Any, query: CloudWatchQuery) -> Iterator[Mapping[str, Any]]:
    dimension_filter = [{"Name": n, **({"Value": v} if v is not None else {})} for n, v in query.dimensions]
    yield from client.get_paginator("list_metrics").paginate(
        Namespace=query.namespace, MetricName=query.metric, Dimensions=dimension_filter,
        RecentlyActive=RECENTLY_ACTIVE)


def fetch_metric_data(client: Any, batch: Sequence[PlannedQuery], window: Window) -> Iterator[Mapping[str, Any]]:
    """GetMetricData pages for one batch of at most 500 queries (NextToken followed by the paginator)."""
    if len(batch) > MAX_QUERIES_PER_REQUEST:
        raise ValueError(f"GetMetricData takes at most {MAX_QUERIES_PER_REQUEST} queries, got {len(batch)}")
    yield from client.get_paginator("get_metric_data").paginate(
        MetricDataQueries=[q.request(window.period_seconds) for q in batch],
        StartTime=window.start, EndTime=window.end, ScanBy="TimestampDescending")


class DiscoveryCache:
    """ListMetrics answers per (account, region, query), reused for ``ttl_seconds``."""

    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._entries: dict[tuple[str, str, CloudWatchQuery], tuple[float, tuple[MetricSeries, ...]]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, CloudWatchQuery],
            load: Callable[[], tuple[MetricSeries, ...]]) -> tuple[MetricSeries, ...]:
        now = self.clock()
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and now < entry[0]:
            return entry[1]
        series = load()
        with self._lock:
            self._entries[key] = (now + self.ttl_seconds, series)
        return series


# -------------------------------------------------------------------------------------- collector


class CloudWatchCollector(PerAccountCollector):
    name = "cloudwatch"

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
        return Collected(records=tuple(records), detail=CloudWatchDetail(
            window_start=window.start, window_end=window.end, period_seconds=scope.period_seconds,
            regions=scope.regions))

    def series_for(self, account: Account, region: str, client: Any,
                   scope: CloudWatchScope) -> list[tuple[MetricSeries, Sequence[str]]]:
        out: list[tuple[MetricSeries, Sequence[str]]] = []
        for query in scope.queries:
            if query.discover:
                found = self.discovery.get((account.id, region, query),
                                           lambda q=query: parse_list_metrics(fetch_list_metrics(client, q), q))
                out.extend((series, query.stats) for series in found)
            else:
                dims = tuple(sorted((n, v) for n, v in query.dimensions if v is not None))
                out.append((MetricSeries(query.namespace, query.metric, dims), query.stats))
        return out

    def collect_region(self, account: Account, region: str, scope: CloudWatchScope,
                       window: Window) -> list[CloudWatchRecord]:
        client = self.client_for(account, region)
        queries = plan_queries(self.series_for(account, region, client, scope))
        newest: dict[str, tuple[dt.datetime, float]] = {}
        for batch in batches(queries):
            if self.stats is not None:  # billed per metric requested, whatever the answer
                self.stats.cloudwatch_metrics(account.name, len(batch))
            newest.update(parse_metric_data(fetch_metric_data(client, batch, window)))
        records = []
        for q in queries:
            if q.id in newest:
                timestamp, value = newest[q.id]
                records.append(CloudWatchRecord(region, q.series.namespace, q.series.metric, q.stat,
                                                q.series.dimensions, value, timestamp))
        return records
