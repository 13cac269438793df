"""Snapshot → the bytes ``/metrics`` and ``/snapshot`` serve, rendered once per publish and per source.

``/metrics`` has two parts:

* the snapshot part: one rendering per source (cost, health, cloudwatch) plus the exporter's own
  families. A publish re-renders only the sources whose part of the snapshot changed (a snapshot shares
  the unchanged collectors' state objects, so identity tells), and the exporter's own small part; a
  Health or CloudWatch publish reuses the cost part's bytes (the bulk of a large fleet) as they are.
* the live part (process-wide API counters, spend, process metrics), small and bounded, per scrape.

A gzip body is one gzip member: each snapshot part is deflated on its own and ended with a full flush
(byte aligned, no back-references across it), so the parts' deflate streams concatenate, and a scrape
appends only the deflated live part and the trailer (CRC-32 continued over the live bytes). The
``/snapshot`` JSON is encoded when first asked for, once per snapshot, and kept gzipped only.
"""

from __future__ import annotations

import gzip
import struct
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from exporter.exposition.cloudwatch import cloudwatch_families
from exporter.exposition.cost import budget_family, cost_families, unmapped_family
from exporter.exposition.health import health_families
from exporter.exposition.live import TelemetryCollector
from exporter.exposition.own import exporter_families
from exporter.model import AccountInfo, AccountResult, CollectorState, Snapshot, encode_snapshot
from exporter.telemetry import ApiStats

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


_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, no mtime, OS unknown


def deflate_part(text: bytes) -> bytes:
    """Raw deflate of ``text`` ended with a full flush: byte aligned, no final block, no back-references
    beyond it, so it can be followed by any other such part."""
    deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return deflate.compress(text) + deflate.flush(zlib.Z_FULL_FLUSH)


@dataclass(frozen=True, slots=True)
class Part:
    """One source's rendering: its text, that text deflated, and what it was rendered from."""

    source: Any  # what it was rendered from, compared by identity
    text: bytes
    deflated: bytes

    @classmethod
    def of(cls, source: object, text: bytes) -> Part:
        return cls(source, text, deflate_part(text))


@dataclass(frozen=True, slots=True)
class GzipPrefix:
    """The start of a gzip member holding some text, left open so more data can follow without recompressing."""

    data: bytes
    crc: int
    size: int

    def finish(self, tail: bytes) -> bytes:
        deflate = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS)
        body = deflate.compress(tail) + deflate.flush()
        trailer = struct.pack("<II", zlib.crc32(tail, self.crc) & 0xFFFFFFFF, (self.size + len(tail)) & 0xFFFFFFFF)
        return self.data + body + trailer


class _Fleet:
    """The accounts one rendering labels with, by id (shared by renderings while the snapshot's tuple is)."""

    __slots__ = ("accounts", "by_id")

    def __init__(self, accounts: tuple[AccountInfo, ...]):
        self.accounts = accounts
        self.by_id = {a.id: a for a in accounts}


def _results(state: CollectorState | None) -> Iterable[AccountResult]:
    return state.accounts.values() if state is not None else ()


@dataclass(slots=True)
class _Rendered:
    snapshot: Snapshot
    fleet: _Fleet
    parts: tuple[Part, ...]
    text: bytes
    gzipped: GzipPrefix
    crcs: tuple[int, ...]  # CRC-32 of the text up to and including each part
    snapshot_gzipped: bytes | None = None  # /snapshot, encoded and gzipped on its first request
    lock: threading.Lock = field(default_factory=threading.Lock)


