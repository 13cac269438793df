"""Snapshot → the bytes ``/metrics`` and ``/snapshot`` serve, rendered once per publish and per source.

``/metrics`` has two parts:

* the snapshot part: one rendering per source (cost, health, cloudwatch) plus the exporter's own
  families. A publish re-renders only the sources whose part of the snapshot changed (a snapshot shares
  the unchanged collectors' state objects, so identity tells), and the exporter's own small part; a
  Health or CloudWatch publish reuses the cost part's bytes (the bulk of a large fleet) as they are.
* the live part (process-wide API counters, spend, process metrics), small and bounded: current at every
  scrape, rendered again only when it changed (:class:`~exporter.exposition.live.LivePart`).

A gzip body is one gzip member: each snapshot part is deflated on its own and ended with a full flush
(byte aligned, no back-references across it), so the parts' deflate streams concatenate. A gzip scrape is
the gzip header, the held parts as they are (no join, no copy: the server hands them to one ``sendmsg``) and
a tail, the deflated live part and the trailer (CRC-32 continued over the live bytes), made again only when
the live text or the snapshot changed: its cost does not grow with the series count beyond the bytes sent.

What is held is the deflated bytes only (the cost part of 1,000 accounts: 2.5 MiB instead of 30 MiB of text,
held twice before); a plain request (rare: Prometheus asks for gzip) gets them inflated while they are sent. A
part is built a chunk of accounts at a time (:data:`CHUNK_ACCOUNTS`), each family's text deflated as it comes,
so a large fleet's samples are never all in memory as objects. The ``/snapshot`` JSON is encoded and gzipped
an account result at a time when first asked for, once per snapshot, and kept gzipped only.
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from exporter.exposition.cloudwatch import cloudwatch_families
from exporter.exposition.cost import budget_family, cost_families, unmapped_family
from exporter.exposition.cost_signals import organization_family, signal_families
from exporter.exposition.health import health_families
from exporter.exposition.live import LivePart, TelemetryCollector, render
from exporter.exposition.own import ReloadCollector, exporter_families
from exporter.model import AccountInfo, AccountResult, CollectorState, Snapshot, encode_snapshot_pieces
from exporter.telemetry import ApiStats, ConfigReloads

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, no mtime, OS unknown
CHUNK_ACCOUNTS = 100  # accounts whose samples are built at once: bounds the transient families of a large fleet
_ZEROS = bytes(1 << 16)


def _crc_of_zeros(count: int, crc: int) -> int:
    view = memoryview(_ZEROS)
    while count > 0:
        crc = zlib.crc32(view[:min(count, len(_ZEROS))], crc)
        count -= len(_ZEROS)
    return crc


def crc32_combine(crc1: int, crc2: int, size2: int) -> int:
    """CRC-32 of A + B from A's CRC and B's CRC and length (zlib's crc32_combine, which Python does not
    expose). A CRC is affine in its start value: crc(B, s) = crc(B, 0) ^ crc(zeros(len B), s) ^ crc(zeros(len B), 0)."""
    return crc2 ^ _crc_of_zeros(size2, crc1) ^ _crc_of_zeros(size2, 0)


# The held parts are deflated once per publish and sent on every scrape: level 9 makes them about a fifth smaller
# than 6 (100,000 cost series: 451 KB instead of 575 KB) for about 0.2 s more per publish of the cost part.
PART_LEVEL = 9


def _deflater() -> Any:
    return zlib.compressobj(PART_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)


def deflate_part(text: bytes) -> bytes:
    """Raw deflate of ``text`` ended with a full flush: byte aligned, no final block, no back-references
    beyond it, so it can be followed by any other such part."""
    deflate = _deflater()
    return deflate.compress(text) + deflate.flush(zlib.Z_FULL_FLUSH)


def inflate(deflated: bytes, wbits: int = -zlib.MAX_WBITS, piece: int = 1 << 16) -> Iterator[bytes]:
    """The text of deflated parts (raw, or with ``wbits=31`` a gzip member), a piece at a time."""
    inflater, view = zlib.decompressobj(wbits), memoryview(deflated)
    for at in range(0, len(view), piece):
        if text := inflater.decompress(view[at:at + piece]):
            yield text
    if text := inflater.flush():
        yield text


@dataclass(frozen=True, slots=True)
class Body:
    """A response body sent in pieces: its length (for Content-Length) and a way to produce them: a tuple of held
    bytes (the server sends them in one go, as they are) or an iterator of pieces made while they are sent."""

    length: int
    pieces: Callable[[], Iterable[bytes]]

    def read(self) -> bytes:
        return b"".join(self.pieces())


class _Stream:
    """One family's text across account chunks, deflated as it comes, with its CRC-32 and length."""

    __slots__ = ("deflate", "deflated", "crc", "size")

    def __init__(self) -> None:
        self.deflate, self.deflated, self.crc, self.size = _deflater(), [], 0, 0

    def add(self, text: bytes) -> None:
        self.deflated.append(self.deflate.compress(text))
        self.crc, self.size = zlib.crc32(text, self.crc), self.size + len(text)

    def finish(self) -> bytes:
        self.deflated.append(self.deflate.flush(zlib.Z_FULL_FLUSH))
        return b"".join(self.deflated)


