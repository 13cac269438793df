"""CloudWatch records → metric families, named as YACE names them.

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

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence

from prometheus_client.core import GaugeMetricFamily, UnknownMetricFamily
from prometheus_client.metrics_core import Metric

from exporter.exposition.labels import ACCOUNT_LABELS, account_labels
from exporter.model import AccountInfo, AccountResult, CloudWatchDetail, CloudWatchRecord

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


def record_name(record: CloudWatchRecord) -> str:
    return metric_name(record.namespace, record.metric, record.stat)


_VALID_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def cloudwatch_families(results: Sequence[AccountResult], accounts: Mapping[str, AccountInfo],
                        labels_snake_case: bool = False) -> Iterator[Metric]:
    by_name: dict[str, list[tuple[AccountInfo, CloudWatchRecord]]] = defaultdict(list)
    window_end = GaugeMetricFamily(
        "aws_cloudwatch_window_end_timestamp_seconds",
        "End of the GetMetricData window the account's CloudWatch values come from (Unix time; it ends "
        "delay_seconds before the collection, on a period boundary).", labels=ACCOUNT_LABELS + ["region"])
    for result in results:
        account = accounts.get(result.account_id)
        if account is None or result.last_success is None:
            continue
        for record in result.records:
            by_name[record_name(record)].append((account, record))
        if isinstance(result.detail, CloudWatchDetail):
            for region in result.detail.regions:
                window_end.add_metric(account_labels(account) + [region], result.detail.window_end.timestamp())
    for name in sorted(by_name):
        series = by_name[name]
        first = series[0][1]
        # Label → the dimension names it stands for: "Queue.Name" and "Queue-Name" are both
        # dimension_Queue_Name. Listed twice, the label kept only one position's value (a series lost its
        # dimension value and could collide with another).
        dimensions_of: dict[str, list[str]] = defaultdict(list)
        for dimension in sorted({n for _, r in series for n, _ in r.dimensions}):
            if _VALID_LABEL.match(label := dimension_label(dimension, labels_snake_case)):
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
