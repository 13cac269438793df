"""The holder of the current :class:`~exporter.model.Snapshot`, swapped atomically on every publish.

A snapshot maps collector × account id to an :class:`~exporter.model.AccountResult`: the records of the
last *successful* run for that account, plus the outcome of the last attempt. A failed attempt keeps the
previous records (with their ``last_success``), so a scrape never loses an account because one refresh
failed, and the age of what it serves is always visible.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from exporter.model import AccountInfo, AccountResult, CollectorRun, DiscoveryStatus, Snapshot

log = logging.getLogger(__name__)


class SnapshotHolder:
    """Holds the current snapshot. Readers never lock; writers publish a whole new snapshot.

    Subscribers run on publish (in the publisher's thread), e.g. to render ``/metrics`` once per
    snapshot instead of once per scrape.
    """

    def __init__(self, initial: Snapshot | None = None):
        self._current = initial or Snapshot.empty()
        self._write_lock = threading.Lock()
        self._subscribers: list[Callable[[Snapshot], None]] = []
        self._retained: frozenset[str] | None = None  # the collectors whose results are kept; None: all

    @property
    def current(self) -> Snapshot:
        return self._current

    def subscribe(self, callback: Callable[[Snapshot], None]) -> None:
        self._subscribers.append(callback)
        callback(self._current)

    def replace_subscriber(self, old: Callable[[Snapshot], None], new: Callable[[Snapshot], None]) -> None:
        """``new`` instead of ``old`` (a reload's exposition), given the current snapshot first; no publish
        comes between. An error in ``new`` leaves ``old`` subscribed and is raised."""
        with self._write_lock:
            new(self._current)
            self._subscribers[self._subscribers.index(old)] = new

    def retain(self, collectors: Iterable[str]) -> Snapshot:
        """Only these collectors from now on (a reload turned the others off): their state leaves the snapshot,
        and results a pass of another one publishes later (it was running when the reload came) are dropped."""
        names = frozenset(collectors)

        def change(current: Snapshot) -> Snapshot:
            self._retained = names
            return current.with_collectors(names)

        return self._swap(change)

    def publish(self, run: CollectorRun | None, results: Iterable[AccountResult]) -> Snapshot:
        results = tuple(results)

        def change(current: Snapshot) -> Snapshot:
            retained = self._retained
            if retained is None:
                return current.with_run(run, results)
            return current.with_run(run if run is not None and run.collector in retained else None,
                                    tuple(r for r in results if r.collector in retained))

        return self._swap(change)

    def publish_fleet(self, accounts: Iterable[AccountInfo], discovery: DiscoveryStatus | None) -> Snapshot:
        """The accounts served changed (or discovery's status did): results of accounts gone are dropped."""
        accounts = tuple(accounts)
        return self._swap(lambda current: current.with_fleet(accounts, discovery))

    def _swap(self, change: Callable[[Snapshot], Snapshot]) -> Snapshot:
        with self._write_lock:
            snapshot = change(self._current)
            if snapshot is self._current:
                return snapshot  # nothing changed: nothing to render
            for callback in self._subscribers:
                try:
                    callback(snapshot)
                except Exception:  # a rendering bug must not stop collection; the previous rendering stays
                    log.exception("event=snapshot_subscriber_failed generation=%d", snapshot.generation)
            self._current = snapshot  # a single reference assignment: atomic for readers
        return snapshot
