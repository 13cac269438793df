"""One reporter cycle: pull ``/snapshot`` → SQLite → facts → LLM claims (checked) or deterministic text → chat.

Posting is exactly once per (day, destination):

1. a destination already marked ``posted`` for the day is skipped;
2. before the request a ``sending`` mark is written; after a 2xx it becomes ``posted``; after a
   failure it becomes ``failed``, still due, so a later cycle (or a restarted reporter) tries again;
3. a ``sending`` mark found at the start of a cycle means the process died mid-post: destinations
   that deduplicate (Google Chat message id, generic webhook ``Idempotency-Key``) are sent again with
   the same key; Slack and Teams cannot deduplicate, so they are *not* sent again (at most once) and
   the unknown outcome is logged and counted (``aws_ops_reporter_posts_total{result="unknown"}``);
4. a request that went out but got no answer (read timeout, dropped connection) is the same unknown
   outcome: sent again with its key where the platform deduplicates, marked ``unknown`` for Slack and Teams.
   Only a request that never left (connection refused, connect timeout) or a non-2xx answer is a failure.

With no chat destination configured the summary goes to the log, once per day, the same way.

Catch-up: once the day's schedule time has passed, each destination gets, oldest first, every day after
the newest one it has (posted, or unknown), within the last :data:`CATCH_UP_DAYS` days up to yesterday.
With nothing done in that window, a destination that was posted to before it (a longer outage) gets the
whole window, and a new one (a new installation or destination) starts at yesterday, or at the oldest day
in the window whose post failed (a ``failed`` row, kept across restarts). A failed post stops that
destination's catch-up for the cycle, so its days still go out in order; unless the platform refused it
(a 4xx other than 408/425/429), which waiting will not change: newer days go out, and the refused day
stays due while it is in the window.
"""

from __future__ import annotations

import datetime as dt
import logging
import ssl
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import IO

import httpx
import msgspec
from apscheduler.triggers.cron import CronTrigger

from exporter.config.pull import ExporterAccess
from exporter.config.reporter import ChatDestination, ReporterSettings
from exporter.model import SnapshotVersionError, decode_snapshot
from exporter.reporter import chat
from exporter.reporter.compose import Message, compose
from exporter.reporter.llm import LlmClient
from exporter.reporter.selfmetrics import SelfMetrics
from exporter.reporter.rows import public_url
from exporter.reporter.store import DEFAULT_COST_METRIC, Store
from exporter.reporter.summary import build_facts

log = logging.getLogger("exporter.reporter")
UTC = dt.timezone.utc
LOG_DESTINATION = ChatDestination(name="log", type="log", webhook_url_env="")
POST_GRACE = dt.timedelta(hours=6)
CATCH_UP_DAYS = 7  # a day whose post failed is still posted this many days on; older ones are dropped
DONE_STATES = ("posted", "unknown")  # a post row in these states is never sent again


