"""``aws-ops-reporter backfill``: daily cost history straight from Cost Explorer, through the exporter's code.

Same path as the exporter: :class:`exporter.aws.AwsClients` (AssumeRole per account), and
:mod:`exporter.collectors.cost` (``CostQuery`` DAILY grouped by SERVICE, ``fetch_pages``, ``parse_page``), whose
:class:`exporter.model.CostRecord` records are stored as they are, as the exporter's snapshot would carry them.
The range is cut into calendar-month windows; each account × window is one GetCostAndUsage request
($0.01, plus NextPageToken pages). The plan and its price are announced before anything is sent.
Each finished account × window is recorded in SQLite with its rows (one transaction), so a second
run (after Ctrl-C, a crash or a failing account) only asks for what is missing.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from exporter.aws import AwsClients, cost_explorer_region, error_message
from exporter.collectors.cost import CostQuery, fetch_pages, parse_page
from exporter.config import Account, Config
from exporter.model import DAILY
from exporter.periods import month_windows
from exporter.telemetry import COST_EXPLORER_PRICE_PER_REQUEST_USD, ApiStats
from exporter.reporter.store import Store

log = logging.getLogger("exporter.reporter.backfill")
HISTORY_MONTHS = 14  # what Cost Explorer keeps by default (longer only with multi-year data enabled)


def oldest_available(today: dt.date) -> dt.date:
    """The first day of the month 13 months before this one: 14 calendar months including the current."""
    year, month = today.year, today.month - (HISTORY_MONTHS - 1)
    while month <= 0:
        year, month = year - 1, month + 12
    return dt.date(year, month, 1)


@dataclass(frozen=True, slots=True)
class Plan:
    windows: tuple[tuple[dt.date, dt.date], ...]
    todo: tuple[tuple[Account, dt.date, dt.date], ...]
    done: int

    @property
    def requests(self) -> int:
        return len(self.todo)

    def announcement(self, accounts: int) -> str:
        price = COST_EXPLORER_PRICE_PER_REQUEST_USD * self.requests
        return (f"backfill: {accounts} account(s) × {len(self.windows)} monthly window(s); {self.done} already done; "
                f"{self.requests} Cost Explorer GetCostAndUsage request(s) to make (more if an answer is paged), "
                f"${price:.2f} at ${COST_EXPLORER_PRICE_PER_REQUEST_USD} per request")


def plan(config: Config, store: Store, start: dt.date, end: dt.date) -> Plan:
    windows = tuple(month_windows(start, end))
    done = store.backfill_done(config.collectors.cost.metric)
    todo, skipped = [], 0
    for account in config.accounts:
        for ws, we in windows:
            if (account.id, ws.isoformat(), we.isoformat()) in done:
                skipped += 1
            else:
                todo.append((account, ws, we))
    return Plan(windows, tuple(todo), skipped)


class Progress:
    """One stderr line, redrawn in place on a terminal, one line per step otherwise."""

    def __init__(self, total: int, stream: IO[str]):
        self.total, self.stream, self.done = total, stream, 0
        self.tty = stream.isatty()

    def step(self, label: str) -> None:
        self.done += 1
        width = 30
        filled = width * self.done // max(1, self.total)
        line = f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {label}"
        self.stream.write(f"\r{line}\x1b[K" if self.tty else f"{line}\n")
        if self.tty and self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


def run(config: Config, store: Store, start: dt.date, end: dt.date, *, clients: AwsClients | None = None,
        confirm: Callable[[str], bool] | None = None, stream: IO[str] | None = None) -> int:
    """Backfill [start, end); returns the number of failed account × windows (0 = complete)."""
    stream = stream or sys.stderr
    store.upsert_accounts((a.id, a.name, a.project) for a in config.accounts)
    the_plan = plan(config, store, start, end)
    stream.write(the_plan.announcement(len(config.accounts)) + "\n")
    stream.flush()
    if not the_plan.todo:
        stream.write("backfill: nothing to do\n")
        return 0
    if confirm is not None and not confirm("continue?"):
        stream.write("backfill: cancelled, nothing was requested\n")
        return 0
    clients = clients or AwsClients(config.aws, ApiStats())
    metric = config.collectors.cost.metric
    progress = Progress(len(the_plan.todo), stream)
    failed: set[tuple[str, dt.date]] = set()
    broken_accounts: set[str] = set()
    for account, ws, we in the_plan.todo:
        label = f"account={account.name} window={ws.isoformat()}..{we.isoformat()}"
        if account.id in broken_accounts:
            failed.add((account.id, ws))
            progress.step(label + " skipped")
            continue
        try:
            client = clients.for_account(account, "ce", cost_explorer_region(account.role_arn))
            records = [r for page in fetch_pages(client, CostQuery("DAILY", ws, we, metric, account.id))
                       for r in parse_page(page, metric, DAILY)]
            rows = store.store_backfill_window(account.id, records, ws, we, metric)
        except Exception as exc:  # noqa: BLE001 - one account's failure never stops the others
            failed.add((account.id, ws))
            message = error_message(exc)
            log.warning("event=backfill_failed account=%s window_start=%s error=%r", account.name, ws, message)
            if _account_wide(message):
                broken_accounts.add(account.id)
            progress.step(label + " FAILED")
            continue
        log.debug("event=backfill_window account=%s window_start=%s rows=%d", account.name, ws, rows)
        progress.step(label)
    spent = clients.stats.requests_for("ce", "GetCostAndUsage")
    stream.write(f"backfill: made {spent} Cost Explorer request(s) (${COST_EXPLORER_PRICE_PER_REQUEST_USD * spent:.2f}); "
                 f"{len(the_plan.todo) - len(failed)} window(s) stored, {len(failed)} failed"
                 + ("; run the same command again to retry them\n" if failed else "\n"))
    return len(failed)


def _account_wide(message: str) -> bool:
    """Failures that would repeat for every window of the account (no point paying for them again)."""
    return any(code in message for code in ("AccessDenied", "AssumeRole", "InvalidClientTokenId",
                                             "ExpiredToken", "UnrecognizedClient"))

