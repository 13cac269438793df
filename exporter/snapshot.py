"""The immutable snapshot of everything collected, and the holder that swaps it atomically.

A :class:`Snapshot` maps (collector, account id) to an :class:`AccountResult`: the records of the
last *successful* run for that account, plus the outcome of the last attempt. A failed attempt keeps
the previous records (with their ``last_success``), so a scrape never loses an account because one
refresh failed, and the age of what it serves is always visible.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

UTC = dt.timezone.utc
log = logging.getLogger(__name__)


def utcnow() -> dt.datetime:
    return dt.datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class AccountResult:
    """What one collector knows about one account."""

    collector: str
    account_id: str
    records: tuple[Any, ...] = ()
    up: bool = False
    last_attempt: dt.datetime | None = None
    last_success: dt.datetime | None = None
    duration_seconds: float = 0.0
    error: str | None = None  # one line, "Code: message"; None when the last attempt succeeded
    as_of: dt.date | None = None  # the day the last successful collection treated as today
    # Collector-specific facts that are not records (e.g. health: subscription_required).
    extra: Mapping[str, Any] = field(default_factory=dict)

    def failed(self, at: dt.datetime, duration: float, error: str) -> AccountResult:
        """The same data, marked down: last good records and their last_success stay."""
        return dataclasses.replace(self, up=False, last_attempt=at, duration_seconds=duration, error=error)


@dataclass(frozen=True, slots=True)
class CollectorRun:
    """One pass of a collector over the fleet."""

    collector: str
    started: dt.datetime
    duration_seconds: float
    accounts_ok: int
    accounts_failed: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    taken_at: dt.datetime
    results: Mapping[tuple[str, str], AccountResult] = field(default_factory=dict)
    runs: Mapping[str, CollectorRun] = field(default_factory=dict)
    generation: int = 0

    @classmethod
    def empty(cls) -> Snapshot:
        return cls(taken_at=utcnow(), results=MappingProxyType({}), runs=MappingProxyType({}))

    def result(self, collector: str, account_id: str) -> AccountResult | None:
        return self.results.get((collector, account_id))

    def for_collector(self, collector: str) -> list[AccountResult]:
        return [r for (c, _), r in self.results.items() if c == collector]

    def with_run(self, run: CollectorRun | None, results: Iterable[AccountResult]) -> Snapshot:
        merged = dict(self.results)
        for result in results:
            merged[(result.collector, result.account_id)] = result
        runs = dict(self.runs)
        if run is not None:  # None: a partial pass (a retry) that is not a pass over the fleet
            runs[run.collector] = run
        return Snapshot(taken_at=utcnow(), results=MappingProxyType(merged), runs=MappingProxyType(runs),
                        generation=self.generation + 1)


class SnapshotHolder:
    """Holds the current snapshot. Readers never lock; writers publish a whole new snapshot.

    Subscribers run on publish (in the publisher's thread), e.g. to render ``/metrics`` once per
    snapshot instead of once per scrape.
    """

    def __init__(self, initial: Snapshot | None = None):
        self._current = initial or Snapshot.empty()
        self._write_lock = threading.Lock()
        self._subscribers: list[Callable[[Snapshot], None]] = []

    @property
    def current(self) -> Snapshot:
        return self._current

    def subscribe(self, callback: Callable[[Snapshot], None]) -> None:
        self._subscribers.append(callback)
        callback(self._current)

    def publish(self, run: CollectorRun | None, results: Iterable[AccountResult]) -> Snapshot:
        results = tuple(results)
        with self._write_lock:
            snapshot = self._current.with_run(run, results)
            for callback in self._subscribers:
                try:
                    callback(snapshot)
                except Exception:  # a rendering bug must not stop collection; the previous rendering stays
                    log.exception("event=snapshot_subscriber_failed generation=%d", snapshot.generation)
            self._current = snapshot  # a single reference assignment: atomic for readers
        return snapshot


# ------------------------------------------------------------------------------------------- JSON


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")  # exact and plain (never 1.234E-7, never a float)
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (MappingProxyType, Mapping)):
        return dict(value)
    if isinstance(value, (tuple, frozenset, set)):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def record_to_dict(record: Any) -> dict[str, Any]:
    data = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    data["kind"] = getattr(record, "KIND", type(record).__name__)
    return data


def _dumps(value: Any) -> bytes:
    return json.dumps(value, default=_json_default, ensure_ascii=False, separators=(",", ":")).encode()


def snapshot_to_json(snapshot: Snapshot, accounts: Iterable[Any], version: str) -> bytes:
    """The ``/snapshot`` document: exact decimal strings, ISO dates, one entry per collector × account.

    ``{"taken_at", "generation", "exporter_version", "accounts": [{id, name, project}],
      "collectors": {name: {"run": {...}, "accounts": {account_id: {up, last_success, last_attempt,
      error, as_of, extra, records: [{kind, ...}]}}}}}``

    Written as a list of encoded parts joined once: a large fleet holds hundreds of thousands of
    records, and a document of dicts (or repeated concatenation) would cost several times the JSON's
    size at its peak.
    """
    by_collector: dict[str, list[tuple[str, AccountResult]]] = {}
    for (collector, account_id), result in sorted(snapshot.results.items()):
        by_collector.setdefault(collector, []).append((account_id, result))
    names = list(by_collector) + [name for name in snapshot.runs if name not in by_collector]

    head = _dumps({
        "taken_at": snapshot.taken_at,
        "generation": snapshot.generation,
        "exporter_version": version,
        "accounts": [{"id": a.id, "name": a.name, "project": a.project} for a in accounts],
    })
    parts = [head[:-1], b',"collectors":{']
    for i, name in enumerate(names):
        run = snapshot.runs.get(name)
        parts += [b"," if i else b"", _dumps(name), b':{"run":', _dumps(dataclasses.asdict(run)) if run else b"null",
                  b',"accounts":{']
        for j, (account_id, result) in enumerate(by_collector.get(name, [])):
            parts += [b"," if j else b"", _dumps(account_id), b":", _dumps({
                "up": result.up,
                "last_attempt": result.last_attempt,
                "last_success": result.last_success,
                "duration_seconds": round(result.duration_seconds, 6),
                "error": result.error,
                "as_of": result.as_of,
                "extra": dict(result.extra),
                "records": [record_to_dict(r) for r in result.records],
            })]
        parts.append(b"}}")
    parts.append(b"}}")
    return b"".join(parts)
