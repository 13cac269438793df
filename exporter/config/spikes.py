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


def spike_definition_mismatches(exporter_side: tuple[Decimal, Decimal, int], reporter_side: tuple[Decimal, Decimal, int]
                                ) -> list[str]:
    """Where the reporter's spike (``reporter.summary``: ratio, minimum, baseline days) differs from the one the
    exporter asks drivers for (``collectors.cost.drivers``, ``collectors.cost.baseline_days``) in the same file:
    the report would then name spikes the exporter asked no drivers for, or miss ones it did. One line each."""
    names = (("spike_ratio", "drivers.spike_ratio"), ("spike_min_usd", "drivers.spike_min_usd"),
             ("baseline_days", "baseline_days"))
    return [f"reporter.summary.{ours} ({r}) differs from collectors.cost.{theirs} ({e}): the report's spikes and "
            "the exporter's spike drivers use different definitions (spikes may be named without their drivers)"
            for (ours, theirs), e, r in zip(names, exporter_side, reporter_side) if e != r]