def _without_header(text: bytes) -> bytes:
    """A family's samples without its ``# HELP`` and ``# TYPE`` lines (every rendered family starts with both)."""
    return text[text.index(b"\n", text.index(b"\n") + 1) + 1:]


@dataclass(frozen=True, slots=True)
class Part:
    """One source's rendering, held deflated only (about 1/12 of the text), with what it was rendered from."""

    source: Any  # what it was rendered from, compared by identity
    deflated: bytes
    crc: int  # CRC-32 of the text
    size: int  # length of the text

    @classmethod
    def of(cls, source: object, text: bytes) -> Part:
        return cls(source, deflate_part(text), zlib.crc32(text), len(text))

    @classmethod
    def of_chunks(cls, source: object, chunks: Iterable[Iterable[Metric]]) -> Part:
        """The text of families built a chunk of accounts at a time: each family's samples from every chunk,
        under its first chunk's HELP and TYPE, the families in the order they first appear; so the text is
        what rendering all accounts at once would give, without all their samples in memory at once."""
        streams: dict[str, _Stream] = {}
        for families in chunks:
            for family in families:
                text = render([family])
                if family.name in streams:
                    text = _without_header(text)
                else:
                    streams[family.name] = _Stream()
                if text:
                    streams[family.name].add(text)
        crc, size = 0, 0
        for stream in streams.values():
            crc, size = crc32_combine(crc, stream.crc, stream.size), size + stream.size
        return cls(source, b"".join(stream.finish() for stream in streams.values()), crc, size)

    def text(self) -> bytes:
        return b"".join(inflate(self.deflated))


def chunked(results: Iterable[AccountResult], size: int | None = None) -> Iterator[list[AccountResult]]:
    size = size or CHUNK_ACCOUNTS
    chunk: list[AccountResult] = []
    for result in results:
        chunk.append(result)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


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
    crc: int  # CRC-32 of the parts' text
    size: int  # its length
    snapshot_gzipped: bytes | None = None  # /snapshot, encoded and gzipped on its first request
    snapshot_size: int = 0  # its length before compression
    lock: threading.Lock = field(default_factory=threading.Lock)


