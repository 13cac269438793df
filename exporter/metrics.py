"""Snapshot → Prometheus exposition, rendered once per snapshot and served many times.

The exposition has two parts:

* the snapshot part (every AWS-derived family plus per-account collector health), rendered when a
  snapshot is published and kept as bytes and as gzip bytes;
* the live part (process-wide API request counters, Cost Explorer spend, process metrics), small and
  bounded (services × operations), rendered per scrape.

A gzip body is one gzip member: the snapshot part is deflated once, ended with a full flush (byte
aligned, no back-references across it), and each scrape appends only the deflated live part and the
trailer (CRC-32 continued over the live bytes). A scrape never recompresses the large part, and every
client reads the body as an ordinary single-member gzip stream.
"""

from __future__ import annotations

import gzip
import struct
import threading
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.gc_collector import GCCollector

from exporter import __version__
from exporter.aws import ApiStats, is_throttle
from exporter.collectors.base import Collector
from exporter.config import Account
from exporter.snapshot import Snapshot, snapshot_to_json, utcnow

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Families:
    """A prometheus_client collector over a fixed list of families (``describe`` never calls AWS)."""

    def __init__(self, families: Iterable[Metric]):
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)

    def describe(self) -> list[Metric]:
        return []


def render(families: Iterable[Metric]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry)


def snapshot_families(snapshot: Snapshot, accounts: Sequence[Account], collectors: Sequence[Collector]) -> Iterator[Metric]:
    by_id = {a.id: a for a in accounts}
    today = utcnow().date()
    for collector in collectors:
        yield from collector.families(snapshot.for_collector(collector.name), by_id, today)
    yield from exporter_families(snapshot, accounts, collectors)


def exporter_families(snapshot: Snapshot, accounts: Sequence[Account], collectors: Sequence[Collector]) -> Iterator[Metric]:
    info = InfoMetricFamily("aws_account", "Configured AWS accounts (config.yaml accounts[]).",
                            labels=["account", "account_id", "project"])
    for a in accounts:
        info.add_metric([a.name, a.id, a.project], {})
    yield info

    build = InfoMetricFamily("aws_exporter_build", "aws-ops-exporter build information.")
    build.add_metric([], {"version": __version__})
    yield build

    up = GaugeMetricFamily(
        "aws_exporter_collector_up",
        "1 if the collector's last attempt for the account succeeded, 0 if it failed (the account's last good "
        "values are still served; see aws_exporter_collector_last_success_timestamp_seconds).",
        labels=["collector", "account"])
    last_success = GaugeMetricFamily(
        "aws_exporter_collector_last_success_timestamp_seconds",
        "When the collector last collected the account successfully (Unix time); the age of the cached data.",
        labels=["collector", "account"])
    last_attempt = GaugeMetricFamily(
        "aws_exporter_collector_last_attempt_timestamp_seconds",
        "When the collector last tried to collect the account (Unix time).",
        labels=["collector", "account"])
    account_duration = GaugeMetricFamily(
        "aws_exporter_collector_account_duration_seconds",
        "How long the collector's last attempt for the account took.",
        labels=["collector", "account"])
    duration = GaugeMetricFamily(
        "aws_exporter_collector_duration_seconds",
        "How long the collector's last pass over all accounts took.", labels=["collector"])
    last_run = GaugeMetricFamily(
        "aws_exporter_collector_last_run_timestamp_seconds",
        "When the collector's last pass over all accounts started (Unix time).", labels=["collector"])
    interval = GaugeMetricFamily(
        "aws_exporter_collector_interval_seconds",
        "How often the collector runs (config collectors.<name>.interval).", labels=["collector"])
    by_id = {a.id: a for a in accounts}
    for collector in collectors:
        interval.add_metric([collector.name], collector.interval_seconds)
        run = snapshot.runs.get(collector.name)
        if run is not None:
            duration.add_metric([collector.name], run.duration_seconds)
            last_run.add_metric([collector.name], run.started.timestamp())
        for result in snapshot.for_collector(collector.name):
            account = by_id.get(result.account_id)
            if account is None:
                continue
            labels = [collector.name, account.name]
            up.add_metric(labels, 1.0 if result.up else 0.0)
            if result.last_success is not None:
                last_success.add_metric(labels, result.last_success.timestamp())
            if result.last_attempt is not None:
                last_attempt.add_metric(labels, result.last_attempt.timestamp())
            account_duration.add_metric(labels, result.duration_seconds)
    yield from (up, last_success, last_attempt, account_duration, duration, last_run, interval)

    taken = GaugeMetricFamily("aws_exporter_snapshot_timestamp_seconds",
                              "When the snapshot being served was published (Unix time).")
    taken.add_metric([], snapshot.taken_at.timestamp())
    yield taken


