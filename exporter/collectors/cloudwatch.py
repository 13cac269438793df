"""CloudWatch: the metrics the config lists, through GetMetricData only, named as YACE names them.

One refresh of one account is, per region: ListMetrics (RecentlyActive=PT3H) for the queries that name
dimension keys only, from a cache refreshed every ``discovery_cache``; then GetMetricData with up to
500 queries per request (NextToken pages followed) over a window of ``WINDOW_PERIODS`` periods that
ended ``delay_seconds`` ago, aligned to the period. The newest datapoint in the window is the value; a
series without a datapoint in the window is left out.

AWS bills GetMetricData per metric requested ($0.01 per 1,000): every query sent is counted in
``aws_exporter_cloudwatch_metrics_requested_total{account}`` and its dollars in
``aws_exporter_api_spend_usd_total{service="cloudwatch"}``.

Names and labels are YACE's (BuildMetricName, PromString; ``dimension_<Name>``, or with
``labels_snake_case`` ``dimension_<name in snake_case>``), so YACE dashboards carry over; every series of
a family has the same label keys (a dimension a series lacks is "").

The families are exposed as ``untyped``, the type Prometheus gives values translated from another
monitoring system under that system's names: a CloudWatch statistic is a per-period aggregate, not a
Prometheus gauge, and YACE's names end in ``_sum``/``_sample_count``, suffixes Prometheus reserves for
summaries and histograms on typed metrics. Queries use them exactly as gauges::

    aws_ec2_cpuutilization_average{account="web-prod",account_id="210987654321",project="web",region="ap-northeast-2",dimension_InstanceId="i-0abc1234"} 37.5
    aws_rds_free_storage_space_minimum{account="data-prod",...,region="us-east-1",dimension_DBInstanceIdentifier="orders"} 1.2e+10
    aws_cloudwatch_window_end_timestamp_seconds{account="web-prod",account_id="210987654321",project="web",region="ap-northeast-2"} 1.7646e+09
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, UnknownMetricFamily
from prometheus_client.metrics_core import Metric

from exporter.aws import ApiStats
from exporter.collectors.base import ACCOUNT_LABELS, Collected, PerAccountCollector, account_labels
from exporter.config import Account, CloudWatchQuery, CloudWatchScope, CloudWatchSettings
from exporter.snapshot import AccountResult, utcnow

UTC = dt.timezone.utc
MAX_QUERIES_PER_REQUEST = 500  # GetMetricData MetricDataQueries limit
WINDOW_PERIODS = 3  # a window of a few periods still finds a value for metrics that report late or sparsely
RECENTLY_ACTIVE = "PT3H"  # the only value ListMetrics accepts
PRICE_PER_METRIC_USD = Decimal("0.01") / 1000

Dimensions = tuple[tuple[str, str], ...]


# ------------------------------------------------------------------------------------ YACE naming

_TO_UNDERSCORE = frozenset(" ,\t/\\.-:=@<>()“")


def prom_string(text: str) -> str:
    """YACE's PromString: separators → "_", "%" → "_percent", snake_case at lower/digit→Upper edges."""
    out: list[str] = []
    prev = ""
    for c in text:
        if c in _TO_UNDERSCORE:
            out.append("_")
        elif c == "%":
            out.append("_percent")
        else:
            if c.isupper() and prev and (prev.islower() or unicodedata.category(prev) == "Nd"):
                out.append("_")
            out.append(c.lower())
        prev = c
    return "".join(out)


def metric_name(namespace: str, metric: str, stat: str) -> str:
    """YACE's BuildMetricName: ``aws_<namespace>_<metric>_<stat>``, metric parts the namespace repeats trimmed."""
    ns = prom_string(namespace.lower()).removeprefix("_")
    name = ns if ns.startswith("aws") else f"aws_{ns}"
    metric_part = prom_string(metric)
    for part in ns.split("_"):
        metric_part = metric_part.removeprefix(part)
    metric_part = metric_part.removeprefix("_")
    return f"{name}_{metric_part}_{prom_string(stat)}" if stat else f"{name}_{metric_part}"


def dimension_label(name: str, snake_case: bool = False) -> str:
    """YACE's label for a dimension (its PromStringTag): ``dimension_`` + the name with separators → "_",
    or, with ``labels_snake_case`` (YACE's -labels-snake-case), + PromString(name): dimension_instance_id."""
    if snake_case:
        return "dimension_" + prom_string(name)
    return "dimension_" + "".join("_" if c in _TO_UNDERSCORE else c for c in name).replace("%", "_percent")


# ---------------------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class MetricSeries:
    """One concrete CloudWatch metric: namespace, name and every dimension with its value."""

    namespace: str
    metric: str
    dimensions: Dimensions


