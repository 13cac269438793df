"""Runs collectors over the fleet and publishes snapshots; APScheduler gives each its own interval.

One collector run = every configured account, one after another by default (``aws.concurrency`` > 1
uses a bounded pool), then a single atomic publish. A failing account becomes a value: ``up`` 0, one
log line with the reason, its last good records kept.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from exporter.aws import EXPECTED_ERRORS, error_message
from exporter.collectors.base import Collected, Collector, Failed, FleetOutcomes, Outcome
from exporter.config import Account
from exporter.discovery import Discovery
from exporter.fleet import Fleet
from exporter.model import AccountResult, CollectorRun, CostSignals, Snapshot, UnmappedCost, utcnow
from exporter.snapshot import SnapshotHolder
from exporter.spend import SpendLimitReached

log = logging.getLogger(__name__)
DISCOVERY_RETRY_SECONDS = 300.0


class Runner:
    def __init__(self, accounts: Sequence[Account] | Fleet, holder: SnapshotHolder, concurrency: int = 1,
                 today: Callable[[], dt.date] = lambda: utcnow().date(), owns: Callable[[str], bool] | None = None):
        """``accounts``: a fixed list, or the :class:`Fleet` discovery keeps current (read at each pass).
        ``owns``: a shard's share (by account id): a collector that goes account by account covers only those;
        a fleet-wide one (run by shard 0 only) answers for every account."""
        self.fleet = accounts if isinstance(accounts, Fleet) else Fleet(accounts)
        self.holder = holder
        self.concurrency = max(1, concurrency)
        self.today = today
        self.owns = owns
        self._running: dict[str, threading.Lock] = {}
        self._retrying: set[str] = set()  # collectors whose running pass is a retry of failed accounts
        self._state = threading.Lock()  # guards _running and _retrying
        self._stopping = threading.Event()

    @property
    def accounts(self) -> tuple[Account, ...]:
        return self.fleet.accounts

    def covered(self, collector: Collector) -> tuple[Account, ...]:
        """The accounts a pass of ``collector`` covers: the fleet, or this shard's share of it."""
        if self.owns is None or collector.fleet_wide:
            return self.accounts
        return tuple(a for a in self.accounts if self.owns(a.id))

    def stop(self) -> None:
        """Finish the account in progress, start no other, publish nothing more (the process is exiting)."""
        self._stopping.set()

    def run(self, collector: Collector, as_of: dt.date | None = None,
            accounts: Sequence[Account] | None = None) -> Snapshot | None:
        """One pass over the fleet, or over ``accounts`` only (a retry of the ones that failed); returns the
        published snapshot (None if a pass was already running, or cut short by :meth:`stop`).

        A pass never overlaps another of the same collector. A full pass that finds a retry running waits
        for it (a retry covers only the failed accounts: skipping the pass would leave every healthy account
        a whole interval older); a retry that finds anything running is skipped (the pass covers it)."""
        retry = accounts is not None
        with self._state:  # taking the lock and saying what holds it are one step
            lock = self._running.setdefault(collector.name, threading.Lock())
            acquired = lock.acquire(blocking=False)
            if acquired and retry:
                self._retrying.add(collector.name)
            behind_retry = not acquired and not retry and collector.name in self._retrying
        if behind_retry:
            log.info("event=collect_waiting collector=%s reason=retry_running", collector.name)
            lock.acquire()
            acquired = True
        if not acquired:
            log.warning("event=collect_skipped collector=%s reason=previous_run_still_running", collector.name)
            return None
        try:
            fleet = self.covered(collector)
            return self._run(collector, as_of or self.today(), tuple(accounts) if accounts else fleet, fleet)
        finally:
            with self._state:
                self._retrying.discard(collector.name)
                lock.release()

    def _run(self, collector: Collector, as_of: dt.date, targets: tuple[Account, ...],
             fleet: tuple[Account, ...]) -> Snapshot | None:
        started, t0 = utcnow(), time.monotonic()
        snapshot = self.holder.current
        partial = targets != fleet
        previous = {a.id: r for a in targets if (r := snapshot.result(collector.name, a.id)) is not None}
        log.info("event=collect_start collector=%s accounts=%d as_of=%s retry=%s", collector.name, len(targets),
                 as_of, str(partial).lower())

        outcomes: dict[str, tuple[Outcome, float]] = {}
        unmapped: tuple[UnmappedCost, ...] = ()
        signals: CostSignals | None = None
        fleet_wide = self._safe_fleet(collector, targets, as_of, previous, t0)
        if fleet_wide is not None:
            outcomes, unmapped, signals = fleet_wide
        elif self.concurrency == 1:
            for account in targets:
                if self._stopping.is_set():
                    break
                outcomes[account.id] = self._collect_one(collector, account, as_of, previous.get(account.id))
        else:
            with ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"collect-{collector.name}") as pool:
                futures = {a.id: pool.submit(self._collect_one, collector, a, as_of, previous.get(a.id))
                           for a in targets}
                outcomes = {account_id: f.result() for account_id, f in futures.items()}

        if self._stopping.is_set():
            log.info("event=collect_abandoned collector=%s reason=shutdown collected=%d of=%d", collector.name,
                     len(outcomes), len(targets))
            return None
        finished = utcnow()
        results = []
        served = {a.id for a in self.accounts}  # discovery may have let some go during the pass
        for account in targets:
            if account.id not in served:
                continue
            outcome, duration = outcomes.get(account.id, (Failed("NotCollected: no outcome for account"), 0.0))
            results.append(self._result(collector.name, account, outcome, duration, as_of, finished,
                                        previous.get(account.id)))
        ok = sum(1 for r in results if r.up)
        run = CollectorRun(collector=collector.name, started=started, duration_seconds=time.monotonic() - t0,
                           accounts_ok=ok, accounts_failed=len(results) - ok,
                           unmapped=unmapped, signals=signals)
        log.info("event=collect_done collector=%s ok=%d failed=%d duration_seconds=%.3f retry=%s",
                 collector.name, run.accounts_ok, run.accounts_failed, run.duration_seconds, str(partial).lower())
        # A retry updates its accounts; the collector's pass figures stay those of the last full pass.
        return self.holder.publish(None if partial else run, results)

    def _safe_fleet(self, collector: Collector, targets: tuple[Account, ...], as_of: dt.date,
                    previous: Mapping[str, AccountResult], t0: float
                    ) -> tuple[dict[str, tuple[Outcome, float]], tuple[UnmappedCost, ...], CostSignals | None] | None:
        try:
            fleet = collector.collect_fleet(targets, as_of, previous)
        except SpendLimitReached as exc:  # said once by the budget; every account keeps its last result
            return {a.id: (Failed(str(exc), exc), time.monotonic() - t0) for a in targets}, (), None
        except Exception as exc:  # noqa: BLE001 - a failed fleet call fails every account, as values
            failure = self._failure(collector.name, None, exc)
            return {a.id: (failure, time.monotonic() - t0) for a in targets}, (), None
        if fleet is None:
            return None
        duration = time.monotonic() - t0
        unmapped = fleet.unmapped if isinstance(fleet, FleetOutcomes) else ()
        signals = fleet.signals if isinstance(fleet, FleetOutcomes) else None
        return {account_id: (outcome, duration) for account_id, outcome in fleet.items()}, unmapped, signals

    def _collect_one(self, collector: Collector, account: Account, as_of: dt.date,
                     previous: AccountResult | None) -> tuple[Outcome, float]:
        t0 = time.monotonic()
        if self._stopping.is_set():  # queued in the pool when shutdown began
            return Failed("NotCollected: shutting down"), 0.0
        try:
            outcome: Outcome = collector.collect_account(account, as_of, previous)
        except SpendLimitReached as exc:  # said once by the budget; the account keeps its last result
            outcome = Failed(str(exc), exc)
        except Exception as exc:  # noqa: BLE001 - one account's failure must not stop the others
            outcome = self._failure(collector.name, account, exc)
        return outcome, time.monotonic() - t0

    @staticmethod
    def _failure(collector: str, account: Account | None, exc: BaseException) -> Failed:
        message = error_message(exc)
        where = f"account={account.name} account_id={account.id}" if account else "account=*"
        if isinstance(exc, EXPECTED_ERRORS):
            log.warning("event=collect_failed collector=%s %s error=%r", collector, where, message)
        else:
            log.error("event=collect_failed collector=%s %s error=%r", collector, where, message, exc_info=exc)
        return Failed(message, exc)

    @staticmethod
    def _result(collector: str, account: Account, outcome: Outcome, duration: float, as_of: dt.date,
                at: dt.datetime, previous: AccountResult | None) -> AccountResult:
        if isinstance(outcome, Collected):
            return AccountResult(collector=collector, account_id=account.id, records=outcome.records, up=True,
                                 last_attempt=at, last_success=at, duration_seconds=duration, error=None,
                                 as_of=as_of, detail=outcome.detail)
        if isinstance(outcome.exception, SpendLimitReached) and previous is not None:
            return previous  # not asked (aws.spend_limits): its last values stay served, with their age
        before = previous or AccountResult(collector=collector, account_id=account.id)
        return before.failed(at, duration, outcome.error, outcome.detail)


