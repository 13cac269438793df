"""Cost records held column by column: how a snapshot keeps the bulk of a large fleet's data.

A cost record as an object is ~190 bytes (the struct and its Decimal); an account has ~700 of them (15 days ×
its services, and two months), so 1,000 accounts held ~135 MiB of records. :class:`CostRecords` holds them in
arrays at 13 bytes a record and reads back :class:`~exporter.model.CostRecord` objects equal to the ones stored.
"""

from __future__ import annotations

import datetime as dt
from array import array
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import overload

from exporter.model import Amount, CostRecord

_MAX_DIGITS = 18  # a coefficient of up to 18 digits fits a signed 64-bit integer


def _pack(amount: Decimal) -> tuple[int, int] | None:
    """(coefficient, exponent) with ``amount == coefficient × 10**exponent`` digit for digit (``1.50`` stays
    ``150E-2``), or None when that does not fit the columns (NaN, -0, more than 18 digits)."""
    text = str(amount)
    whole, point, fraction = text.partition(".")
    if whole.lstrip("-").isdigit() and (not point or fraction.isdigit()):  # plain notation, the usual case
        digits = whole + fraction
        coefficient = int(digits)
        if len(digits.lstrip("-")) > _MAX_DIGITS or (coefficient == 0 and text.startswith("-")):
            return None
        return coefficient, -len(fraction)
    sign, numerals, exponent = amount.as_tuple()
    if not isinstance(exponent, int) or len(numerals) > _MAX_DIGITS or not -128 <= exponent <= 127 \
            or (sign and not any(numerals)):
        return None
    return int(amount.scaleb(-exponent)), exponent


class CostRecords(Sequence[CostRecord]):
    """An account's cost records, held column by column: what a snapshot keeps of them.

    A record is 13 bytes: an index
    into the distinct (granularity, period, unit, metric, estimated) heads, an index into the services, and the
    amount as an exact 64-bit coefficient and a decimal exponent (an amount that does not fit is kept as it is).
    Reading gives :class:`CostRecord` objects again, equal to the ones stored, with the same amounts digit for
    digit (as :class:`Amount`); ``/snapshot`` writes them as a list of records, like any other."""

    __slots__ = ("_heads", "_services", "_head", "_service", "_coefficient", "_exponent", "_unpacked")

    def __init__(self, records: Iterable[CostRecord] = ()):
        heads: dict[tuple[str, dt.date, dt.date, str, str, bool], int] = {}
        services: dict[str, int] = {}
        self._head, self._service = array("I"), array("I")
        self._coefficient, self._exponent = array("q"), array("b")
        unpacked: dict[int, Decimal] = {}
        for r in records:
            head = (r.granularity, r.period_start, r.period_end, r.unit, r.metric, r.estimated)
            self._head.append(heads.setdefault(head, len(heads)))
            self._service.append(services.setdefault(r.service, len(services)))
            packed = _pack(r.amount)
            if packed is None:
                unpacked[len(self._coefficient)] = r.amount
                packed = (0, 0)
            self._coefficient.append(packed[0])
            self._exponent.append(packed[1])
        self._heads, self._services = tuple(heads), tuple(services)
        self._unpacked = unpacked or None
        # 2-byte indices when they fit (always, in practice); the copies also drop the arrays' spare room
        self._head = array("H" if len(heads) <= 0xFFFF else "I", self._head)
        self._service = array("H" if len(services) <= 0xFFFF else "I", self._service)
        self._coefficient, self._exponent = array("q", self._coefficient), array("b", self._exponent)

    def _record(self, i: int) -> CostRecord:
        granularity, start, end, unit, metric, estimated = self._heads[self._head[i]]
        amount = self._unpacked.get(i) if self._unpacked is not None else None
        if amount is None:
            amount = Amount(f"{self._coefficient[i]}E{self._exponent[i]}")
        return CostRecord(self._services[self._service[i]], granularity, start, end, amount, unit, metric, estimated)

    def __len__(self) -> int:
        return len(self._coefficient)

    @overload
    def __getitem__(self, index: int) -> CostRecord: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[CostRecord, ...]: ...

    def __getitem__(self, index: int | slice) -> CostRecord | tuple[CostRecord, ...]:
        if isinstance(index, slice):
            return tuple(self._record(i) for i in range(*index.indices(len(self))))
        if not -len(self) <= index < len(self):
            raise IndexError("cost record index out of range")
        return self._record(index % len(self))

    def __iter__(self) -> Iterator[CostRecord]:
        heads, services, unpacked = self._heads, self._services, self._unpacked
        for i, (h, s, coefficient, exponent) in enumerate(zip(self._head, self._service, self._coefficient,
                                                             self._exponent)):
            granularity, start, end, unit, metric, estimated = heads[h]
            amount = unpacked.get(i) if unpacked is not None else None
            yield CostRecord(services[s], granularity, start, end,
                             Amount(f"{coefficient}E{exponent}") if amount is None else amount,
                             unit, metric, estimated)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"CostRecords({list(self)!r})"
