"""History in SQLite (sqlite-utils): explicit schemas, WAL, one transaction per snapshot, upserts on natural keys.

Tables and their natural keys (pulling the same data twice changes nothing; a restated figure replaces
the old one):

* ``cost``              account_id + service + granularity + period_start + metric (amount as the exact
                        decimal string Cost Explorer sent)
* ``health_events``     account_id + event_arn (status and last update kept current; the description,
                        AWS text for the LLM prompt's fenced data, kept when a later pull has none:
                        closed events are not described). An open or upcoming event that a successful
                        Health result for its account no longer lists is marked closed (``closed_at``)
* ``cloudwatch_points`` account_id + region + series + timestamp
* ``accounts``          id → name, project (from the snapshot's account list)
* ``collector_status``  collector + account_id → up, last success, error (data freshness)
* ``pulls``             one row per pull of ``/snapshot`` (no URL credentials: they are stripped)
* ``posts``             day + destination: what was posted, so each day is posted once per destination
* ``backfill_windows``  account_id + window_start + window_end + metric done by ``backfill``

Rows come from the typed records of :mod:`exporter.model` (the decoded ``/snapshot``, or a backfill's
Cost Explorer records), routed by record type. Their text stays what it was when ``/snapshot`` was read as
untyped JSON (keys and upserts of existing files depend on it): exact decimal strings, ``YYYY-MM-DD`` days,
times in UTC as ISO 8601 with ``Z`` (tests/test_reporter_store.py pins them).

A successful cost result's DAILY rows are the whole truth for its window (the first day it carries up to its
``as_of``): stored daily rows of that account and metric inside the window that it no longer carries (a
restated estimate that dropped a service) are deleted.

Every write is one ``BEGIN IMMEDIATE`` transaction (:func:`immediate`): the sidecar and a ``backfill`` or
``--once`` run write the same file, and a deferred transaction that reads before it writes fails at once
with "database is locked" instead of waiting for the busy timeout.

``PRAGMA user_version`` holds the schema version; :data:`MIGRATIONS` move an older file forward.
Nothing secret is stored: destinations appear by name, never by webhook URL.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
from sqlite_utils import Database

from exporter.config import CostSettings
from exporter.config.reporter import Retention
from exporter.model import DAILY, MONTHLY, CloudWatchRecord, CostRecord, HealthEvent, Snapshot

log = logging.getLogger(__name__)
UTC = dt.timezone.utc
COST_PK = ("account_id", "service", "granularity", "period_start", "metric")
DEFAULT_COST_METRIC = CostSettings().metric


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


MIGRATIONS: tuple[Callable[[Database], None], ...] = (_v1, _v2, _v3)
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


def public_url(url: str) -> str:
    """A URL fit for logs and SQLite: no user:password, no query string (tokens live there)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def _iso_z(value: dt.datetime | None) -> str | None:
    """A time as the stored text has always been (the JSON snapshot's): UTC, ISO 8601, ``Z``; naive is UTC."""
    if value is None:
        return None
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _date_text(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def _amount_text(amount: Decimal) -> str:
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
        "period_end": record.period_end.isoformat(), "amount": _amount_text(record.amount), "unit": record.unit,
        "estimated": 1 if record.estimated else 0, "source": source,
    }


def health_row(account_id: str, record: HealthEvent) -> dict[str, Any] | None:
    if not record.arn:
        return None
    # ``data``: the record as the JSON snapshot carried it (kind included, times ISO-Z); the description has
    # its own column, kept once, not twice.
    data = {name: _iso_z(value) if isinstance(value, dt.datetime) else value
            for name, value in msgspec.structs.asdict(record).items() if name != "description"}
    data["kind"] = record.__struct_config__.tag
    return {
        "account_id": account_id, "event_arn": record.arn, "service": record.service,
        "event_type_code": record.event_type_code, "event_type_category": record.category,
        "region": record.region, "status_code": record.status, "start_time": _iso_z(record.start),
        "end_time": _iso_z(record.end), "last_updated_time": _iso_z(record.last_updated),
        "description": record.description,
        "data": json.dumps(data, sort_keys=True, ensure_ascii=False, default=str),
        "closed_at": None,  # listed again: no longer closed by its absence
    }


