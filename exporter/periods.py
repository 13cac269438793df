"""Cost days and months, and the one definition of the daily cost baseline (exporter and reporter share it).

Cost days are UTC days, as Cost Explorer counts them; periods are [start, end).

**Daily baseline** (``aws_cost_daily_baseline_usd``, the reporter's spikes): the mean daily cost of a
service over the ``baseline_days`` days before the day it is compared with, days without cost counting
as $0, over the days of that window the history covers. The exporter's DAILY request always covers the
whole window, so it divides by ``baseline_days``; the reporter's history may start inside the window (a
new account, a fresh database), and a window it does not hold is no evidence of a $0 day.

**Spike** (:func:`is_spike`: the reporter's spikes, the exporter's drivers): a day's cost against that baseline.
"""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal

from exporter.model import CostDetail, Period

ONE_DAY = dt.timedelta(days=1)


def first_of_month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def previous_month_start(day: dt.date) -> dt.date:
    return first_of_month(first_of_month(day) - ONE_DAY)


def next_month_start(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def month_windows(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """[start, end) cut at month boundaries."""
    windows = []
    while start < end:
        following = next_month_start(start)
        windows.append((start, min(following, end)))
        start = following
    return windows


def days_in_month(day: dt.date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def baseline_window(day: dt.date, baseline_days: int) -> Period:
    """The ``baseline_days`` days before ``day``."""
    return Period(day - dt.timedelta(days=baseline_days), day)


def baseline_mean(total: Decimal, window: Period, history_start: dt.date | None = None) -> Decimal | None:
    """``total`` (the cost inside ``window``) per covered day; None when the history covers none of it."""
    start = window.start if history_start is None else max(window.start, history_start)
    covered = (window.end - start).days
    return total / covered if covered > 0 else None


def is_spike(current: Decimal, mean: Decimal, new: bool, ratio: Decimal, min_usd: Decimal) -> bool:
    """A service's cost of a day against its daily baseline ``mean``: a spike when it is at least ``ratio`` × the
    mean and at least ``min_usd`` above it; a service ``new`` since the baseline window (no cost on any of its
    days) when it cost at least ``min_usd``. A mean at or below zero (credits) gives no ratio: never a spike."""
    if new:
        return current >= min_usd
    return mean > 0 and current - mean >= min_usd and current >= mean * ratio


def cost_detail(as_of: dt.date, baseline_days: int) -> CostDetail:
    """The periods a cost refresh as of ``as_of`` (today, UTC) covers: yesterday, last month, month to date
    (empty on the 1st) and yesterday's baseline window."""
    yesterday = as_of - ONE_DAY
    this_month = first_of_month(as_of)
    return CostDetail(as_of=as_of, yesterday=Period(yesterday, as_of),
                      last_month=Period(previous_month_start(as_of), this_month),
                      month_to_date=Period(this_month, as_of), baseline=baseline_window(yesterday, baseline_days))