class ApiStatsCollector:
    """Process-wide AWS request counters (kept apart from snapshots: they describe the exporter)."""

    def __init__(self, stats: ApiStats):
        self.stats = stats

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        requests, errors, ce_spend, extra_spend = self.stats.view()
        req = CounterMetricFamily("aws_exporter_api_requests",
                                  "AWS API requests the exporter sent (every HTTP attempt, retries included).",
                                  labels=["service", "operation"])
        for (service, operation), n in sorted(requests.items()):
            req.add_metric([service, operation], n)
        err = CounterMetricFamily("aws_exporter_api_errors",
                                  "AWS API requests that failed, by error code (throttling included).",
                                  labels=["service", "operation", "error"])
        thr = CounterMetricFamily("aws_exporter_api_throttles",
                                  "AWS API requests AWS throttled (a subset of aws_exporter_api_errors_total).",
                                  labels=["service", "operation"])
        throttles: dict[tuple[str, str], int] = {}
        for (service, operation, code), n in sorted(errors.items()):
            err.add_metric([service, operation, code], n)
            if is_throttle(code):
                throttles[(service, operation)] = throttles.get((service, operation), 0) + n
        for key, n in sorted(throttles.items()):
            thr.add_metric(list(key), n)
        ce = CounterMetricFamily("aws_exporter_cost_explorer_spend_usd",
                                 "What the exporter's Cost Explorer requests cost: USD 0.01 per successful request.")
        ce.add_metric([], float(ce_spend))
        spend = CounterMetricFamily("aws_exporter_api_spend_usd",
                                    "What the exporter's billable AWS API use cost, by service (Cost Explorer "
                                    "per request, CloudWatch GetMetricData per metric requested).",
                                    labels=["service"])
        spend.add_metric(["ce"], float(ce_spend))
        if extra_spend:
            spend.add_metric(["cloudwatch"], float(extra_spend))
        yield from (req, err, thr, ce, spend)


_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, no mtime, OS unknown


@dataclass(frozen=True, slots=True)
class GzipPrefix:
    """The start of a gzip member holding ``text``, left open so more data can follow without recompressing."""

    data: bytes
    crc: int
    size: int

    @classmethod
    def of(cls, text: bytes) -> GzipPrefix:
        deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        body = deflate.compress(text) + deflate.flush(zlib.Z_FULL_FLUSH)
        return cls(_GZIP_HEADER + body, zlib.crc32(text), len(text))

    def finish(self, tail: bytes) -> bytes:
        deflate = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS)
        body = deflate.compress(tail) + deflate.flush()
        trailer = struct.pack("<II", zlib.crc32(tail, self.crc) & 0xFFFFFFFF, (self.size + len(tail)) & 0xFFFFFFFF)
        return self.data + body + trailer


@dataclass(slots=True)
class _Rendered:
    text: bytes
    gzipped: GzipPrefix
    snapshot_json: bytes
    snapshot_gzipped: bytes | None = None  # compressed on the first request that asks for gzip


class Exposition:
    """The bytes ``/metrics`` and ``/snapshot`` serve, re-rendered only when a snapshot is published."""

    def __init__(self, accounts: Sequence[Account], collectors: Sequence[Collector], stats: ApiStats,
                 process_metrics: bool = True):
        self.accounts = tuple(accounts)
        self.collectors = tuple(collectors)
        self.live = CollectorRegistry(auto_describe=False)
        self.live.register(ApiStatsCollector(stats))
        if process_metrics:
            ProcessCollector(registry=self.live)
            PlatformCollector(registry=self.live)
            GCCollector(registry=self.live)
        self._rendered = _Rendered(b"", GzipPrefix.of(b""), b"{}")
        self._lock = threading.Lock()
        self.renders = 0

    def on_snapshot(self, snapshot: Snapshot) -> None:
        text = render(snapshot_families(snapshot, self.accounts, self.collectors))
        rendered = _Rendered(text, GzipPrefix.of(text), snapshot_to_json(snapshot, self.accounts, __version__))
        with self._lock:
            self._rendered = rendered
            self.renders += 1

    def metrics(self, gzipped: bool = False) -> bytes:
        rendered = self._rendered
        live = generate_latest(self.live)
        if gzipped:
            return rendered.gzipped.finish(live)
        return rendered.text + live

    def snapshot_json(self, gzipped: bool = False) -> bytes:
        """The snapshot as JSON; gzip is made once per snapshot (it is large: every record of every account)."""
        rendered = self._rendered
        if not gzipped:
            return rendered.snapshot_json
        if rendered.snapshot_gzipped is None:
            with self._lock:
                if rendered.snapshot_gzipped is None:
                    rendered.snapshot_gzipped = gzip.compress(rendered.snapshot_json, compresslevel=5)
        return rendered.snapshot_gzipped

