"""The CloudWatch keys ``collectors.cloudwatch`` and ``accounts[].cloudwatch`` share, and the queries in them.

The collector's section sets them for the fleet; an account's replaces the value of each key it gives.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from exporter.config.model import CloudWatchOverride, CloudWatchQuery
from exporter.config.validate import Section, cut, shown

CLOUDWATCH_STATS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
PERCENTILE_RE = re.compile(r"^p(\d{1,2}(\.\d{0,2})?|100)$")  # as YACE accepts them: p50, p99, p99.9, p100
# Dimension names become dimension_<name> labels as YACE sanitizes them (these characters → "_").
DIMENSION_NAME_RE = re.compile(r"^[A-Za-z_][\w .:/@<>()=,\\-]{0,254}$", re.ASCII)
NAMESPACE_RE = re.compile(r"^[^:].{0,254}$")


def parse_cloudwatch_override(s: Section) -> CloudWatchOverride:
    """The keys ``collectors.cloudwatch`` and ``accounts[].cloudwatch`` share; absent keys stay None."""
    s.seen.update(("enabled", "regions", "period_seconds", "delay_seconds", "queries"))  # known, for typo hints
    enabled = s.boolean("enabled", False) if s.has("enabled") else None
    regions = None
    if s.has("regions"):
        regions = s.regions("regions", ())
    period = None
    if s.has("period_seconds"):
        period = s.integer("period_seconds", 0, minimum=1, maximum=86400 * 7) or None
        if period and period not in (1, 5, 10, 20, 30) and period % 60:
            s.problem(f"CloudWatch periods are 1, 5, 10, 20, 30 or a multiple of 60 seconds, got {period}",
                      "period_seconds")
            period = None
    delay = s.integer("delay_seconds", 0, minimum=0, maximum=86400 * 14) if s.has("delay_seconds") else None
    queries = None
    if s.has("queries"):
        queries = tuple(q for i, raw in s.items("queries")
                        if (q := _parse_query(raw, s.at("queries") + f"[{i}]", s.problems)))
    return CloudWatchOverride(enabled, regions, period, delay, queries)


def _parse_query(raw: Any, path: str, problems: list[str]) -> CloudWatchQuery | None:
    problems_before = len(problems)
    q = Section(raw, path, problems)
    if len(problems) > problems_before:  # not a mapping: nothing more to say about it
        return None
    namespace = q.string("namespace", required=True, pattern=NAMESPACE_RE,
                         explain="not a CloudWatch namespace (1-255 characters, not starting with ':')")
    metric = q.string("metric", required=True, pattern=re.compile(r"^.{1,255}$"), explain="1-255 characters")
    dimensions: list[tuple[str, str | None]] = []
    raw_dimensions = q.raw("dimensions")
    where = q.at("dimensions")
    if isinstance(raw_dimensions, Mapping):
        pairs = [(k, v, f"{where}.{cut(str(k))}") for k, v in raw_dimensions.items()]
        for name, value, at in pairs:
            if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value):
                q.problems.append(f"{at}: must be a dimension value (a string), got {shown(value)}")
            else:
                dimensions.append((str(name), str(value)))
    elif isinstance(raw_dimensions, list):
        for i, name in enumerate(raw_dimensions):
            if not isinstance(name, str):
                q.problems.append(f"{where}[{i}]: must be a dimension name, got {shown(name)}")
            else:
                dimensions.append((name, None))
    elif raw_dimensions is not None:
        q.problem("must be a mapping of names to values (one series) or a list of names (discover every "
                  f"series), got {type(raw_dimensions).__name__}", "dimensions")
    for name, _ in dimensions:
        if not DIMENSION_NAME_RE.match(name):
            q.problems.append(f"{where}: not a usable dimension name: {shown(name)}")
    if len({name for name, _ in dimensions}) != len(dimensions):
        q.problem("a dimension name is given twice", "dimensions")
    if len(dimensions) > 30:
        q.problem(f"CloudWatch allows at most 30 dimensions, got {len(dimensions)}", "dimensions")
    stats: list[str] = []
    items = q.items("stats")
    if not items and not q.problems_at("stats"):
        q.problem("list at least one statistic (e.g. [Average])", "stats")
    for i, stat in items:
        if not isinstance(stat, str) or not (stat in CLOUDWATCH_STATS or PERCENTILE_RE.match(stat)):
            q.problems.append(f"{q.at('stats')}[{i}]: must be one of {', '.join(CLOUDWATCH_STATS)} or a "
                              f"percentile like p99, got {shown(stat)}")
        elif stat not in stats:
            stats.append(stat)
    q.close()
    if namespace and metric and stats and len(q.problems) == problems_before:
        return CloudWatchQuery(namespace, metric, tuple(dimensions), tuple(stats))
    return None

