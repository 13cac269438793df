"""Runner and schedule semantics: atomic snapshots, no overlapping runs, first run at start, failures as values.

These use a collector written for the test (no AWS): what is under test is the runner's contract.
"""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

from exporter.fleet import infos
from exporter.collectors.base import Collected, PerAccountCollector
from exporter.config import Account
from exporter.exposition import Exposition
from exporter.model import DAILY, AccountResult, CostRecord, Snapshot
from exporter.scheduler import Runner, Schedule
from exporter.snapshot import SnapshotHolder
from exporter.telemetry import ApiStats
from tests.aws_helpers import config_for, wait_for


def Value(value: int) -> CostRecord:  # noqa: N802 - reads as the value it stands for
    """A record whose amount says which collection made it."""
    return CostRecord("Test", DAILY, dt.date(2026, 11, 30), dt.date(2026, 12, 1), Decimal(value), "USD",
                      "AmortizedCost", False)


class GateCollector(PerAccountCollector):
    """Returns one record per account; blocks on ``gates[account_id]`` when one is set."""

    name = "gate"
    interval_seconds = 3600.0

    def __init__(self, value: int = 1):
        self.value = value
        self.gates: dict[str, threading.Event] = {}
        self.entered: dict[str, threading.Event] = {}
        self.fail: set[str] = set()
        self.calls = 0

    def collect_account(self, account: Account, as_of: dt.date, previous: AccountResult | None) -> Collected:
        self.calls += 1
        self.entered.setdefault(account.id, threading.Event()).set()
        if account.id in self.gates:
            self.gates[account.id].wait(10)
        if account.id in self.fail:
            raise RuntimeError("boom")
        return Collected(records=(Value(self.value),))


ACCOUNTS = config_for(1, 2, 3).accounts


def test_a_scrape_during_a_refresh_sees_the_previous_complete_snapshot():
    collector = GateCollector(value=1)
    holder = SnapshotHolder()
    runner = Runner(ACCOUNTS, holder)
    runner.run(collector)
    first = holder.current
    assert [r.records for r in first.for_collector("gate")] == [(Value(1),)] * 3

    collector.value = 2
    collector.gates["000000000002"] = threading.Event()
    worker = threading.Thread(target=runner.run, args=[collector])
    worker.start()
    collector.entered["000000000002"].wait(5)
    # Account 1 is already collected anew, account 2 is in progress: readers still see generation 1, whole.
    assert holder.current is first
    collector.gates["000000000002"].set()
    worker.join(10)
    assert [r.records for r in holder.current.for_collector("gate")] == [(Value(2),)] * 3
    assert holder.current.generation == first.generation + 1


def test_a_run_never_overlaps_itself():
    collector = GateCollector()
    collector.gates["000000000001"] = threading.Event()
    runner = Runner(ACCOUNTS, SnapshotHolder())
    worker = threading.Thread(target=runner.run, args=[collector])
    worker.start()
    collector.entered["000000000001"].wait(5)
    assert runner.run(collector) is None  # skipped, not queued behind the running one
    collector.gates["000000000001"].set()
    worker.join(10)
    assert collector.calls == 3


def test_a_pass_that_comes_while_a_retry_runs_waits_for_it_instead_of_being_skipped():
    """A retry covers only the failed accounts: skipping the regular pass behind it would leave every healthy
    account a whole interval (6 h for cost) older."""
    collector = GateCollector()
    collector.fail.add("000000000002")
    collector.gates["000000000002"] = threading.Event()
    runner = Runner(ACCOUNTS, SnapshotHolder())
    failed = [a for a in ACCOUNTS if a.id == "000000000002"]
    retry = threading.Thread(target=runner.run, args=[collector], kwargs={"accounts": failed})
    retry.start()
    assert collector.entered["000000000002"].wait(5)
    results: list = []
    regular = threading.Thread(target=lambda: results.append(runner.run(collector)))
    regular.start()
    regular.join(0.5)
    assert regular.is_alive()  # waiting behind the retry, not skipped
    assert runner.run(collector, accounts=failed) is None  # another retry meanwhile is skipped
    collector.gates["000000000002"].set()
    retry.join(10)
    regular.join(10)
    snapshot = results[0]
    assert snapshot is not None
    assert [snapshot.result("gate", a.id).up for a in ACCOUNTS] == [True, False, True]
    assert collector.calls == 1 + len(ACCOUNTS)  # the retry's one account, then the whole pass


def test_an_unexpected_error_in_one_account_is_a_value_and_the_others_continue(caplog):
    collector = GateCollector()
    runner = Runner(ACCOUNTS, SnapshotHolder())
    runner.run(collector)
    collector.value = 5
    collector.fail.add("000000000002")
    snapshot = runner.run(collector)
    results = {r.account_id: r for r in snapshot.for_collector("gate")}
    assert [results[a.id].up for a in ACCOUNTS] == [True, False, True]
    assert results["000000000002"].records == (Value(1),)  # last good value kept
    assert results["000000000002"].error == "RuntimeError: boom"
    assert snapshot.runs["gate"].accounts_failed == 1
    assert "event=collect_failed collector=gate account=acct-2" in caplog.text


