"""The exporter's spike drivers (``CostDetail.signals.drivers``, ``aws_cost_spike_driver_usd``) in the reporter's
history: table ``cost_drivers``, one row per account × day (the spike's day, a UTC cost day) × service × usage type,
amounts as the exact decimal strings the snapshot carried.

A refresh that asked a spike's drivers replaces that spike's rows of that day (a later refresh of the same day
knows better); one whose request failed and kept nothing (``asked`` False) leaves them as they are.
:func:`stored_drivers` reads them back the way the summary's facts take them (kind ``driver``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlite_utils import Database

from exporter.model import CostDetail, Snapshot
from exporter.reporter.rows import amount_text
from exporter.reporter.schema import DRIVERS_PK

PK = list(DRIVERS_PK)


def store_drivers(db: Database, snapshot: Snapshot) -> int:
    """The snapshot's drivers, inside the caller's transaction; returns how many rows were written."""
    written = 0
    for account_id, result in (snapshot.collectors["cost"].accounts.items() if "cost" in snapshot.collectors else ()):
        detail = result.detail
        if not isinstance(detail, CostDetail) or detail.signals is None or result.last_success is None:
            continue
        day = detail.yesterday.start.isoformat()
        for spike in detail.signals.drivers:
            if not spike.asked:
                continue
            db.execute("DELETE FROM cost_drivers WHERE account_id = ? AND day = ? AND service = ?",
                       [account_id, day, spike.service])
            rows = [{"account_id": account_id, "day": day, "service": spike.service, "usage_type": d.usage_type,
                     "usd": amount_text(d.yesterday), "baseline_mean_usd": amount_text(d.baseline_mean)}
                    for d in spike.drivers]
            if rows:
                db["cost_drivers"].insert_all(rows, pk=PK)
                written += len(rows)
    return written


def stored_drivers(db: Database, day: dt.date, spikes: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    """The usage types that drove each spike (account id, service) on ``day``: ``account``, ``account_id``,
    ``service``, ``usage_type``, ``usd`` (the day), ``baseline_mean_usd``, ``change_usd`` (exact Decimals), the
    spikes in the order given, each one's biggest increase first."""
    order = {spike: i for i, spike in enumerate(spikes)}
    if not order:
        return []
    rows = db.execute(
        "SELECT d.account_id, coalesce(a.name, d.account_id), d.service, d.usage_type, d.usd, d.baseline_mean_usd "
        "FROM cost_drivers d LEFT JOIN accounts a ON a.id = d.account_id WHERE d.day = ?", [day.isoformat()]).fetchall()
    out = []
    for account_id, account, service, usage_type, usd, mean in rows:
        if (account_id, service) in order:
            usd, mean = Decimal(usd), Decimal(mean)
            out.append({"account": account, "account_id": account_id, "service": service, "usage_type": usage_type,
                        "usd": usd, "baseline_mean_usd": mean, "change_usd": usd - mean})
    out.sort(key=lambda d: (order[(d["account_id"], d["service"])], -d["change_usd"], d["usage_type"]))
    return out
