"""Typed snapshot records → SQLite rows, in the text the store has always held (keys and upserts of
existing files depend on it): exact decimal strings, ``YYYY-MM-DD`` days, UTC times as ISO 8601 with ``Z``."""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import msgspec

from exporter.model import CloudWatchRecord, CostRecord, HealthEvent
from exporter.reporter.schema import COST_PK

UTC = dt.timezone.utc


def public_url(url: str) -> str:
    """A URL fit for logs and SQLite: no user:password, no query string (tokens live there)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def iso_z(value: dt.datetime | None) -> str | None:
    """A time as the stored text has always been (the JSON snapshot's): UTC, ISO 8601, ``Z``; naive is UTC."""
    if value is None:
        return None
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def date_text(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def amount_text(amount: Decimal) -> str:
    """The exact decimal as stored: ``str``, except plain digits for a positive exponent (``1E+2`` → ``100``),
    as the JSON snapshot wrote it (``format(amount, "f")``) before the reporter read it back."""
    return str(amount) if amount.as_tuple().exponent <= 0 else format(amount, "f")


# --------------------------------------------------------------------------- snapshot → rows


def cost_row(account_id: str, record: CostRecord, source: str = "snapshot") -> dict[str, Any] | None:
    if not record.amount.is_finite() or not record.service:
        return None
    return {
        "account_id": account_id, "service": record.service, "granularity": record.granularity,
        "period_start": record.period_start.isoformat(), "metric": record.metric,
        "period_end": record.period_end.isoformat(), "amount": amount_text(record.amount), "unit": record.unit,
        "estimated": 1 if record.estimated else 0, "source": source,
    }


def health_row(account_id: str, record: HealthEvent) -> dict[str, Any] | None:
    if not record.arn:
        return None
    # ``data``: the record as the JSON snapshot carried it (kind included, times ISO-Z); the description has
    # its own column, kept once, not twice.
    data = {name: iso_z(value) if isinstance(value, dt.datetime) else value
            for name, value in msgspec.structs.asdict(record).items() if name != "description"}
    data["kind"] = record.__struct_config__.tag
    return {
        "account_id": account_id, "event_arn": record.arn, "service": record.service,
        "event_type_code": record.event_type_code, "event_type_category": record.category,
        "region": record.region, "status_code": record.status, "start_time": iso_z(record.start),
        "end_time": iso_z(record.end), "last_updated_time": iso_z(record.last_updated),
        "description": record.description,
        "data": json.dumps(data, sort_keys=True, ensure_ascii=False, default=str),
        "closed_at": None,  # listed again: no longer closed by its absence
    }


def cloudwatch_row(account_id: str, record: CloudWatchRecord) -> dict[str, Any] | None:
    series = json.dumps({"namespace": record.namespace, "metric": record.metric, "stat": record.stat,
                         "dimensions": [list(pair) for pair in record.dimensions]}, sort_keys=True, default=str)
    return {"account_id": account_id, "region": record.region, "series": series,
            "timestamp": iso_z(record.timestamp), "value": float(record.value)}


# Each record type, its table and its row.
TABLES: dict[type, tuple[str, Callable[[str, Any], dict[str, Any] | None]]] = {
    CostRecord: ("cost", cost_row),
    HealthEvent: ("health_events", health_row),
    CloudWatchRecord: ("cloudwatch_points", cloudwatch_row),
}
PKS = {"cost": list(COST_PK), "health_events": ["account_id", "event_arn"],
        "cloudwatch_points": ["account_id", "region", "series", "timestamp"]}
# Columns a row without a value leaves as stored (an upsert would write NULL over them).
KEPT_WHEN_ABSENT = {"health_events": "description"}


def upsert_groups(table: str, rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """``rows`` split so that each upsert writes only the columns its rows have values for."""
    column = KEPT_WHEN_ABSENT.get(table)
    if column is None:
        return [rows]
    return [[r for r in rows if r[column] is not None],
            [{k: v for k, v in r.items() if k != column} for r in rows if r[column] is None]]



@dataclass
class DailyWindow:
    """What a successful cost result says is complete for one account and metric: DAILY [first, end).

    The exporter asks for its DAILY window in one request, so every day from the first it carries up to its
    ``as_of`` is complete: a (service, day) it does not carry has no cost (any stored row for it is stale).
    """

    first: str
    end: str
    keys: set[tuple[str, str]] = field(default_factory=set)

    def add(self, row: Mapping[str, Any]) -> None:
        self.first = min(self.first, row["period_start"])
        self.end = max(self.end, row["period_end"])
        self.keys.add((row["service"], row["period_start"]))