class Exposition:
    """The bytes ``/metrics`` and ``/snapshot`` serve, re-rendered only when a snapshot is published."""

    def __init__(self, intervals: Mapping[str, float], stats: ApiStats,
                 project_budgets: Mapping[str, Decimal] | None = None, labels_snake_case: bool = False,
                 process_metrics: bool = True, reloads: ConfigReloads | None = None,
                 shard: tuple[int, int] = (0, 1), owns: Callable[[str], bool] | None = None,
                 cost_covers_fleet: bool = False):
        """``intervals``: the running collectors' names → their intervals (config collectors.<name>). The
        accounts and their labels come from each snapshot (``Snapshot.accounts``: discovery changes them).
        ``reloads``: the config reloads' outcome, served with the live part. ``shard``: (index, count), served as
        ``aws_exporter_shard_info``; ``owns``: the shard's share by account id (None: every account), whose
        ``aws_account_info`` and account budgets this exporter serves (every account's budgets when
        ``cost_covers_fleet``: payer mode's cost collector answers for all)."""
        self.intervals = dict(intervals)
        self.project_budgets = dict(project_budgets or {})
        self.labels_snake_case = labels_snake_case
        self.shard, self.owns, self.cost_covers_fleet = shard, owns, cost_covers_fleet
        self.live = LivePart()
        self.live.add(stats.view, TelemetryCollector(stats).collect)
        if reloads is not None:
            self.live.add(reloads.view, ReloadCollector(reloads).collect)
        if process_metrics:
            process = CollectorRegistry(auto_describe=False)
            for collector in (ProcessCollector, PlatformCollector, GCCollector):
                collector(registry=process)
            self.live.add_sampled(process)
        self._tail: tuple[_Rendered, bytes, bytes] | None = None  # (for what, the live text, its gzip tail)
        self._sources: dict[str, Callable[[CollectorState | None, _Fleet], Part]] = {
            "cost": self._cost,
            "health": lambda state, fleet: Part.of_chunks((state, fleet), (
                health_families(chunk, fleet.by_id) for chunk in chunked(_results(state)))),
            # one chunk: every series of a CloudWatch family has the label keys all its accounts' dimensions give
            "cloudwatch": lambda state, fleet: Part.of((state, fleet), render(cloudwatch_families(
                list(_results(state)), fleet.by_id, self.labels_snake_case)))}
        self._rendered: _Rendered | None = None
        self._lock = threading.Lock()
        self.renders = 0

    def _part_names(self) -> list[str]:
        """The parts of the snapshot rendering, in order: the running sources (cost first, the big one), then
        the exporter's own."""
        return [name for name in self._sources if name in self.intervals] + ["exporter"]

    def _cost(self, state: CollectorState | None, fleet: _Fleet) -> Part:
        def chunks() -> Iterator[Iterable[Metric]]:
            for chunk in chunked(_results(state)):
                yield cost_families(chunk, fleet.by_id)
                yield signal_families(chunk, fleet.by_id)
            run = state.run if state is not None else None
            yield (unmapped_family(run.unmapped if run is not None else ()),
                   organization_family(run.signals if run is not None else None),
                   budget_family(self.project_budgets, fleet.accounts if self.cost_covers_fleet or self.owns is None
                                 else [a for a in fleet.accounts if self.owns(a.id)]))
        return Part.of_chunks((state, fleet), chunks())

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
                parts.append(self._sources[name](state, fleet))
        parts.append(Part.of(snapshot, render(exporter_families(snapshot, self.intervals, self.shard, self.owns))))
        crc, size = parts[0].crc, parts[0].size  # the first part is the big one: the others are cheap to append
        for part in parts[1:]:
            crc, size = crc32_combine(crc, part.crc, part.size), size + part.size
        with self._lock:
            self._rendered = _Rendered(snapshot, fleet, tuple(parts), crc, size)
            self.renders += 1

    def _current(self) -> _Rendered:
        rendered = self._rendered
        if rendered is None:
            raise RuntimeError("no snapshot rendered yet: subscribe the exposition to the snapshot holder")
        return rendered

    def metrics_body(self, gzipped: bool = False) -> Body:
        """``/metrics``: the held parts and the live part. Gzipped: the gzip header, the held deflated parts as they
        are (no copy, whatever the series count) and a tail: the live part deflated, the trailer; the tail is made
        again only when the live text or the snapshot changed. Plain (rare: Prometheus asks for gzip): the parts
        inflated while they are sent."""
        rendered = self._current()
        live = self.live.text()
        if not gzipped:
            def pieces() -> Iterator[bytes]:
                for part in rendered.parts:
                    yield from inflate(part.deflated)
                yield live
            return Body(rendered.size + len(live), pieces)
        tail = self._tail
        if tail is None or tail[0] is not rendered or tail[1] is not live:
            deflate = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS)
            trailer = struct.pack("<II", zlib.crc32(live, rendered.crc) & 0xFFFFFFFF,
                                  (rendered.size + len(live)) & 0xFFFFFFFF)
            self._tail = tail = (rendered, live, deflate.compress(live) + deflate.flush() + trailer)
        held = (_GZIP_HEADER, *(part.deflated for part in rendered.parts), tail[2])
        return Body(sum(map(len, held)), lambda: held)

    def metrics(self, gzipped: bool = False) -> bytes:
        body = self.metrics_body(gzipped)
        return body if isinstance(body, bytes) else body.read()

    def snapshot_body(self, gzipped: bool = False) -> bytes | Body:
        """The snapshot as JSON (the model, :func:`~exporter.model.encode_snapshot_pieces`), encoded and gzipped
        an account result at a time on the first request for this snapshot: only the gzipped bytes are ever held
        (about 1/15 of the JSON: at 1,000 accounts 9 MiB instead of 141 MiB). A request without gzip gets them
        inflated while they are sent."""
        rendered = self._current()
        with rendered.lock:
            if rendered.snapshot_gzipped is None:
                deflate = zlib.compressobj(5, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # a gzip member
                compressed, size = [], 0
                for piece in encode_snapshot_pieces(rendered.snapshot):
                    compressed.append(deflate.compress(piece))
                    size += len(piece)
                compressed.append(deflate.flush())
                rendered.snapshot_gzipped, rendered.snapshot_size = b"".join(compressed), size
            body, size = rendered.snapshot_gzipped, rendered.snapshot_size
        return body if gzipped else Body(size, lambda: inflate(body, 16 + zlib.MAX_WBITS))

    def snapshot_json(self, gzipped: bool = False) -> bytes:
        body = self.snapshot_body(gzipped)
        return body if isinstance(body, bytes) else body.read()