@dataclass(frozen=True, slots=True)
class CloudWatchRecord:
    KIND: ClassVar[str] = "cloudwatch_datapoint"

    region: str
    namespace: str
    metric: str
    stat: str
    dimensions: Dimensions
    value: float
    timestamp: dt.datetime  # the datapoint's (start of its period)

    @property
    def name(self) -> str:
        return metric_name(self.namespace, self.metric, self.stat)


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
        self._requested: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _count_requested(self, account: Account, n: int) -> None:
        with self._lock:
            self._requested[account.name] += n
        if self.stats is not None:
            self.stats.add_spend(PRICE_PER_METRIC_USD * n)

    def requested(self) -> dict[str, int]:
        with self._lock:
            return dict(self._requested)

    def collect_account(self, account: Account, as_of: dt.date, previous: AccountResult | None) -> Collected:
        scope = self.settings.scope(account)
        if scope is None:
            return Collected(records=())
        window = plan_window(collection_time(as_of, self.clock()), scope.period_seconds, scope.delay_seconds)
        records: list[CloudWatchRecord] = []
        for region in scope.regions:
            records.extend(self.collect_region(account, region, scope, window))
        return Collected(records=tuple(records), extra={"window_end": window.end,
                                                        "period_seconds": scope.period_seconds})

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
            self._count_requested(account, len(batch))
            newest.update(parse_metric_data(fetch_metric_data(client, batch, window)))
        records = []
        for q in queries:
            if q.id in newest:
                timestamp, value = newest[q.id]
                records.append(CloudWatchRecord(region, q.series.namespace, q.series.metric, q.stat,
                                                q.series.dimensions, value, timestamp))
        return records

    def families(self, results: Sequence[AccountResult], accounts: Mapping[str, Account],
                 as_of: dt.date) -> Iterable[Metric]:
        yield from cloudwatch_families(results, accounts, self.settings)
        requested = CounterMetricFamily(
            "aws_exporter_cloudwatch_metrics_requested",
            "CloudWatch metrics the exporter requested with GetMetricData (MetricDataQueries sent), which is how "
            "AWS bills it: USD 0.01 per 1,000.", labels=["account"])
        for name, n in sorted(self.requested().items()):
            requested.add_metric([name], n)
        yield requested


# ------------------------------------------------------------------------------------- exposition

_VALID_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def cloudwatch_families(results: Sequence[AccountResult], accounts: Mapping[str, Account],
                        settings: CloudWatchSettings) -> Iterator[Metric]:
    by_name: dict[str, list[tuple[Account, CloudWatchRecord]]] = defaultdict(list)
    window_end = GaugeMetricFamily(
        "aws_cloudwatch_window_end_timestamp_seconds",
        "End of the GetMetricData window the account's CloudWatch values come from (Unix time; it ends "
        "delay_seconds before the collection, on a period boundary).", labels=ACCOUNT_LABELS + ["region"])
    for result in results:
        account = accounts.get(result.account_id)
        if account is None or result.last_success is None:
            continue
        for record in result.records:
            by_name[record.name].append((account, record))
        end = result.extra.get("window_end")
        scope = settings.scope(account)
        if end is not None and scope is not None:
            for region in scope.regions:
                window_end.add_metric(account_labels(account) + [region], end.timestamp())
    for name in sorted(by_name):
        series = by_name[name]
        first = series[0][1]
        # Label → the dimension names it stands for: "Queue.Name" and "Queue-Name" are both
        # dimension_Queue_Name. Listed twice, the label kept only one position's value (a series lost its
        # dimension value and could collide with another).
        dimensions_of: dict[str, list[str]] = defaultdict(list)
        for dimension in sorted({n for _, r in series for n, _ in r.dimensions}):
            if _VALID_LABEL.match(label := dimension_label(dimension, settings.labels_snake_case)):
                dimensions_of[label].append(dimension)
        family = UnknownMetricFamily(
            name,
            f"CloudWatch {first.namespace} {first.metric} {first.stat}, from GetMetricData: the newest datapoint "
            "in a window that ended delay_seconds ago (named as YACE names it). Cached.",
            labels=ACCOUNT_LABELS + ["region"] + list(dimensions_of))
        seen: set[tuple[str, ...]] = set()
        for account, record in sorted(series, key=lambda ar: (ar[0].name, ar[1].region, ar[1].dimensions)):
            dims = dict(record.dimensions)
            values = account_labels(account) + [record.region] + [
                next((dims[d] for d in names if d in dims), "") for names in dimensions_of.values()]
            if tuple(values) in seen:
                continue
            seen.add(tuple(values))
            family.add_metric(values, record.value)
        yield family
    yield window_end
