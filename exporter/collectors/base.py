"""What every collector is: a name, an interval, a way to collect one account (or the whole fleet).

The runner (``exporter.scheduler``) owns timing, error handling and publishing; a collector only talks
to AWS through the clients it is given and turns responses into model records
(:mod:`exporter.model`). Turning records into metrics is the exposition's job, never a collector's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from exporter.config import Account
from exporter.model import AccountResult, CostSignals, Detail, Record, UnmappedCost


@dataclass(frozen=True, slots=True)
class Collected:
    """A successful collection for one account, and what the exposition must know about how it was made."""

    records: Sequence[Record]  # a tuple, or exporter.compact.CostRecords
    detail: Detail | None = None


@dataclass(frozen=True, slots=True)
class Failed:
    """A failed collection for one account, as a value (the runner logs it and keeps old records)."""

    error: str
    exception: BaseException | None = None
    detail: Detail | None = None  # e.g. Health's subscription back-off, kept even though the attempt failed


Outcome = Collected | Failed


class FleetOutcomes(dict[str, Outcome]):
    """What ``collect_fleet`` returns when its pass also saw cost beyond the fleet (payer mode: accounts
    excluded, not ACTIVE or outside ``include_ous``), summed per period in ``unmapped``, and the organization's
    own signals (payer mode's forecast for the whole organization) in ``signals``."""

    def __init__(self, outcomes: Mapping[str, Outcome], unmapped: Sequence[UnmappedCost] = (),
                 signals: CostSignals | None = None):
        super().__init__(outcomes)
        self.unmapped = tuple(unmapped)
        self.signals = signals


class Collector(Protocol):
    name: str
    interval_seconds: float
    # Failed accounts are collected again this long after a pass (None: wait for the next pass).
    retry_interval_seconds: float | None
    # One request set answers for every account (payer Cost Explorer, a monitoring account): a retry repeats
    # the whole pass rather than asking again for the failed accounts alone.
    fleet_wide: bool
    # The (service, operation) pairs it may call, as botocore names them: their request and throttle counters
    # start at 0 (exporter.telemetry).
    operations: tuple[tuple[str, str], ...]

    def collect_account(self, account: Account, as_of: dt.date, previous: AccountResult | None) -> Outcome:
        """Collect one account; raise on failure (the runner turns it into a ``Failed``), or return a ``Failed``
        that carries a detail to keep (e.g. Health's subscription back-off)."""

    def collect_fleet(self, accounts: Sequence[Account], as_of: dt.date,
                      previous: Mapping[str, AccountResult]) -> Mapping[str, Outcome] | None:
        """Collect every account in one go (e.g. an organization-wide API), or None to go account by account."""


class PerAccountCollector:
    """Base for collectors that only work account by account."""

    name = ""
    interval_seconds = 300.0
    retry_interval_seconds: float | None = None
    fleet_wide = False
    operations: tuple[tuple[str, str], ...] = ()

    def collect_fleet(self, accounts: Sequence[Account], as_of: dt.date,
                      previous: Mapping[str, AccountResult]) -> Mapping[str, Outcome] | None:
        return None
