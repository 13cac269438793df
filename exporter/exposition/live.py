"""The live part of ``/metrics``: the exporter's process-wide counters (:mod:`exporter.telemetry`) as families,
current at every scrape (the requests and throttles of every operation the exporter may call from 0, and the
main credentials' state), and the process metrics; each rendered again only when what it shows changed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from exporter.telemetry import ApiStats, TelemetryView, is_throttle

# The process metrics (CPU seconds, memory, open fds, GC) are read from /proc and the runtime at most this often:
# a read costs a few hundred µs, more than the rest of a scrape. A scrape sees them at most this old.
PROCESS_METRICS_SECONDS = 1.0


class _Families:
    """A prometheus_client collector over a fixed list of families (``describe`` never reads anything)."""

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


class _Entry:
    __slots__ = ("state", "families", "last")

    def __init__(self, state: Callable[[], Any], families: Callable[[Any], Iterable[Metric]]):
        self.state, self.families = state, families
        self.last: tuple[Any, bytes] | None = None  # (the state it was rendered from, the text)


class LivePart:
    """The live part's text. Each source gives its state (a value that compares equal while its text would be the
    same: the counters' view) and its families rendered from that state; a scrape reads every state (a copy of a
    few dicts) and renders again only the sources whose state changed, so the counters are always current while
    an idle exporter's scrape renders nothing. While nothing changed, :meth:`text` returns the same object."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._entries: list[_Entry] = []
        self._lock = threading.Lock()  # one thread renders a changed source; the others wait for it, not redo it
        self._text: tuple[tuple[Any, ...], bytes] = ((), b"")

    def add(self, state: Callable[[], Any], families: Callable[[Any], Iterable[Metric]]) -> None:
        self._entries.append(_Entry(state, families))

    def add_sampled(self, collector: Any, seconds: float = PROCESS_METRICS_SECONDS) -> None:
        """A prometheus_client collector (or registry) whose values change all the time (the process's CPU
        seconds): read again once the clock has entered the next ``seconds`` since the last read."""
        self.add(lambda: int(self._clock() // seconds), lambda _: collector.collect())

    def text(self) -> bytes:
        states = tuple(entry.state() for entry in self._entries)
        done = self._text
        if done[0] == states:
            return done[1]
        with self._lock:
            texts = []
            for entry, state in zip(self._entries, states):
                if entry.last is None or entry.last[0] != state:
                    entry.last = (state, render(entry.families(state)))
                texts.append(entry.last[1])
            self._text = done = (states, b"".join(texts))
        return done[1]


class TelemetryCollector:
    """A prometheus_client collector over :class:`ApiStats` (``describe`` is empty: registering reads nothing)."""

    def __init__(self, stats: ApiStats):
        self.stats = stats

    def describe(self) -> list[Metric]:
        return []

    def collect(self, view: TelemetryView | None = None) -> Iterator[Metric]:
        """The families of ``view`` (by default the counters now), and of nothing else: :class:`LivePart` renders
        again only when the view changes."""
        view = self.stats.view() if view is None else view
        req = CounterMetricFamily("aws_exporter_api_requests",
                                  "AWS API requests the exporter sent (every HTTP attempt, retries included).",
                                  labels=["service", "operation"])
        for (service, operation), n in sorted(view.requests.items()):
            req.add_metric([service, operation], n)
        err = CounterMetricFamily("aws_exporter_api_errors",
                                  "AWS API requests that failed, by error code (throttling included).",
                                  labels=["service", "operation", "error"])
        thr = CounterMetricFamily("aws_exporter_api_throttles",
                                  "AWS API requests AWS throttled (a subset of aws_exporter_api_errors_total).",
                                  labels=["service", "operation"])
        throttles = dict.fromkeys(view.requests, 0)  # every operation called or declared, from 0
        for (service, operation, code), n in sorted(view.errors.items()):
            err.add_metric([service, operation, code], n)
            if is_throttle(code):
                throttles[(service, operation)] = throttles.get((service, operation), 0) + n
        for key, n in sorted(throttles.items()):
            thr.add_metric(list(key), n)
        ce = CounterMetricFamily("aws_exporter_cost_explorer_spend_usd",
                                 "What the exporter's Cost Explorer requests cost: USD 0.01 per successful request.")
        ce.add_metric([], float(view.cost_explorer_spend_usd))
        spend = CounterMetricFamily("aws_exporter_api_spend_usd",
                                    "What the exporter's billable AWS API use cost, by service (Cost Explorer "
                                    "per request, CloudWatch GetMetricData per metric requested).",
                                    labels=["service"])
        spend.add_metric(["ce"], float(view.cost_explorer_spend_usd))
        if view.cloudwatch_spend_usd:
            spend.add_metric(["cloudwatch"], float(view.cloudwatch_spend_usd))
        requested = CounterMetricFamily(
            "aws_exporter_cloudwatch_metrics_requested",
            "CloudWatch metrics the exporter requested with GetMetricData (MetricDataQueries sent), which is how "
            "AWS bills it: USD 0.01 per 1,000.", labels=["account"])
        for name, n in sorted(view.cloudwatch_metrics_requested.items()):
            requested.add_metric([name], n)
        reached = GaugeMetricFamily("aws_exporter_spend_limit_reached",
                                    "1 while aws.spend_limits stops the exporter's requests to this service "
                                    "until the UTC day rolls over (the last values are served), else 0.",
                                    labels=["service"])
        for service, on in sorted(view.spend_limit_reached.items()):
            reached.add_metric([service], 1 if on else 0)
        yield from (req, err, thr, ce, spend, requested, reached)
        if view.main_credentials_up is not None:
            up = GaugeMetricFamily(
                "aws_exporter_main_credentials_up",
                "1 if the main account's credentials worked at the last sts:GetCallerIdentity check (at start, then "
                "retried with a back-off while they fail; nothing is collected until they work), 0 if not.")
            up.add_metric([], 1.0 if view.main_credentials_up else 0.0)
            yield up
