"""``aws.spend_limits``: a hard cap on what the exporter's own AWS requests cost per UTC day.

Before each billed request (a botocore ``before-call`` hook, :meth:`SpendBudget.check`) the budget asks whether
the request's price would take the day's spend past the cap; if so it raises :class:`SpendLimitReached`
(no HTTP request is sent), logs one line for the service and day, and says so through
``ApiStats.spend_limit`` (``aws_exporter_spend_limit_reached{service}``). The scheduler keeps a gated account's
last result as it was (its last-success timestamp shows the age). A new UTC day (from the injected clock)
starts from 0.

The day's spend is kept in ``state_file`` (JSON ``{"day": "YYYY-MM-DD", "usd": {"ce": "0.12", ...}}``, written
atomically after each charge) so a restart does not hand out a second budget. Only with a cap set. Writes from
concurrent requests are ordered: a file never goes back to an older total, and a write that a newer one
already covers is skipped. An unreadable or corrupt file is one warning line and the day starts from 0 (refusing
to start would take the exporter down over a cache file; the cap errs by at most one day's budget then); a file
that cannot be written is one warning until a write works again (one info line then), not one per request.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from exporter.config.model import SpendLimits
from exporter.telemetry import (CLOUDWATCH_PRICE_PER_METRIC_USD, COST_EXPLORER_PRICE_PER_REQUEST_USD,
                                SPEND_LIMITED_SERVICES, ApiStats)

log = logging.getLogger("exporter.spend")

SERVICES = SPEND_LIMITED_SERVICES


class SpendLimitReached(Exception):
    """The next billed request would exceed ``aws.spend_limits`` for today: not sent."""

    def __init__(self, service: str, day: dt.date):
        super().__init__(f"SpendLimitReached: aws.spend_limits for {service} reached on {day}; "
                         "serving the last values until the UTC day rolls over")
        self.service = service


def price_of(service: str, operation: str, params: Mapping[str, Any]) -> Decimal:
    """What one request costs: a Cost Explorer request, or the metrics a GetMetricData asks for."""
    if service == "ce":
        return COST_EXPLORER_PRICE_PER_REQUEST_USD
    if service == "cloudwatch" and operation == "GetMetricData":
        return CLOUDWATCH_PRICE_PER_METRIC_USD * len(params.get("MetricDataQueries") or ())
    return Decimal(0)


def today_of(day: dt.date | None) -> dt.date:
    assert day is not None  # set by _roll
    return day


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)  # clock-ok: the default clock; tests inject theirs


class SpendBudget:
    def __init__(self, caps: Mapping[str, Decimal | None], stats: ApiStats, state_file: str | None = None,
                 clock: Callable[[], dt.datetime] = _utc_now):
        """``caps``: service (``ce``, ``cloudwatch``) → USD per UTC day, None = no cap."""
        self.caps = {s: caps.get(s) for s in SERVICES}
        self.stats = stats
        self.state_file = state_file
        self.clock = clock
        self._lock = threading.Lock()
        self._day: dt.date | None = None  # read from the clock (and the state file) at the first request
        self._spent = {s: Decimal(0) for s in SERVICES}
        self._reached: set[str] = set()
        self._save_lock = threading.Lock()  # one writer at a time; taken after _lock is released
        self._version = 0  # charges so far (under _lock); _saved: the newest version on disk (under _save_lock)
        self._saved = 0
        self._write_failing = False
        stats.on_spend = self.charge

    @property
    def capped(self) -> bool:
        return any(cap is not None for cap in self.caps.values())

    def spent(self, service: str) -> Decimal:
        with self._lock:
            self._roll()
            return self._spent[service]

    def check(self, service: str, operation: str, params: Mapping[str, Any]) -> None:
        """Raises :class:`SpendLimitReached` when this request would take today past the cap."""
        cap = self.caps.get(service)
        if cap is None:
            return
        price = price_of(service, operation, params)
        with self._lock:
            self._roll()
            if price == 0 or self._spent[service] + price <= cap:
                return
            first = service not in self._reached
            self._reached.add(service)
            day, spent = today_of(self._day), self._spent[service]
        if first:
            self.stats.spend_limit(service, True)
            log.warning("event=spend_limit_reached service=%s day=%s spent_usd=%s limit_usd=%s", service, day,
                        spent, cap)
        raise SpendLimitReached(service, day)

    def charge(self, service: str, usd: Decimal) -> None:
        """A billed request went through (ApiStats counts it in the same place)."""
        if service not in self._spent or self.caps.get(service) is None:
            return
        with self._lock:
            self._roll()
            self._spent[service] += usd
            self._version += 1
            version, state = self._version, self._state()
        if self.state_file:
            self._save(self.state_file, version, state)

    def _roll(self) -> None:  # under the lock
        today = self.clock().date()
        if self._day is None:
            self._day = today
            if self.state_file:
                self._load(self.state_file)
        elif today != self._day:
            self._day, self._spent = today, {s: Decimal(0) for s in SERVICES}
            for service in self._reached:
                self.stats.spend_limit(service, False)
            if self._reached:
                log.info("event=spend_limit_reset day=%s", today)
            self._reached = set()

    def _state(self) -> dict[str, Any]:
        return {"day": today_of(self._day).isoformat(), "usd": {s: str(v) for s, v in self._spent.items()}}

    def _load(self, path: str) -> None:
        try:
            with open(path, encoding="utf-8") as f:
                state = json.load(f)
            day = dt.date.fromisoformat(state["day"])
            spent = {s: Decimal(str(state["usd"].get(s, "0"))) for s in SERVICES}
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError, AttributeError, InvalidOperation) as exc:
            log.warning("event=spend_state_unreadable path=%s error=%r action=%r", path, str(exc)[:200],
                        "starting the day's spend from 0")
            return
        if day == self._day:
            self._spent = spent

    def _save(self, path: str, version: int, state: Mapping[str, Any]) -> None:
        with self._save_lock:
            if version <= self._saved:  # a newer total is already on disk
                return
            try:
                _write_atomically(path, state)
            except OSError as exc:
                if not self._write_failing:
                    log.warning("event=spend_state_not_written path=%s error=%r action=%r", path, str(exc)[:200],
                                "counting in memory; warned once until a write works")
                self._write_failing = True
                return
            self._saved = version
            if self._write_failing:
                log.info("event=spend_state_written path=%s", path)
                self._write_failing = False

def _write_atomically(path: str, state: Mapping[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".spend-", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(state, f)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def spend_budget(limits: SpendLimits, stats: ApiStats) -> SpendBudget | None:
    """The budget ``aws.spend_limits`` asks for, None when nothing is capped."""
    if not limits.capped:
        return None
    return SpendBudget({"ce": limits.cost_explorer_usd_per_day, "cloudwatch": limits.cloudwatch_usd_per_day},
                       stats, limits.state_file)
