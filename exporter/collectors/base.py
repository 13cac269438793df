"""What every collector is: a name, an interval, a way to collect one account, a way to expose results.

The runner (``exporter.scheduler``) owns timing, error handling and publishing; a collector only
talks to AWS through the clients it is given and turns responses into records.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client.metrics_core import Metric

from exporter.config import Account
from exporter.snapshot import AccountResult


@dataclass(frozen=True, slots=True)
class Collected:
    """A successful collection for one account."""

    records: tuple[Any, ...]
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Failed:
    """A failed collection for one account, as a value (the runner logs it and keeps old records)."""

    error: str
    exception: BaseException | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


Outcome = Collected | Failed


class Collector(Protocol):
    name: str
    interval_seconds: float
    # Failed accounts are collected again this long after a pass (None: wait for the next pass).
    retry_interval_seconds: float | None

    def collect_account(self, account: Account, as_of: dt.date, previous: AccountResult | None) -> Collected:
        """Collect one account; raise on failure (the runner turns it into a ``Failed``)."""

    def collect_fleet(self, accounts: Sequence[Account], as_of: dt.date,
                      previous: Mapping[str, AccountResult]) -> Mapping[str, Outcome] | None:
        """Collect every account in one go (e.g. an organization-wide API), or None to go account by account."""

    def families(self, results: Sequence[AccountResult], accounts: Mapping[str, Account],
                 as_of: dt.date) -> Iterable[Metric]:
        """The metric families for this collector's part of a snapshot."""


class PerAccountCollector:
    """Base for collectors that only work account by account."""

    name = ""
    interval_seconds = 300.0
    retry_interval_seconds: float | None = None

    def collect_fleet(self, accounts: Sequence[Account], as_of: dt.date,
                      previous: Mapping[str, AccountResult]) -> Mapping[str, Outcome] | None:
        return None


def account_labels(account: Account) -> list[str]:
    """Label values for ``account, account_id, project``: the first labels of every per-account family."""
    return [account.name, account.id, account.project]


ACCOUNT_LABELS = ["account", "account_id", "project"]