def cloudwatch_row(account_id: str, record: CloudWatchRecord) -> dict[str, Any] | None:
    series = json.dumps({"namespace": record.namespace, "metric": record.metric, "stat": record.stat,
                         "dimensions": [list(pair) for pair in record.dimensions]}, sort_keys=True, default=str)
    return {"account_id": account_id, "region": record.region, "series": series,
            "timestamp": _iso_z(record.timestamp), "value": float(record.value)}


# Each record type, its table and its row.
_TABLES: dict[type, tuple[str, Callable[[str, Any], dict[str, Any] | None]]] = {
    CostRecord: ("cost", cost_row),
    HealthEvent: ("health_events", health_row),
    CloudWatchRecord: ("cloudwatch_points", cloudwatch_row),
}
_PKS = {"cost": list(COST_PK), "health_events": ["account_id", "event_arn"],
        "cloudwatch_points": ["account_id", "region", "series", "timestamp"]}
# Columns a row without a value leaves as stored (an upsert would write NULL over them).
_KEPT_WHEN_ABSENT = {"health_events": "description"}


def _upsert_groups(table: str, rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """``rows`` split so that each upsert writes only the columns its rows have values for."""
    column = _KEPT_WHEN_ABSENT.get(table)
    if column is None:
        return [rows]
    return [[r for r in rows if r[column] is not None],
            [{k: v for k, v in r.items() if k != column} for r in rows if r[column] is None]]


@dataclass(frozen=True, slots=True)
class Stored:
    rows: Mapping[str, int]
    ignored: int


@dataclass
class _DailyWindow:
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


class Store:
    """The reporter's history. Every write is one transaction; the lock serialises the scheduler's threads."""

    def __init__(self, db: Database):
        self.db = db
        self.lock = threading.RLock()
        migrate(db)

    @classmethod
    def open(cls, path: str | Path) -> Store:
        return cls(open_database(path))

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------------------------- writes

    @contextmanager
    def write(self) -> Iterator[Database]:
        """Every write path: one ``BEGIN IMMEDIATE`` transaction, the lock serialising this process's threads."""
        with self.lock, immediate(self.db) as db:
            yield db

    def store_snapshot(self, snapshot: Snapshot, exporter: str, pulled_at: dt.datetime | None = None) -> Stored:
        """All of one ``/snapshot`` (decoded with :func:`exporter.model.decode_snapshot`) in one transaction."""
        pulled_at = pulled_at or dt.datetime.now(UTC)
        rows: dict[str, list[dict[str, Any]]] = {table: [] for table, _ in _TABLES.values()}
        status: list[dict[str, Any]] = []
        daily_windows: dict[tuple[str, str], _DailyWindow] = {}  # (account, metric) of successful cost results
        health_listed: dict[str, set[str]] = {}  # account → event ARNs of its successful Health result
        ignored = 0
        for collector, state in snapshot.collectors.items():
            for account_id, result in state.accounts.items():
                status.append({
                    "collector": collector, "account_id": account_id, "up": 1 if result.up else 0,
                    "last_success": _iso_z(result.last_success), "last_attempt": _iso_z(result.last_attempt),
                    "error": result.error, "as_of": _date_text(result.as_of),
                })
                if result.up and collector == "health":
                    health_listed[account_id] = set()
                for record in result.records:
                    table, build = _TABLES[type(record)]
                    row = build(account_id, record)
                    if row is None:
                        ignored += 1
                        continue
                    rows[table].append(row)
                    if account_id in health_listed and table == "health_events":
                        health_listed[account_id].add(row["event_arn"])
                    if result.up and table == "cost" and row["granularity"] == DAILY:
                        as_of = _date_text(result.as_of) or row["period_end"]
                        daily_windows.setdefault((account_id, row["metric"]),
                                                 _DailyWindow(row["period_start"], as_of)).add(row)
        accounts = [{"id": a.id, "name": a.name or a.id, "project": a.project or ""}
                    for a in snapshot.accounts if a.id]
        with self.write():
            if accounts:
                self.db["accounts"].upsert_all(accounts, pk="id")
            for table, table_rows in rows.items():
                for group in _upsert_groups(table, table_rows):
                    if group:
                        self.db[table].upsert_all(group, pk=_PKS[table])
            for (account_id, metric), window in daily_windows.items():
                self._delete_restated_away(account_id, metric, window)
            for account_id, arns in health_listed.items():
                self._close_unlisted_events(account_id, arns, pulled_at)
            if status:
                self.db["collector_status"].upsert_all(status, pk=["collector", "account_id"])
            self.db["pulls"].insert({
                "exporter": public_url(exporter), "pulled_at": pulled_at.isoformat(),
                "taken_at": _iso_z(snapshot.taken_at), "generation": snapshot.generation,
                "records": sum(len(r) for r in rows.values()), "error": None,
            })
        return Stored({table: len(r) for table, r in rows.items()}, ignored)

    def _delete_restated_away(self, account_id: str, metric: str, window: _DailyWindow) -> None:
        """Daily rows inside a complete DAILY window that the window no longer carries (Cost Explorer dropped them)."""
        stored = self.db.execute(
            "SELECT service, period_start FROM cost WHERE account_id = ? AND metric = ? AND granularity = 'daily' "
            "AND period_start >= ? AND period_start < ?", [account_id, metric, window.first, window.end]).fetchall()
        stale = [(account_id, metric, service, start) for service, start in stored
                 if (service, start) not in window.keys]
        if stale:
            self.db.conn.executemany(
                "DELETE FROM cost WHERE account_id = ? AND metric = ? AND granularity = 'daily' AND service = ? "
                "AND period_start = ?", stale)

    def _close_unlisted_events(self, account_id: str, listed: set[str], at: dt.datetime) -> None:
        """Open/upcoming events a successful Health result for the account no longer lists: closed, row kept."""
        active = self.db.execute(
            "SELECT event_arn FROM health_events WHERE account_id = ? "
            "AND lower(coalesce(status_code, '')) IN ('open', 'upcoming')", [account_id]).fetchall()
        gone = [(at.isoformat(), account_id, arn) for (arn,) in active if arn not in listed]
        if gone:
            self.db.conn.executemany(
                "UPDATE health_events SET status_code = 'closed', closed_at = ? WHERE account_id = ? AND event_arn = ?",
                gone)
            log.info("event=health_events_closed account=%s count=%d reason=no_longer_listed", account_id, len(gone))

    def record_pull_error(self, exporter: str, error: str, at: dt.datetime | None = None) -> None:
        at = at or dt.datetime.now(UTC)
        with self.write():
            self.db["pulls"].insert({"exporter": public_url(exporter), "pulled_at": at.isoformat(), "taken_at": None,
                                     "generation": None, "records": 0, "error": error[:500]})

    def store_backfill_window(self, account_id: str, records: Iterable[CostRecord], window_start: dt.date,
                              window_end: dt.date, metric: str) -> int:
        """One account × window of Cost Explorer records and its completion mark, in one transaction.

        The window is complete: stored daily rows in it that Cost Explorer no longer returns are deleted.
        """
        rows = [r for r in (cost_row(account_id, rec, source="backfill") for rec in records) if r is not None]
        window = _DailyWindow(window_start.isoformat(), window_end.isoformat())
        for row in rows:
            if row["granularity"] == DAILY and row["metric"] == metric:
                window.add(row)
        with self.write():
            if rows:
                self.db["cost"].upsert_all(rows, pk=list(COST_PK))
            self._delete_restated_away(account_id, metric, window)
            self.db["backfill_windows"].upsert({
                "account_id": account_id, "window_start": window_start.isoformat(),
                "window_end": window_end.isoformat(), "metric": metric, "records": len(rows),
                "completed_at": dt.datetime.now(UTC).isoformat(),
            }, pk=["account_id", "window_start", "window_end", "metric"])
        return len(rows)

    def backfill_done(self, metric: str) -> set[tuple[str, str, str]]:
        return {(r["account_id"], r["window_start"], r["window_end"])
                for r in self.db["backfill_windows"].rows_where("metric = ?", [metric])}

    def upsert_accounts(self, accounts: Iterable[tuple[str, str, str]]) -> None:
        rows = [{"id": i, "name": n, "project": p} for i, n, p in accounts]
        if rows:
            with self.write():
                self.db["accounts"].upsert_all(rows, pk="id")

    # ------------------------------------------------------------------------------------- posts

    def post_state(self, day: dt.date, destination: str) -> dict[str, Any] | None:
        rows = list(self.db["posts"].rows_where("day = ? and destination = ?", [day.isoformat(), destination]))
        return rows[0] if rows else None

    def first_post_day(self, destination: str) -> dt.date | None:
        """The oldest day with a post row (any state) for the destination: None for a new one."""
        row = self.db.execute("SELECT min(day) FROM posts WHERE destination = ?", [destination]).fetchone()
        return dt.date.fromisoformat(row[0]) if row and row[0] else None

    def mark_sending(self, day: dt.date, destination: str, key: str) -> None:
        """Written before the request: a crash before :meth:`mark_posted` leaves this mark behind."""
        with self.write():
            self.db["posts"].upsert({"day": day.isoformat(), "destination": destination, "state": "sending",
                                     "idempotency_key": key, "started_at": dt.datetime.now(UTC).isoformat(),
                                     "posted_at": None, "deterministic": None},
                                    pk=["day", "destination"])

    def mark_posted(self, day: dt.date, destination: str, key: str, deterministic: bool) -> None:
        with self.write():
            self.db["posts"].upsert({"day": day.isoformat(), "destination": destination, "state": "posted",
                                     "idempotency_key": key, "posted_at": dt.datetime.now(UTC).isoformat(),
                                     "deterministic": 1 if deterministic else 0}, pk=["day", "destination"])

    def mark_unknown(self, day: dt.date, destination: str) -> None:
        """A ``sending`` mark left by a crash, for a platform that cannot deduplicate: never sent again."""
        with self.write():
            self.db.execute("UPDATE posts SET state = 'unknown' WHERE day = ? AND destination = ?",
                            [day.isoformat(), destination])

    def mark_failed(self, day: dt.date, destination: str) -> None:
        """A post that failed (no 2xx): still due, so later cycles (and a restarted reporter) try it again."""
        with self.write():
            self.db.execute("UPDATE posts SET state = 'failed' WHERE day = ? AND destination = ? AND state = 'sending'",
                            [day.isoformat(), destination])

    # ------------------------------------------------------------------------------------- reads

    def _costs(self, metric: str, granularity: str, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
        # One cost metric only: after a change of collectors.cost.metric the history holds both for old days,
        # and adding AmortizedCost to UnblendedCost would count the same spend twice.
        return list(self.db.query(
            "SELECT c.account_id, coalesce(a.name, c.account_id) AS account, coalesce(a.project, '') AS project, "
            "c.service, c.period_start, c.period_end, c.amount, c.estimated FROM cost c "
            "LEFT JOIN accounts a ON a.id = c.account_id "
            "WHERE c.metric = ? AND c.granularity = ? AND c.period_start >= ? AND c.period_start < ?",
            [metric, granularity, start.isoformat(), end.isoformat()]))

    def daily_costs(self, start: dt.date, end: dt.date, metric: str = DEFAULT_COST_METRIC) -> list[dict[str, Any]]:
        """Daily cost rows of ``metric`` with period_start in [start, end), joined with account names."""
        return self._costs(metric, DAILY, start, end)

    def history_starts(self, metric: str = DEFAULT_COST_METRIC) -> dict[str, dt.date]:
        """Per account, the first day its daily ``metric`` history holds (days after it without a row had no
        cost: Cost Explorer returns nothing for them)."""
        rows = self.db.execute("SELECT account_id, min(period_start) FROM cost WHERE granularity = 'daily' "
                               "AND metric = ? GROUP BY account_id", [metric]).fetchall()
        return {account_id: dt.date.fromisoformat(first) for account_id, first in rows}

    def monthly_costs(self, month_start: dt.date, metric: str = DEFAULT_COST_METRIC) -> list[dict[str, Any]]:
        """Monthly cost rows of ``metric`` for the month starting ``month_start``."""
        return self._costs(metric, MONTHLY, month_start, month_start + dt.timedelta(days=1))

    def accounts(self) -> list[dict[str, Any]]:
        return list(self.db["accounts"].rows)

    def health_events(self) -> list[dict[str, Any]]:
        return list(self.db.query(
            "SELECT h.*, coalesce(a.name, h.account_id) AS account FROM health_events h "
            "LEFT JOIN accounts a ON a.id = h.account_id"))

    def collector_status(self) -> list[dict[str, Any]]:
        return list(self.db.query(
            "SELECT s.*, coalesce(a.name, s.account_id) AS account FROM collector_status s "
            "LEFT JOIN accounts a ON a.id = s.account_id ORDER BY s.collector, account"))

    def last_pull(self) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM pulls WHERE error IS NULL ORDER BY pulled_at DESC LIMIT 1"))
        return rows[0] if rows else None

    def pull_status(self) -> list[dict[str, Any]]:
        """Per exporter (public URL): its latest attempt and error, last success, failed pulls since that success."""
        return list(self.db.query(
            "SELECT p.exporter, p.pulled_at AS last_attempt, p.error AS last_error, s.pulled_at AS last_success, "
            "s.taken_at AS snapshot_taken_at, "
            "(SELECT count(*) FROM pulls f WHERE f.exporter = p.exporter AND f.error IS NOT NULL "
            " AND f.pulled_at > coalesce(s.pulled_at, '')) AS failed_since_success "
            "FROM pulls p "
            "LEFT JOIN pulls s ON s.id = (SELECT id FROM pulls WHERE exporter = p.exporter AND error IS NULL "
            "                             ORDER BY pulled_at DESC, id DESC LIMIT 1) "
            "WHERE p.id = (SELECT id FROM pulls WHERE exporter = p.exporter ORDER BY pulled_at DESC, id DESC LIMIT 1) "
            "ORDER BY p.exporter"))

    # ------------------------------------------------------------------------------------- retention

    def apply_retention(self, retention: Retention, today: dt.date) -> dict[str, int]:
        """Delete rows older than each table's retention; one transaction."""
        def before(days: int) -> str:
            return (today - dt.timedelta(days=days)).isoformat()

        statements = {
            "cost": ("DELETE FROM cost WHERE period_end < ?", before(retention.cost_days)),
            # Closed events, by when they closed: AWS's last update, or when they left the Health results.
            "health_events": ("DELETE FROM health_events WHERE coalesce(status_code, '') = 'closed' "
                              "AND coalesce(closed_at, last_updated_time, end_time, start_time, '') < ?",
                              before(retention.health_days)),
            "cloudwatch_points": ("DELETE FROM cloudwatch_points WHERE timestamp < ?", before(retention.cloudwatch_days)),
            "pulls": ("DELETE FROM pulls WHERE pulled_at < ?", before(retention.pulls_days)),
            # An account still configured is attempted every collector interval: a row not attempted for as
            # long as pulls are kept belongs to an account (or exporter) removed from the config.
            "collector_status": ("DELETE FROM collector_status WHERE coalesce(last_attempt, '') < ?",
                                 before(retention.pulls_days)),
            "posts": ("DELETE FROM posts WHERE day < ?", before(retention.posts_days)),
        }
        deleted = {}
        with self.write():
            for table, (sql, cutoff) in statements.items():
                deleted[table] = self.db.execute(sql, [cutoff]).rowcount
        return deleted
