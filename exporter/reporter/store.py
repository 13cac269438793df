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
* ``cost_anomalies``    account_id + anomaly_id: the open anomalies (:mod:`exporter.reporter.anomalies`)
* ``cost_drivers``      account_id + day + service + usage_type: the exporter's spike drivers
                        (:mod:`exporter.reporter.drivers`)
* ``cost_record_types`` account_id + record_type + granularity + period_start: the cost split by record type
                        (:mod:`exporter.reporter.recordtypes`)
* ``cost_forecasts``    account_id (or ``organization``) + month_start: the month-end forecasts
                        (:mod:`exporter.reporter.forecasts`)

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

The schema and its migrations are in :mod:`exporter.reporter.schema`; records become rows in
:mod:`exporter.reporter.rows`.
Nothing secret is stored: destinations appear by name, never by webhook URL.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from sqlite_utils import Database

from exporter.config import CostSettings
from exporter.config.reporter import Retention
from exporter.model import DAILY, MONTHLY, CostRecord, Snapshot
from exporter.reporter.anomalies import open_anomalies, store_anomalies
from exporter.reporter.cwcontext import SeriesMeans, stored_means
from exporter.reporter.drivers import store_drivers, stored_drivers
from exporter.reporter.recordtypes import store_record_types
from exporter.reporter.forecasts import store_forecasts
from exporter.reporter.rows import PKS, TABLES, DailyWindow, cost_row, date_text, iso_z, public_url, upsert_groups
from exporter.reporter.schema import COST_PK, immediate, migrate, open_database

log = logging.getLogger(__name__)
UTC = dt.timezone.utc
DEFAULT_COST_METRIC = CostSettings().metric


@dataclass(frozen=True, slots=True)
class Stored:
    rows: Mapping[str, int]
    ignored: int



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
        rows: dict[str, list[dict[str, Any]]] = {table: [] for table, _ in TABLES.values()}
        status: list[dict[str, Any]] = []
        daily_windows: dict[tuple[str, str], DailyWindow] = {}  # (account, metric) of successful cost results
        health_listed: dict[str, set[str]] = {}  # account → event ARNs of its successful Health result
        ignored = 0
        for collector, state in snapshot.collectors.items():
            for account_id, result in state.accounts.items():
                status.append({
                    "collector": collector, "account_id": account_id, "up": 1 if result.up else 0,
                    "last_success": iso_z(result.last_success), "last_attempt": iso_z(result.last_attempt),
                    "error": result.error, "as_of": date_text(result.as_of),
                })
                if result.up and collector == "health":
                    health_listed[account_id] = set()
                for record in result.records:
                    table, build = TABLES[type(record)]
                    row = build(account_id, record)
                    if row is None:
                        ignored += 1
                        continue
                    rows[table].append(row)
                    if account_id in health_listed and table == "health_events":
                        health_listed[account_id].add(row["event_arn"])
                    if result.up and table == "cost" and row["granularity"] == DAILY:
                        as_of = date_text(result.as_of) or row["period_end"]
                        daily_windows.setdefault((account_id, row["metric"]),
                                                 DailyWindow(row["period_start"], as_of)).add(row)
        accounts = [{"id": a.id, "name": a.name or a.id, "project": a.project or ""}
                    for a in snapshot.accounts if a.id]
        with self.write():
            if accounts:
                self.db["accounts"].upsert_all(accounts, pk="id")
            for table, table_rows in rows.items():
                for group in upsert_groups(table, table_rows):
                    if group:
                        self.db[table].upsert_all(group, pk=PKS[table])
            for (account_id, metric), window in daily_windows.items():
                self._delete_restated_away(account_id, metric, window)
            for account_id, arns in health_listed.items():
                self._close_unlisted_events(account_id, arns, pulled_at)
            if status:
                self.db["collector_status"].upsert_all(status, pk=["collector", "account_id"])
            store_drivers(self.db, snapshot)
            store_anomalies(self.db, snapshot)
            store_record_types(self.db, snapshot)
            store_forecasts(self.db, snapshot)
            self.db["pulls"].insert({
                "exporter": public_url(exporter), "pulled_at": pulled_at.isoformat(),
                "taken_at": iso_z(snapshot.taken_at), "generation": snapshot.generation,
                "records": sum(len(r) for r in rows.values()), "error": None,
            })
        return Stored({table: len(r) for table, r in rows.items()}, ignored)

    def _delete_restated_away(self, account_id: str, metric: str, window: DailyWindow) -> None:
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
        window = DailyWindow(window_start.isoformat(), window_end.isoformat())
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

    def cost_collected(self, metric: str = DEFAULT_COST_METRIC) -> set[str]:
        """Accounts whose cost was collected successfully at least once: a stored row of ``metric``, or a cost
        collector status with a last success. Any other account's budget has no data (not a $0 month)."""
        rows = self.db.execute("SELECT DISTINCT account_id FROM cost WHERE metric = ? UNION "
                               "SELECT account_id FROM collector_status WHERE collector = 'cost' "
                               "AND last_success IS NOT NULL", [metric]).fetchall()
        return {account_id for (account_id,) in rows}

    def spike_drivers(self, day: dt.date, spikes: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
        """The usage types that drove each spike (account id, service) on ``day``: ``account``, ``account_id``,
        ``service``, ``usage_type``, ``usd`` (the day), ``baseline_mean_usd``, ``change_usd``, biggest first.

        The exporter's ``aws_cost_spike_driver_usd`` records, stored from ``/snapshot``
        (:func:`exporter.reporter.drivers.stored_drivers`); the facts, the claims check and the text take them
        (``factlist`` kind ``driver``).
        """
        return stored_drivers(self.db, day, spikes)

    def cloudwatch_means(self, account_ids: Iterable[str], day: dt.date, baseline_first: dt.date,
                         baseline_last: dt.date) -> list[SeriesMeans]:
        """Each CloudWatch series' mean on the day and over the baseline (:func:`exporter.reporter.cwcontext.stored_means`)."""
        return stored_means(self.db, account_ids, day, baseline_first, baseline_last)

    def open_anomalies(self) -> list[dict[str, Any]]:
        """The open Cost Anomaly Detection anomalies (:func:`exporter.reporter.anomalies.open_anomalies`)."""
        return open_anomalies(self.db)

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
            "cost_drivers": ("DELETE FROM cost_drivers WHERE day < ?", before(retention.cost_days)),
            "cost_record_types": ("DELETE FROM cost_record_types WHERE period_end < ?", before(retention.cost_days)),
            "cost_forecasts": ("DELETE FROM cost_forecasts WHERE forecast_end < ?", before(retention.cost_days)),
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
