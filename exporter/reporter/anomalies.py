"""The exporter's open Cost Anomaly Detection anomalies (``CostDetail.signals.anomalies``,
``aws_cost_anomaly_impact_usd``) in the reporter's history: table ``cost_anomalies``, one row per account ×
anomaly id, the impact as the exact decimal string the snapshot carried.

The anomalies of a refresh that had the signal on (a status for ``anomalies``) are the account's open ones: they
replace the account's rows (a failed request keeps the last ones, as the exporter does); a snapshot without the
signal leaves them as they are. :func:`open_anomalies` reads them back as the summary's facts take them (kind
``anomaly``): actionable, next to the spikes, checked like any cost fact.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlite_utils import Database

from exporter.model import ANOMALIES, CostDetail, Snapshot
from exporter.reporter.rows import amount_text, date_text

PK = ["account_id", "anomaly_id"]


def store_anomalies(db: Database, snapshot: Snapshot) -> int:
    """The snapshot's open anomalies, inside the caller's transaction; returns how many rows were written."""
    written = 0
    for account_id, result in (snapshot.collectors["cost"].accounts.items() if "cost" in snapshot.collectors else ()):
        detail = result.detail
        if (not isinstance(detail, CostDetail) or detail.signals is None
                or detail.signals.status_of(ANOMALIES) is None):
            continue
        db.execute("DELETE FROM cost_anomalies WHERE account_id = ?", [account_id])
        rows = [{"account_id": account_id, "anomaly_id": a.anomaly_id, "service": a.service,
                 "impact_usd": amount_text(a.impact), "start": date_text(a.start), "end": date_text(a.end)}
                for a in detail.signals.anomalies if a.anomaly_id and a.impact.is_finite()]
        if rows:
            db["cost_anomalies"].insert_all(rows, pk=PK, replace=True)
            written += len(rows)
    return written


def open_anomalies(db: Database) -> list[dict[str, Any]]:
    """``account``, ``account_id``, ``anomaly_id``, ``service`` ("" when AWS names none), ``impact_usd`` (exact
    Decimal), ``start``/``end`` (``YYYY-MM-DD`` or None): the biggest impact first."""
    rows = db.execute(
        "SELECT n.account_id, coalesce(a.name, n.account_id), n.anomaly_id, n.service, n.impact_usd, n.start, n.\"end\" "
        "FROM cost_anomalies n LEFT JOIN accounts a ON a.id = n.account_id").fetchall()
    out = [{"account": account, "account_id": account_id, "anomaly_id": anomaly_id, "service": service or "",
            "impact_usd": Decimal(impact), "start": start, "end": end}
           for account_id, account, anomaly_id, service, impact, start, end in rows]
    out.sort(key=lambda x: (-x["impact_usd"], x["account"], x["anomaly_id"]))
    return out