class Exposition:
    """The bytes ``/metrics`` and ``/snapshot`` serve, re-rendered only when a snapshot is published."""

    def __init__(self, intervals: Mapping[str, float], stats: ApiStats,
                 project_budgets: Mapping[str, Decimal] | None = None, labels_snake_case: bool = False,
                 process_metrics: bool = True):
        """``intervals``: the running collectors' names → their intervals (config collectors.<name>). The
        accounts and their labels come from each snapshot (``Snapshot.accounts``: discovery changes them)."""
        self.intervals = dict(intervals)
        self.project_budgets = dict(project_budgets or {})
        self.labels_snake_case = labels_snake_case
        self.live = CollectorRegistry(auto_describe=False)
        self.live.register(TelemetryCollector(stats))
        if process_metrics:
            ProcessCollector(registry=self.live)
            PlatformCollector(registry=self.live)
            GCCollector(registry=self.live)
        self._sources: dict[str, Callable[[CollectorState | None, _Fleet], Iterator[Metric]]] = {
            "cost": self._cost,
            "health": lambda state, fleet: health_families(_results(state), fleet.by_id),
            "cloudwatch": lambda state, fleet: cloudwatch_families(_results(state), fleet.by_id,
                                                                   self.labels_snake_case)}
        self._rendered: _Rendered | None = None
        self._lock = threading.Lock()
        self.renders = 0

    def _part_names(self) -> list[str]:
        """The parts of the snapshot rendering, in order: the running sources (cost first, the big one), then
        the exporter's own."""
        return [name for name in self._sources if name in self.intervals] + ["exporter"]

    def _cost(self, state: CollectorState | None, fleet: _Fleet) -> Iterator[Metric]:
        yield from cost_families(_results(state), fleet.by_id)
        yield unmapped_family(state.run.unmapped if state is not None and state.run is not None else ())
        yield budget_family(self.project_budgets, fleet.accounts)

    def on_snapshot(self, snapshot: Snapshot) -> None:
        before = self._rendered
        previous = dict(zip(self._part_names(), before.parts)) if before is not None else {}
        fleet = before.fleet if before is not None and before.fleet.accounts is snapshot.accounts \
            else _Fleet(snapshot.accounts)
        parts = []
        for name in self._part_names()[:-1]:
            state = snapshot.collectors.get(name)
            reused = previous.get(name)
            # this collector's part did not change, nor did the accounts it is labelled with
            if reused is not None and reused.source[0] is state and reused.source[1] is fleet:
                parts.append(reused)
            else:
                parts.append(Part.of((state, fleet), render(self._sources[name](state, fleet))))
        parts.append(Part.of(snapshot, render(exporter_families(snapshot, self.intervals))))
        crcs = self._crcs(parts, before)
        text = b"".join(p.text for p in parts)
        gzipped = GzipPrefix(_GZIP_HEADER + b"".join(p.deflated for p in parts), crcs[-1], len(text))
        with self._lock:
            self._rendered = _Rendered(snapshot, fleet, tuple(parts), text, gzipped, crcs)
            self.renders += 1

    @staticmethod
    def _crcs(parts: Sequence[Part], before: _Rendered | None) -> tuple[int, ...]:
        """Running CRC-32 over the parts, reusing the previous rendering's for the unchanged leading parts."""
        crcs: list[int] = []
        crc, same_so_far = 0, before is not None
        for i, part in enumerate(parts):
            same_so_far = same_so_far and i < len(before.parts) and before.parts[i] is part  # type: ignore[union-attr]
            crc = before.crcs[i] if same_so_far else zlib.crc32(part.text, crc)  # type: ignore[union-attr]
            crcs.append(crc)
        return tuple(crcs)

    def _current(self) -> _Rendered:
        rendered = self._rendered
        if rendered is None:
            raise RuntimeError("no snapshot rendered yet: subscribe the exposition to the snapshot holder")
        return rendered

    def metrics(self, gzipped: bool = False) -> bytes:
        rendered = self._current()
        live = generate_latest(self.live)
        if gzipped:
            return rendered.gzipped.finish(live)
        return rendered.text + live

    def snapshot_json(self, gzipped: bool = False) -> bytes:
        """The snapshot as JSON (the model, :func:`~exporter.model.encode_snapshot`), encoded and gzipped on the
        first request for this snapshot. Only the gzipped bytes are kept (about 1/15 of the JSON: at 1,000
        accounts 9 MiB instead of 141 MiB held until the next publish); a request without gzip gets them
        decompressed."""
        rendered = self._current()
        with rendered.lock:
            if rendered.snapshot_gzipped is None:
                rendered.snapshot_gzipped = gzip.compress(encode_snapshot(rendered.snapshot), compresslevel=5)
            body = rendered.snapshot_gzipped
        return body if gzipped else gzip.decompress(body)