def _one_line(exc: Exception) -> str:
    """``Type: message`` on one line (msgspec's messages name the path of what did not fit)."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def client_options(access: ExporterAccess | None) -> dict[str, object]:
    """httpx options for one exporter: its CA (else the system's) and basic auth, when its entry has them."""
    if access is None:
        return {}
    options: dict[str, object] = {}
    if access.ca_file:
        options["verify"] = ssl.create_default_context(cafile=access.ca_file)
    if access.username:
        options["auth"] = httpx.BasicAuth(access.username, access.password or "")
    return options


def snapshot_url(base: str) -> str:
    return base if base.rstrip("/").endswith("/snapshot") else f"{base.rstrip('/')}/snapshot"


class Reporter:
    def __init__(self, settings: ReporterSettings, store: Store, metrics: SelfMetrics | None = None,
                 llm: LlmClient | None = None, project_budgets: Mapping[str, Decimal] | None = None,
                 account_budgets: Mapping[str, Decimal] | None = None, cost_metric: str = DEFAULT_COST_METRIC,
                 now: Callable[[], dt.datetime] = lambda: dt.datetime.now(UTC),
                 transport: httpx.BaseTransport | None = None):
        self.settings = settings
        self.store = store
        self.metrics = metrics or SelfMetrics(settings.exporter_urls, [d.name for d in settings.chat])
        self.llm = llm if llm is not None else (LlmClient(settings.llm) if settings.llm else None)
        self.project_budgets = dict(project_budgets or {})
        self.account_budgets = dict(account_budgets or {})
        self.cost_metric = cost_metric  # collectors.cost.metric: the one the summary reads
        self.now = now
        self.transport = transport
        self.lock = threading.Lock()
        self.trigger = CronTrigger(hour=settings.schedule_hour, minute=settings.schedule_minute,
                                   timezone=settings.tz)
        self._retention_day: dt.date | None = None
        # (day, destination) whose last post the platform refused for good (a 4xx other than 408/425/429):
        # trying again later is right, but holding the destination's newer days behind it is not.
        self._refused: set[tuple[dt.date, str]] = set()
        # httpx/httpcore log every request URL (INFO/DEBUG): webhook URLs are credentials, so never.
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.WARNING)

    # ------------------------------------------------------------------------------------ history

    def pull(self) -> bool:
        """Pull every exporter's ``/snapshot`` into SQLite; one failing exporter does not stop the others."""
        all_ok = True
        for base in self.settings.exporter_urls:
            error = self._pull_one(base)
            if error is not None:
                self._pull_failed(base, error)
                all_ok = False
        return all_ok

    def _pull_one(self, base: str) -> str | None:
        """One exporter's ``/snapshot``, decoded with the exporter's model and stored; why it failed, or None.

        A snapshot of another major schema version (or none), or one that does not fit the model, is refused
        whole: nothing of it is stored.
        """
        try:
            options = client_options(self.settings.access(base))
        except OSError as exc:  # ssl.SSLError too: the ca_file went away or changed since the reporter started
            return f"ca_file: {' '.join(str(exc).split())}"
        try:
            with httpx.Client(timeout=self.settings.pull_timeout_seconds, transport=self.transport,
                              **options) as http:
                response = http.get(snapshot_url(base))
                response.raise_for_status()
                snapshot = decode_snapshot(response.content)
            stored = self.store.store_snapshot(snapshot, base, self.now())
        except httpx.ConnectError as exc:
            reason = " ".join(str(exc).split())
            return f"TLS: {reason}" if "SSL" in reason else type(exc).__name__  # e.g. an unknown CA
        except httpx.HTTPError as exc:
            return f"HTTP {exc.response.status_code}" if isinstance(exc, httpx.HTTPStatusError) else type(exc).__name__
        except (SnapshotVersionError, msgspec.MsgspecError) as exc:
            return _one_line(exc)
        except Exception as exc:  # noqa: BLE001 - a snapshot store_snapshot cannot store: this exporter only
            log.error("event=pull_unreadable exporter=%s", public_url(base), exc_info=True)
            return f"unreadable snapshot ({type(exc).__name__})"
        log.info("event=pulled exporter=%s cost_rows=%d health_rows=%d cloudwatch_rows=%d ignored=%d",
                 public_url(base), stored.rows["cost"], stored.rows["health_events"],
                 stored.rows["cloudwatch_points"], stored.ignored)
        self.metrics.pulled(base, ok=True)
        return None

    def _pull_failed(self, base: str, error: str) -> None:
        log.warning("event=pull_failed exporter=%s error=\"%s\"", public_url(base), error)
        self.store.record_pull_error(base, error, self.now())
        self.metrics.pulled(base, ok=False)

    # ------------------------------------------------------------------------------------ summary

    def compose(self, day: dt.date) -> Message:
        s = self.settings
        facts = build_facts(self.store, day, self.now(), s.summary, self.project_budgets, self.account_budgets,
                            self.cost_metric, tz=s.tz)
        return compose(facts, s, self.llm, self.metrics, self.cost_metric)

    # ------------------------------------------------------------------------------------ posting

    def destinations(self) -> tuple[ChatDestination, ...]:
        return self.settings.chat or (LOG_DESTINATION,)

    def pending(self, day: dt.date, destinations: Sequence[ChatDestination] | None = None) -> list[ChatDestination]:
        out = []
        for destination in self.destinations() if destinations is None else destinations:
            state = self.store.post_state(day, destination.name)
            if state is None or state["state"] == "failed":
                out.append(destination)
            elif state["state"] == "sending":
                if destination.type in chat.DEDUPLICATING:
                    out.append(destination)  # same idempotency key: the platform or receiver deduplicates
                else:
                    self._outcome_unknown(day, destination, "the process stopped mid-post")
        return out

    def _outcome_unknown(self, day: dt.date, destination: ChatDestination, what: str) -> None:
        """At most once for a platform that cannot deduplicate: a post that may have gone out is not sent again."""
        log.warning("event=post_outcome_unknown day=%s destination=%s action=not_reposted "
                    "why=\"%s and %s cannot deduplicate\"", day, destination.name, what, destination.type)
        self.metrics.posted(destination.name, "unknown")
        self.store.mark_unknown(day, destination.name)

    def post_day(self, day: dt.date, dry_run: bool = False, out: IO[str] | None = None,
                 destinations: Sequence[ChatDestination] | None = None) -> bool:
        """Summarize ``day`` and post it where (of ``destinations``, default all) it is not posted yet;
        True when nothing failed."""
        pending = list(destinations or self.destinations()) if dry_run else self.pending(day, destinations)
        if not pending:
            log.info("event=post_skipped day=%s reason=already_posted", day)
            return True
        message = self.compose(day)
        if dry_run:
            out = out or sys.stdout
            out.write(f"{message.title}\n{message.text}\n")
            out.write(f"(dry run: not posted to {', '.join(d.name for d in pending)})\n")
            return True
        all_ok = True
        for destination in pending:
            all_ok &= self._post(destination, message)
        return all_ok

    def _post(self, destination: ChatDestination, message: Message) -> bool:
        day = message.day
        key = chat.idempotency_key(day.isoformat(), destination.name)
        self.store.mark_sending(day, destination.name, key)
        if destination.type == "log":
            log.info("event=summary day=%s deterministic=%s text=%r", day, message.deterministic,
                     f"{message.title}\n{message.text}")
            result = chat.PostResult(True, None)
        else:
            body = chat.payload(destination, message.title, message.text, key, message.deterministic,
                                day.isoformat(), message.links)
            result = chat.post(destination, body, key, transport=self.transport)
        if result.ok:
            self._refused.discard((day, destination.name))
            self.store.mark_posted(day, destination.name, key, message.deterministic)
            self.metrics.posted(destination.name, "ok")
            log.info("event=posted day=%s destination=%s type=%s status=%s deterministic=%s duplicate=%s",
                     day, destination.name, destination.type, result.status, message.deterministic,
                     result.duplicate)
        elif result.maybe_delivered and destination.type not in chat.DEDUPLICATING:
            self._outcome_unknown(day, destination, f"the platform did not answer ({result.error})")
        else:
            self.store.mark_failed(day, destination.name)
            if result.status is not None and 400 <= result.status < 500 and result.status not in (408, 425, 429):
                self._refused.add((day, destination.name))
            self.metrics.posted(destination.name, "failed")
            log.warning("event=post_failed day=%s destination=%s type=%s error=%r action=retry_next_cycle",
                        day, destination.name, destination.type, result.error)
        return result.ok

    # ------------------------------------------------------------------------------------ cycles

    def default_day(self) -> dt.date:
        """Yesterday in ``reporter.timezone``, but never a UTC day that is not over (cost days are UTC days)."""
        now = self.now()
        return min(now.astimezone(self.settings.tz).date(), now.astimezone(UTC).date()) - dt.timedelta(days=1)

    def _fire_today(self) -> dt.datetime | None:
        local = self.now().astimezone(self.settings.tz)
        return self.trigger.get_next_fire_time(None, local.replace(hour=0, minute=0, second=0, microsecond=0))

    def due_day(self) -> dt.date | None:
        """The day to report on if today's scheduled time has passed, else None."""
        fire = self._fire_today()
        return self.default_day() if fire is not None and fire <= self.now() else None

    def catch_up_plan(self, newest: dt.date) -> dict[dt.date, list[ChatDestination]]:
        """The days to post up to ``newest``, oldest first, each with the destinations that still lack it."""
        window_start = newest - dt.timedelta(days=CATCH_UP_DAYS - 1)
        window = [window_start + dt.timedelta(days=i) for i in range(CATCH_UP_DAYS)]  # up to newest
        plan: dict[dt.date, list[ChatDestination]] = {}
        for destination in self.destinations():
            states = {day: self.store.post_state(day, destination.name) for day in window}
            done = [day for day, state in states.items() if state is not None and state["state"] in DONE_STATES]
            if done:
                start = max(done) + dt.timedelta(days=1)
            else:
                # Nothing done in the window: a destination posted to before it (the reporter was down, or its
                # posts failed, for longer) gets the whole window; a new one yesterday only (no backlog
                # flood), or from the oldest day whose post failed.
                first = self.store.first_post_day(destination.name)
                start = window_start if first is not None and first < window_start else newest
                start = min([start] + [day for day, state in states.items() if state is not None])
            # Days after the newest one done, and any older day still failed (refused by the platform while
            # newer days went out: it stays due until it leaves the window).
            due = {day for day in window if day >= start}
            due |= {day for day, state in states.items() if state is not None and state["state"] == "failed"}
            for day in due:
                plan.setdefault(day, []).append(destination)
        return dict(sorted(plan.items()))

    def _post_due(self, newest: dt.date, pulled: bool) -> None:
        retry: set[str] = set()  # destinations whose older day failed: their newer days wait for it
        for day, planned in self.catch_up_plan(newest).items():
            destinations = [d for d in planned if d.name not in retry]
            if not self.pending(day, destinations):
                continue
            if day == newest and self._waiting_for_cost(day, pulled):
                continue
            if day < newest:
                log.info("event=catch_up day=%s destinations=%s", day, ",".join(d.name for d in destinations))
            self.post_day(day, destinations=destinations)
            retry |= {d.name for d in destinations
                      if ((state := self.store.post_state(day, d.name)) is None or state["state"] == "failed")
                      and (day, d.name) not in self._refused}

    def _waiting_for_cost(self, day: dt.date, pulled: bool) -> bool:
        """Whether the newest day's post should wait for a pull that brings its cost (see :meth:`tick`)."""
        fire = self._fire_today()
        waiting = not pulled or not self.store.daily_costs(day, day + dt.timedelta(days=1), self.cost_metric)
        if waiting and fire is not None and self.now() < fire + POST_GRACE:
            log.info("event=summary_deferred day=%s reason=%s", day, "pull_failed" if not pulled else "no_cost_for_day")
            return True
        return False

    def once(self, day: dt.date | None = None, dry_run: bool = False, out: IO[str] | None = None) -> bool:
        with self.lock:
            self.pull()
            return self.post_day(day or self.default_day(), dry_run=dry_run, out=out)

    def tick(self) -> None:
        """The scheduled job: pull; once the day's time has come, post the days destinations still lack
        (yesterday, and earlier days whose post failed: see :meth:`catch_up_plan`).

        Right after a start the exporter may not answer yet, or not have collected: yesterday's post waits
        for a pull that brings its cost, for up to ``POST_GRACE`` after the scheduled time; then it goes
        out anyway, its freshness facts saying what is missing.
        """
        with self.lock:
            try:
                pulled = self.pull()
                newest = self.due_day()
                if newest is not None:
                    self._post_due(newest, pulled)
                self._retention()
            except Exception as exc:  # noqa: BLE001 - a scheduled job must survive to the next cycle
                log.error("event=cycle_failed error=%s", type(exc).__name__, exc_info=True)

    def _retention(self) -> None:
        today = self.now().date()
        if self._retention_day == today:
            return
        deleted = self.store.apply_retention(self.settings.retention, today)
        self._retention_day = today
        if any(deleted.values()):
            log.info("event=retention %s", " ".join(f"{k}={v}" for k, v in deleted.items()))