def test_the_schedule_runs_each_collector_at_start_and_renders_once_per_snapshot():
    collector = GateCollector()
    holder = SnapshotHolder(Snapshot.empty(infos(ACCOUNTS)))
    exposition = Exposition({collector.name: collector.interval_seconds}, ApiStats(), process_metrics=False)
    holder.subscribe(exposition.on_snapshot)
    schedule = Schedule(Runner(ACCOUNTS, holder), [collector])
    schedule.start()
    try:
        wait_for(lambda: holder.current.generation >= 1, timeout=10)
    finally:
        schedule.shutdown()
    assert collector.calls == 3
    assert exposition.renders == 2  # the empty snapshot at start, then the first collection
    for _ in range(10):
        text = exposition.metrics().decode()
    assert exposition.renders == 2
    assert 'aws_exporter_collector_up{account="acct-3",collector="gate"} 1.0' in text


class FakeDiscovery:
    """Brings one more account on its first run; the collectors must not start before it."""

    interval_seconds = 3600.0

    def __init__(self, runner: Runner, holder: SnapshotHolder, collector: GateCollector, ok: bool = True):
        self.runner, self.holder, self.collector, self.ok = runner, holder, collector, ok
        self.runs = 0
        self.calls_when_run: list[int] = []

    def run(self) -> bool:
        self.runs += 1
        self.calls_when_run.append(self.collector.calls)
        if self.ok:
            fleet = ACCOUNTS + config_for(4).accounts
            self.runner.fleet.replace(fleet)
            self.holder.publish_fleet(infos(fleet), None)
        return self.ok


def test_with_discovery_the_first_passes_wait_for_it_and_cover_the_discovered_accounts():
    collector = GateCollector()
    holder = SnapshotHolder(Snapshot.empty(infos(ACCOUNTS)))
    runner = Runner(ACCOUNTS, holder)
    discovery = FakeDiscovery(runner, holder, collector)
    schedule = Schedule(runner, [collector], discovery)
    schedule.start()
    try:
        wait_for(lambda: holder.current.result("gate", "000000000004"),
                 timeout=10)
    finally:
        schedule.shutdown()
    assert discovery.calls_when_run == [0]
    assert set(holder.current.collectors["gate"].accounts) == {a.id for a in ACCOUNTS} | {"000000000004"}


def test_a_failed_first_discovery_still_starts_the_collectors_on_the_configured_accounts():
    collector = GateCollector()
    holder = SnapshotHolder(Snapshot.empty(infos(ACCOUNTS)))
    runner = Runner(ACCOUNTS, holder)
    schedule = Schedule(runner, [collector], FakeDiscovery(runner, holder, collector, ok=False))
    schedule.start()
    try:
        wait_for(lambda: holder.current.collectors.get("gate"), timeout=10)
        retry = schedule.scheduler.get_job("discovery-retry")
    finally:
        schedule.shutdown()
    assert set(holder.current.collectors["gate"].accounts) == {a.id for a in ACCOUNTS}
    assert retry is not None  # tried again in minutes, not an hour


def test_failed_accounts_are_retried_before_the_next_pass_and_only_they():
    collector = GateCollector()
    collector.retry_interval_seconds = 0.3  # the next full pass is an hour away
    collector.fail.add("000000000002")
    holder = SnapshotHolder()
    schedule = Schedule(Runner(ACCOUNTS, holder), [collector])
    schedule.start()
    try:
        wait_for(lambda: holder.current.generation >= 1, timeout=10)
        first_pass = holder.current.runs["gate"]
        assert first_pass.accounts_failed == 1
        collector.fail.clear()  # the throttling is over
        wait_for(lambda: (r := holder.current.result("gate", "000000000002")) is not None and r.up, timeout=10)
    finally:
        schedule.shutdown()
    assert collector.calls == 4  # three in the pass, then only the failed account
    assert holder.current.runs["gate"] == first_pass  # a retry is not a pass over the fleet
    assert all(holder.current.result("gate", a.id).up for a in ACCOUNTS)


def test_stop_finishes_the_account_in_progress_and_publishes_nothing_more():
    collector = GateCollector()
    collector.gates["000000000001"] = threading.Event()
    holder = SnapshotHolder()
    runner = Runner(ACCOUNTS, holder)
    result = []
    worker = threading.Thread(target=lambda: result.append(runner.run(collector)))
    worker.start()
    collector.entered["000000000001"].wait(5)
    runner.stop()
    collector.gates["000000000001"].set()
    worker.join(10)
    assert result == [None] and collector.calls == 1  # accounts 2 and 3 were never started
    assert holder.current.generation == 0  # a pass cut short is not published as if it were whole