class Schedule:
    """Each collector on its own interval; first run at start; a run never overlaps itself.

    A collector with ``retry_interval_seconds`` shorter than its interval (cost: 6 h vs 15 min) gets
    its failed accounts collected again that much later, instead of staying down until the next pass (a
    fleet-wide collector, which asks one account for all, retries a whole pass). With organization
    discovery, it runs first (the first passes cover the discovered fleet), then every ``refresh_interval``;
    a failed discovery is tried again after :data:`DISCOVERY_RETRY_SECONDS`.

    Jobs name their collector; each run takes the instance a config reload last gave
    (:meth:`reconfigure`), so a reload never waits for a running pass.
    """

    def __init__(self, runner: Runner, collectors: Sequence[Collector], discovery: Discovery | None = None,
                 max_collectors: int | None = None):
        """``max_collectors``: how many collectors a reload may turn on (sizes the thread pool)."""
        self.runner = runner
        self._collectors = {c.name: c for c in collectors}
        self.discovery = discovery
        self._lock = threading.Lock()  # guards _collectors, _passing, _rerun against a reload
        self._passing: set[str] = set()  # collectors whose regular pass is running
        self._rerun: set[str] = set()  # collectors a reload changed during their pass: another pass follows
        self._discovered = discovery is None  # collectors wait for the first discovery
        workers = 1 + max(1, 2 * max(len(self._collectors), max_collectors or 0))
        self.scheduler = BackgroundScheduler(timezone=dt.timezone.utc,
                                             # a pass and a retry per collector: a retry never delays
                                             # another collector's pass
                                             executors={"default": {"type": "threadpool", "max_workers": workers}},
                                             job_defaults={"coalesce": True, "max_instances": 1,
                                                           "misfire_grace_time": None})

    @property
    def collectors(self) -> tuple[Collector, ...]:
        return tuple(self._collectors.values())

    def start(self) -> None:
        now = dt.datetime.now(dt.timezone.utc)
        if self.discovery is not None:
            self._add_discovery(self.discovery, now)
        for collector in self.collectors:
            self._add_pass(collector, now)
        self.scheduler.start()

    def shutdown(self) -> None:
        self.scheduler.shutdown(wait=False)

    def next_runs(self) -> dict[str, dt.datetime | None]:
        """When each job runs next: a collector's next pass under its name, its retry of failed accounts
        under ``<name>-retry``, and ``discovery`` (None: waiting for the first discovery)."""
        runs: dict[str, dt.datetime | None] = {}
        for job in self.scheduler.get_jobs():
            key = job.id.removesuffix("-reload")
            at = job.next_run_time
            runs[key] = at if key not in runs else min((t for t in (runs[key], at) if t is not None), default=None)
        return runs

    def _add_pass(self, collector: Collector, now: dt.datetime) -> None:
        self.scheduler.add_job(self._pass, "interval", args=[collector.name], id=collector.name,
                               name=f"collect-{collector.name}", seconds=collector.interval_seconds,
                               next_run_time=now if self._discovered else None)  # the first discovery starts it

    def _add_discovery(self, discovery: Discovery, now: dt.datetime) -> None:
        self.scheduler.add_job(self._discover, "interval", id="discovery", name="discovery",
                               seconds=discovery.interval_seconds, next_run_time=now)

    def _discover(self) -> None:
        discovery = self.discovery
        if discovery is None:
            return  # a reload turned discovery off while this run was due
        ok = discovery.run()
        now = dt.datetime.now(dt.timezone.utc)
        # The retry is scheduled before the collectors are let go: whoever sees them run sees it too.
        if not ok and DISCOVERY_RETRY_SECONDS < discovery.interval_seconds:
            self.scheduler.add_job(self._discover, "date", run_date=now + dt.timedelta(seconds=DISCOVERY_RETRY_SECONDS),
                                   id="discovery-retry", name="retry-discovery", replace_existing=True)
        with self._lock:
            self._discovered = True
            for name in self._collectors:  # paused until the first discovery (good or not) is in
                job = self.scheduler.get_job(name)
                if job is not None and job.next_run_time is None:
                    job.modify(next_run_time=now)

    def _pass(self, name: str, accounts: Sequence[Account] | None = None) -> None:
        regular = accounts is None
        with self._lock:
            collector = self._collectors.get(name)
            if collector is None:
                return  # a reload turned it off
            if regular:
                self._passing.add(name)
        try:
            snapshot = self.runner.run(collector, accounts=accounts)
            while regular:
                with self._lock:
                    if name not in self._rerun or name not in self._collectors:
                        break
                    self._rerun.discard(name)  # a reload changed how it collects while it ran: once more
                    collector = self._collectors[name]
                snapshot = self.runner.run(collector)
        finally:
            if regular:
                with self._lock:
                    self._passing.discard(name)
        self._schedule_retry(collector, snapshot, accounts)

    def _schedule_retry(self, collector: Collector, snapshot: Snapshot | None,
                        accounts: Sequence[Account] | None) -> None:
        retry = getattr(collector, "retry_interval_seconds", None)
        if snapshot is None or not retry or retry >= collector.interval_seconds:
            return
        if collector.name not in self._collectors:
            return  # a reload turned it off during the pass
        failed = [a for a in (accounts or self.runner.accounts)
                  if (r := snapshot.result(collector.name, a.id)) is not None and not r.up]
        if not failed:
            return
        if collector.fleet_wide:
            failed = None  # one request set answers for every account: retry the whole pass
        run_at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=retry)
        regular = self.scheduler.get_job(collector.name)
        if regular is not None and regular.next_run_time is not None and run_at >= regular.next_run_time:
            return  # the next full pass comes first
        log.info("event=collect_retry_scheduled collector=%s accounts=%s at=%s", collector.name,
                 "all" if failed is None else len(failed), run_at.isoformat(timespec="seconds"))
        self.scheduler.add_job(self._pass, "date", run_date=run_at, args=[collector.name, failed],
                               id=f"{collector.name}-retry", name=f"retry-{collector.name}", replace_existing=True)

    # ------------------------------------------------------------------------------------ config reload

    def reconfigure(self, collectors: Sequence[Collector], changed: Iterable[str],
                    discovery: Discovery | None, rediscover: bool = False) -> None:
        """Take a reload's collectors and discovery. Collectors turned off lose their jobs; new ones, and the
        ``changed`` ones (they collect differently now), get a pass at once (after the running one, if any)
        and their next regular pass an interval later; a new interval alone counts from the last pass (6 h →
        1 h, 2 h after it: a pass now). ``rediscover``: discovery's scope changed, it runs at once."""
        now = dt.datetime.now(dt.timezone.utc)
        changed = set(changed)
        with self._lock:
            before, self._collectors = self._collectors, {c.name: c for c in collectors}
            for name in before.keys() - self._collectors.keys():
                for job_id in (name, f"{name}-retry", f"{name}-reload"):
                    self._remove_job(job_id)
                self._rerun.discard(name)
            for collector in self._collectors.values():
                job = self.scheduler.get_job(collector.name)
                if job is None:
                    self._add_pass(collector, now)
                elif collector.name in changed:
                    self._retime(job, collector.interval_seconds, now, from_now=True)
                    self._pass_now(collector.name, now)
                else:
                    self._retime(job, collector.interval_seconds, now)
            self._reconfigure_discovery(discovery, rediscover, now)

    def _pass_now(self, name: str, now: dt.datetime) -> None:
        """A pass of ``name`` at once, or right after the one running (call with ``_lock`` held)."""
        if name in self._passing:
            self._rerun.add(name)
        elif self._discovered:  # else the first discovery starts it
            self.scheduler.add_job(self._pass, "date", run_date=now, args=[name], id=f"{name}-reload",
                                   name=f"reload-{name}", replace_existing=True)

    @staticmethod
    def _retime(job: Any, seconds: float, now: dt.datetime, from_now: bool = False) -> None:
        """``job`` every ``seconds``: next an interval after its last run (``from_now``: after now), not before
        now; a job waiting for the first discovery keeps waiting."""
        before = job.trigger.interval.total_seconds()
        if before == seconds and not from_now:
            return
        trigger = IntervalTrigger(seconds=seconds, timezone=dt.timezone.utc)
        if job.next_run_time is None:
            job.modify(trigger=trigger)
            return
        last = now if from_now else job.next_run_time - dt.timedelta(seconds=before)
        job.modify(trigger=trigger, next_run_time=max(now, last + dt.timedelta(seconds=seconds)))

    def _reconfigure_discovery(self, discovery: Discovery | None, rediscover: bool, now: dt.datetime) -> None:
        before, self.discovery = self.discovery, discovery
        if discovery is None:
            self._remove_job("discovery")
            self._remove_job("discovery-retry")
            self._remove_job("discovery-reload")
            if not self._discovered:  # collectors waited for a discovery that will not come
                self._discovered = True
                for name in self._collectors:
                    job = self.scheduler.get_job(name)
                    if job is not None and job.next_run_time is None:
                        job.modify(next_run_time=now)
            return
        job = self.scheduler.get_job("discovery")
        if job is None or before is None:
            self._add_discovery(discovery, now)
            return
        self._retime(job, discovery.interval_seconds, now)
        if rediscover or discovery is not before:
            self.scheduler.add_job(self._discover, "date", run_date=now, id="discovery-reload",
                                   name="reload-discovery", replace_existing=True)

    def _remove_job(self, job_id: str) -> None:
        try:
            self.scheduler.remove_job(job_id)
        except JobLookupError:
            pass  # none, or a one-off job that has just run
