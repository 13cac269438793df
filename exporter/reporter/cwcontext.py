"""CloudWatch context next to each spike and mover: the series of the same account whose namespace is the
spike's service (:func:`exporter.reporter.servicemap.namespace_matches`: ``AWS/SageMaker`` for
``Amazon SageMaker``) and that moved by at least ``reporter.summary.cloudwatch_min_change_pct`` percent.

A series is one stored ``cloudwatch_points`` series (namespace, metric, statistic and dimensions, as the
snapshot's record carried them: :func:`exporter.reporter.rows.cloudwatch_row`) in one region. It moved when the
mean of its points on the facts' day (a UTC day, as the cost days are) differs from the mean of its points over
the facts' baseline window (both days included) by at least the threshold, up or down, as a percentage of the
size of the baseline mean. A series without points in both windows, or with a baseline mean of zero (no
percentage from zero), is no context. At most :data:`MAX_PER_ITEM` per spike or mover, the biggest change first.

:func:`stored_means` reads the means (:meth:`exporter.reporter.store.Store.cloudwatch_means`);
:func:`context_rows` picks the rows the facts document carries as ``context_cloudwatch``, which
:mod:`exporter.reporter.factlist` turns into facts of kind ``context_cloudwatch`` (context, never actionable).
The unit is the statistic's where the name says it (``…Utilization`` / ``…Percent``: %, ``SampleCount`` and
``…Count``: a count); CloudWatch's own unit is not in the snapshot, so anything else is a ``value``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlite_utils import Database

from exporter.reporter.factlist import context_items
from exporter.reporter.servicemap import namespace_matches

MAX_PER_ITEM = 3
TENTH = Decimal("0.1")
PERCENT_RE = re.compile(r"(?:Utilization|Percent|Percentage)$")
COUNT_RE = re.compile(r"(?:Count|Invocations|Errors|Throttles|Requests)$")
SAFE_RE = re.compile(r"[\w.:/@+-]{1,128}")


@dataclass(frozen=True, slots=True)
class SeriesMeans:
    account_id: str
    region: str
    namespace: str
    metric: str
    stat: str
    dimensions: tuple[tuple[str, str], ...]
    day_mean: float
    baseline_mean: float


def stored_means(db: Database, account_ids: Iterable[str], day: dt.date, baseline_first: dt.date,
                 baseline_last: dt.date) -> list[SeriesMeans]:
    """The mean of each stored series of ``account_ids`` on ``day`` and over ``baseline_first..baseline_last``,
    for the series with points in both."""
    ids = sorted(set(account_ids))
    if not ids:
        return []
    day_text, first, last = day.isoformat(), baseline_first.isoformat(), baseline_last.isoformat()
    rows = db.execute(
        "SELECT account_id, region, series,"
        " avg(CASE WHEN substr(timestamp, 1, 10) = ? THEN value END),"
        " avg(CASE WHEN substr(timestamp, 1, 10) BETWEEN ? AND ? THEN value END)"
        f" FROM cloudwatch_points WHERE account_id IN ({', '.join('?' * len(ids))})"
        " AND timestamp >= ? AND timestamp < ? GROUP BY account_id, region, series",
        [day_text, first, last, *ids, min(first, day_text), (max(day, baseline_last) + dt.timedelta(days=1)).isoformat()],
    ).fetchall()
    out = []
    for account_id, region, series, day_mean, baseline_mean in rows:
        if day_mean is None or baseline_mean is None:
            continue
        s = json.loads(series)
        out.append(SeriesMeans(account_id, region, s["namespace"], s["metric"], s["stat"],
                               tuple((str(k), str(v)) for k, v in s["dimensions"]), day_mean, baseline_mean))
    return out


def _rounded(value: float) -> Decimal:
    """A mean as shown: one decimal, or three significant digits below 1 (an error rate of 0.00423)."""
    exact = Decimal(repr(value))
    if exact == 0 or abs(exact) >= 1:
        return exact.quantize(TENTH, rounding=ROUND_HALF_UP)
    return exact.quantize(Decimal(1).scaleb(exact.adjusted() - 2), rounding=ROUND_HALF_UP)


def unit_of(metric: str, stat: str) -> str:
    if stat == "SampleCount" or COUNT_RE.search(metric):
        return "count"
    return "pct" if PERCENT_RE.search(metric) else "value"


def _dimensions(means: SeriesMeans) -> str:
    """``EndpointName=llm-prod,VariantName=AllTraffic``. A name or value outside the characters AWS resource names
    use is shown as ``…``: the facts are not fenced as AWS text, and a dimension value is chosen by whoever named
    the resource."""
    return ",".join(f"{_safe(k)}={_safe(v)}" for k, v in means.dimensions)


def _safe(text: str) -> str:
    return text if SAFE_RE.fullmatch(text) else "…"


def series_name(means: SeriesMeans) -> str:
    """``GPUUtilization.Average{EndpointName=llm-prod,VariantName=AllTraffic}``: the metric, statistic and
    dimensions of a series (its namespace and region are fields of their own)."""
    dims = _dimensions(means)
    return f"{means.metric}.{means.stat}" + (f"{{{dims}}}" if dims else "")


def context_rows(means: Iterable[SeriesMeans], data: Mapping[str, Any], min_change_pct: Decimal) -> list[dict[str, Any]]:
    """The ``context_cloudwatch`` rows of a facts document: per spike and mover (in their order), the series of its
    account and service that moved by at least ``min_change_pct`` percent, at most :data:`MAX_PER_ITEM`."""
    moved = []
    for m in means:
        day, base = Decimal(repr(m.day_mean)), Decimal(repr(m.baseline_mean))
        if base == 0:
            continue
        change = (day - base) / abs(base) * 100
        if abs(change) >= min_change_pct:
            moved.append((m, change))
    moved.sort(key=lambda mc: (-abs(mc[1]), mc[0].namespace, series_name(mc[0]), mc[0].region))
    out: list[dict[str, Any]] = []
    for section, about, item in context_items(data):
        picked = [(m, change) for m, change in moved
                  if m.account_id == item.get("account_id") and namespace_matches(m.namespace, item["service"])]
        for m, change in picked[:MAX_PER_ITEM]:
            out.append({"about": about, "section": section, "account": item["account"], "account_id": m.account_id,
                        "service": item["service"], "namespace": m.namespace, "metric": m.metric, "stat": m.stat,
                        "dimensions": _dimensions(m), "series": series_name(m),
                        "region": m.region, "unit": unit_of(m.metric, m.stat), "day_mean": _rounded(m.day_mean),
                        "baseline_mean": _rounded(m.baseline_mean),
                        "change_pct": change.quantize(TENTH, rounding=ROUND_HALF_UP)})
    return out


def names(rows: Iterable[Mapping[str, Any]]) -> set[str]:
    """What the rows name, for the grounding guard and the claims check (a claim may only name what it cites)."""
    return {str(r[k]) for r in rows for k in ("namespace", "metric", "series", "dimensions", "region") if r[k]}
