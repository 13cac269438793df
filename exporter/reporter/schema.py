"""The reporter's SQLite schema: the tables and their natural keys (see :mod:`exporter.reporter.store`),
``PRAGMA user_version`` and the migrations that move an older file forward, WAL, and the one kind of
write transaction (``BEGIN IMMEDIATE``)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

log = logging.getLogger(__name__)
COST_PK = ("account_id", "service", "granularity", "period_start", "metric")
DRIVERS_PK = ("account_id", "day", "service", "usage_type")
RECORD_TYPES_PK = ("account_id", "record_type", "granularity", "period_start")
FORECASTS_PK = ("account_id", "month_start")


def _v1(db: Database) -> None:
    db["accounts"].create({"id": str, "name": str, "project": str}, pk="id", not_null={"name", "project"},
                          if_not_exists=True)
    db["cost"].create({
        "account_id": str, "service": str, "granularity": str, "period_start": str, "metric": str,
        "period_end": str, "amount": str, "unit": str, "estimated": int,
    }, pk=list(COST_PK), not_null={"period_end", "amount"}, if_not_exists=True)
    db["cost"].create_index(["granularity", "period_start"], if_not_exists=True)
    db["collector_status"].create({
        "collector": str, "account_id": str, "up": int, "last_success": str, "last_attempt": str, "error": str,
        "as_of": str,
    }, pk=["collector", "account_id"], if_not_exists=True)
    db["pulls"].create({"id": int, "exporter": str, "pulled_at": str, "taken_at": str, "generation": int,
                        "records": int}, pk="id", if_not_exists=True)


def _v2(db: Database) -> None:
    # Where a cost row came from: the exporter's snapshot or a Cost Explorer backfill.
    if "source" not in db["cost"].columns_dict:
        db["cost"].add_column("source", str, not_null_default="snapshot")
    db["health_events"].create({
        "account_id": str, "event_arn": str, "service": str, "event_type_code": str, "event_type_category": str,
        "region": str, "status_code": str, "start_time": str, "end_time": str, "last_updated_time": str,
        "description": str, "data": str,
    }, pk=["account_id", "event_arn"], if_not_exists=True)
    db["cloudwatch_points"].create({
        "account_id": str, "region": str, "series": str, "timestamp": str, "value": float,
    }, pk=["account_id", "region", "series", "timestamp"], if_not_exists=True)
    db["posts"].create({
        "day": str, "destination": str, "state": str, "idempotency_key": str, "started_at": str,
        "posted_at": str, "deterministic": int,
    }, pk=["day", "destination"], not_null={"state", "idempotency_key"}, if_not_exists=True)
    db["backfill_windows"].create({
        "account_id": str, "window_start": str, "window_end": str, "metric": str, "records": int,
        "completed_at": str,
    }, pk=["account_id", "window_start", "window_end", "metric"], if_not_exists=True)
    if "error" not in db["pulls"].columns_dict:
        db["pulls"].add_column("error", str)


def _v3(db: Database) -> None:
    # When the reporter closed an event because its account's Health result stopped listing it.
    if "closed_at" not in db["health_events"].columns_dict:
        db["health_events"].add_column("closed_at", str)
    db["pulls"].create_index(["exporter", "pulled_at"], if_not_exists=True)


def _v4(db: Database) -> None:
    # The exporter's spike drivers (snapshot schema 1.2; exporter.reporter.drivers).
    db["cost_drivers"].create({"account_id": str, "day": str, "service": str, "usage_type": str, "usd": str,
                               "baseline_mean_usd": str}, pk=list(DRIVERS_PK), not_null={"usd", "baseline_mean_usd"},
                              if_not_exists=True)


def _v5(db: Database) -> None:
    # The exporter's open Cost Anomaly Detection anomalies (exporter.reporter.anomalies).
    db["cost_anomalies"].create({"account_id": str, "anomaly_id": str, "service": str, "impact_usd": str,
                                 "start": str, "end": str}, pk=["account_id", "anomaly_id"], not_null={"impact_usd"},
                                if_not_exists=True)


def _v6(db: Database) -> None:
    # The exporter's month-end forecasts (GetCostForecast; exporter.reporter.forecasts).
    db["cost_forecasts"].create({"account_id": str, "month_start": str, "forecast_start": str, "forecast_end": str,
                                 "month_to_date_usd": str, "forecast_usd": str}, pk=list(FORECASTS_PK),
                                not_null={"forecast_start", "forecast_end", "month_to_date_usd", "forecast_usd"},
                                if_not_exists=True)


def _v7(db: Database) -> None:
    # The exporter's cost split by record type (exporter.reporter.recordtypes).
    db["cost_record_types"].create({"account_id": str, "record_type": str, "granularity": str, "period_start": str,
                                    "period_end": str, "amount": str, "estimated": int, "metric": str},
                                   pk=list(RECORD_TYPES_PK), not_null={"period_end", "amount"}, if_not_exists=True)


MIGRATIONS: tuple[Callable[[Database], None], ...] = (_v1, _v2, _v3, _v4, _v5, _v6, _v7)
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(db: Database) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


@contextmanager
def immediate(db: Database) -> Iterator[Database]:
    """A write transaction that takes the write lock first (``BEGIN IMMEDIATE``), waiting out the busy timeout.

    sqlite-utils' ``atomic()`` begins a deferred transaction: when another process commits between its first
    read and its first write, SQLite cannot upgrade the read and answers "database is locked" at once,
    without waiting. Nested inside a transaction it is a savepoint (sqlite-utils' own).
    """
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.conn.commit()
    except BaseException:
        if db.conn.in_transaction:  # also when the commit itself failed (disk full): never left open
            db.conn.rollback()
        raise


def migrate(db: Database, target: int = SCHEMA_VERSION) -> int:
    """Apply the migrations after the file's version, each in its own transaction; returns the new version."""
    version = schema_version(db)
    if version > SCHEMA_VERSION:
        raise RuntimeError(f"database schema version {version} is newer than this reporter's ({SCHEMA_VERSION})")
    for number in range(version + 1, target + 1):
        with immediate(db):
            if schema_version(db) >= number:  # another process starting on the same file got there first
                continue
            MIGRATIONS[number - 1](db)
            db.execute(f"PRAGMA user_version = {number}")
        log.info("event=schema_migrated version=%d", number)
    return schema_version(db)


def open_database(path: str | Path) -> Database:
    """A WAL database on disk (created with its directory), usable from the scheduler's threads."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
    db = Database(conn)
    if str(path) != ":memory:":
        db.enable_wal()
    return db
