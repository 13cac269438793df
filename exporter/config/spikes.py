"""The two thresholds of a cost spike (:func:`exporter.periods.is_spike`), read alike wherever a section sets
them: the exporter's ``collectors.cost.drivers`` and the reporter's ``reporter.summary``."""

from __future__ import annotations

from decimal import Decimal

from exporter.config.validate import Section


def parse_spike_thresholds(s: Section, ratio: Decimal, min_usd: Decimal) -> tuple[Decimal, Decimal]:
    """(``spike_ratio``, at least 1; ``spike_min_usd``, a non-negative amount), the defaults where absent."""
    spike_min = s.money("spike_min_usd")
    spike_ratio = Decimal(str(s.number("spike_ratio", float(ratio), minimum=1.0)))
    return spike_ratio, min_usd if spike_min is None else spike_min
