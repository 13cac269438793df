"""What the interpreting Cost Explorer stand-in (:mod:`aws_ops_demo.cost_explorer`) answers from: accounts ×
services × days, exact amounts in 1e-10 USD, each (account, service, day) split by usage type (USAGE_TYPE) and by
record type (RECORD_TYPE) so that every split sums to the service's amount exactly (grouped any way, the same
money), and the Filter expressions it understands.

:class:`Splits` is the part any data set shares: a deterministic split of a day's amount into 1-3 usage types
named after the service, and record types (``Tax`` for the ``Tax`` service; else ``Usage``, and about one
(account, service, day) in nine carries a ``Credit`` of a tenth of it). A data set may name its own usage types
(the demo's SageMaker spike is one training usage type) by overriding :meth:`Splits.usage`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

SCALE = 10 ** 10  # amounts are kept as integers of 1e-10 USD: exact sums, fast
ONE_DAY = dt.timedelta(days=1)
USAGE_TYPE, RECORD_TYPE, SERVICE, LINKED_ACCOUNT = "USAGE_TYPE", "RECORD_TYPE", "SERVICE", "LINKED_ACCOUNT"


def _mix(*values: int) -> int:
    h = 0x811C9DC5
    for v in values:
        h = ((h ^ (v & 0xFFFFFFFF)) * 0x01000193) & 0xFFFFFFFF
        h ^= h >> 13
    return h


def _text(value: str) -> int:
    return _mix(*value.encode())


def usd(amount: int) -> str:
    return format(Decimal(amount).scaleb(-10), "f")


def shares(amount: int, weights: Sequence[int]) -> list[int]:
    """``amount`` cut in parts proportional to ``weights``, summing to it exactly (the rest goes to the first)."""
    total = sum(weights)
    parts = [amount * w // total for w in weights]
    parts[0] += amount - sum(parts)
    return parts


def _days(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    while start < end:
        yield start
        start += ONE_DAY


class Splits:
    """The usage-type and record-type splits of one (account, service, day); see the module's docstring.
    Subclasses provide ``accounts``, ``services`` and ``total(metric, account, service, start, end)``."""

    accounts: Sequence[str]
    services: Sequence[str]

    def total(self, metric: str, account: str, service: str, start: dt.date, end: dt.date) -> int | None:
        raise NotImplementedError

    def usage(self, metric: str, account: str, service: str, day: dt.date, amount: int) -> dict[str, int]:
        h = _mix(_text(account), _text(service), day.toordinal() // 7)  # the same usage types all week
        code = "".join(word[:4] for word in service.replace("-", " ").split()[-2:]) or "Usage"
        names = [f"USE1-{code}-{kind}" for kind in ("Usage", "Requests", "Storage")[:1 + h % 3]]
        return dict(zip(names, shares(amount, [5, 3, 2][:len(names)])))

    def record_types(self, metric: str, account: str, service: str, day: dt.date, amount: int) -> dict[str, int]:
        if service == "Tax":
            return {"Tax": amount}
        if _mix(_text(account), _text(service), day.toordinal()) % 9 == 0:
            credit = -(abs(amount) // 10)
            return {"Usage": amount - credit, "Credit": credit}
        return {"Usage": amount}

    def split(self, dimension: str, metric: str, account: str, service: str, start: dt.date, end: dt.date
              ) -> dict[str, int]:
        """The cost of [start, end) by ``dimension`` (USAGE_TYPE or RECORD_TYPE), summed day by day."""
        parts: dict[str, int] = {}
        for day in _days(start, end):
            amount = self.total(metric, account, service, day, day + ONE_DAY)
            if amount is None:
                continue
            split = self.usage if dimension == USAGE_TYPE else self.record_types
            for key, value in split(metric, account, service, day, amount).items():
                parts[key] = parts.get(key, 0) + value
        return parts


@dataclass
class CostData(Splits):
    """Deterministic costs: ``amount(metric, account, service, day)`` in 1e-10 USD, or None (no usage).

    About one service-day in six has no usage; accounts in ``idle`` have none at all; a few services are an
    order of magnitude more expensive than the rest; every amount has ten decimals."""

    accounts: Sequence[str]
    services: Sequence[str]
    idle: frozenset[str] = frozenset()
    _account_index: dict[str, int] = field(init=False, repr=False)
    _service_index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._account_index = {a: i + 1 for i, a in enumerate(self.accounts)}
        self._service_index = {s: i + 1 for i, s in enumerate(self.services)}

    def amount(self, metric: str, account: str, service: str, day: dt.date) -> int | None:
        a, s = self._account_index.get(account), self._service_index.get(service)
        if a is None or s is None or account in self.idle:
            return None
        h = _mix(a, s, day.toordinal(), len(metric), ord(metric[0]))
        if h % 6 == 0:
            return None
        return (h % (50 * SCALE)) * (10 if s % 7 == 1 else 1) + h % 997  # up to $500.0000000000

    def total(self, metric: str, account: str, service: str, start: dt.date, end: dt.date) -> int | None:
        """The sum over [start, end), None when no day had usage."""
        found, total = False, 0
        for day in _days(start, end):
            v = self.amount(metric, account, service, day)
            if v is not None:
                found, total = True, total + v
        return total if found else None


class _Invalid(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def scope(data: Splits, spec: Any) -> tuple[Sequence[str], Sequence[str]]:
    """The (accounts, services) a Filter selects: ``Dimensions`` on LINKED_ACCOUNT or SERVICE, or an ``And`` of
    them; anything else is refused (this stand-in does not interpret it)."""
    accounts, services = list(data.accounts), list(data.services)
    if spec is None:
        return accounts, services
    terms = spec.get("And") if isinstance(spec, dict) and list(spec) == ["And"] else [spec]
    for term in terms if isinstance(terms, list) else [None]:
        dims = term.get("Dimensions") if isinstance(term, dict) and len(term) == 1 else None
        if not dims or dims.get("Key") not in (LINKED_ACCOUNT, SERVICE) or not isinstance(dims.get("Values"), list):
            raise _Invalid("ValidationException", f"unsupported Filter {spec!r}")
        wanted = set(dims["Values"])
        if dims["Key"] == LINKED_ACCOUNT:
            accounts = [a for a in accounts if a in wanted]
        else:
            services = [s for s in services if s in wanted]
    return accounts, services
