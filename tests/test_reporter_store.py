"""The SQLite history: pulled over HTTP from the real exporter (demo subprocess, or in-process against moto),
or stored from typed snapshots (:mod:`exporter.model`)."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from decimal import Decimal

import httpx
import msgspec
import pytest

from aws_ops_demo.health import INJECTED_INSTRUCTION
from exporter.app import App
from exporter.config.reporter import LlmSettings, ReporterSettings, Retention, SummarySettings
from exporter.model import CloudWatchRecord, CostRecord, HealthEvent, Snapshot, decode_snapshot, encode_snapshot
from exporter.reporter.llm import LlmClient
from exporter.reporter.runner import Reporter
from exporter.reporter.rows import cost_row
from exporter.reporter.schema import MIGRATIONS, SCHEMA_VERSION, migrate, open_database, schema_version
from exporter.reporter.store import Store
from exporter.reporter.summary import build_facts
from exporter.server import WebServer
from tests.aws_helpers import config_for, daily_response, monthly_response, wait_for
from tests.conftest import ROOT, free_port
from tests.test_reporter_fakes import (
    daily_cost, fake_llm, health_event, result_of, snapshot_of, with_records,
)

DATA_TABLES = ("cost", "health_events", "cloudwatch_points", "accounts", "collector_status")
UTC = dt.timezone.utc


DEMO_AS_OF = dt.date(2026, 3, 1)  # never the real date: CI runs on any day


@pytest.fixture(scope="module")
def demo_exporter() -> Iterator[str]:
    """``python -m exporter --demo`` on a free port: cost, Health and CloudWatch records in /snapshot."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "exporter", "--demo", "--as-of", DEMO_AS_OF.isoformat(),
                             "--web.listen-address", f"127.0.0.1:{port}"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            doc = httpx.get(f"{url}/snapshot", timeout=2).json()
        except httpx.HTTPError:
            return False
        collectors = doc["collectors"]  # every enabled collector has finished its first pass
        return {"cost", "health", "cloudwatch"} <= set(collectors) and all(c["run"] for c in collectors.values())

    try:
        wait_for(ready, timeout=90, interval=0.5)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def dump(store: Store) -> dict[str, list[tuple]]:
    return {t: sorted(tuple(r.values()) for r in store.db[t].rows) for t in DATA_TABLES}


def test_pulling_the_same_snapshot_twice_changes_nothing(demo_exporter, tmp_path):
    store = Store.open(tmp_path / "h.db")
    r = Reporter(ReporterSettings(exporter_urls=(demo_exporter,)), store)
    generation = httpx.get(f"{demo_exporter}/snapshot").json()["generation"]
    assert r.pull()
    first = dump(store)
    assert len(first["cost"]) > 500 and first["accounts"] and first["collector_status"]
    assert r.pull()
    assert httpx.get(f"{demo_exporter}/snapshot").json()["generation"] == generation, "the exporter moved on"
    assert dump(store) == first  # row counts and values
    assert store.db["pulls"].count == 2
    assert r.metrics.registry.get_sample_value("aws_ops_reporter_pulls_total",
                                               {"exporter": demo_exporter, "result": "ok"}) == 2
    amounts = [Decimal(row["amount"]) for row in store.db["cost"].rows]
    assert all(str(a) == row for a, row in zip(amounts, (r["amount"] for r in store.db["cost"].rows)))


def _closed(snapshot: Snapshot, account_id: str, arn: str, **fields) -> Snapshot:
    """``snapshot`` with one account's Health event closed (and ``fields`` changed)."""
    records = snapshot.result("health", account_id).records
    return with_records(snapshot, "health", account_id, [
        msgspec.structs.replace(r, status="closed", **fields) if r.arn == arn else r for r in records])


def test_health_and_cloudwatch_records_are_stored_by_natural_key(demo_exporter, tmp_path):
    store = Store.open(tmp_path / "h.db")
    snapshot = decode_snapshot(httpx.get(f"{demo_exporter}/snapshot").content)
    kinds = {type(rec) for result in snapshot.all_results() for rec in result.records}
    assert {HealthEvent, CloudWatchRecord} <= kinds  # the demo serves both
    stored = store.store_snapshot(snapshot, demo_exporter)
    events = [(r.account_id, rec.arn) for r in snapshot.for_collector("health") for rec in r.records]
    assert store.db["health_events"].count == len(set(events)) == stored.rows["health_events"]
    assert store.db["cloudwatch_points"].count == stored.rows["cloudwatch_points"] > 0 and stored.ignored == 0
    # An event moves to closed: the same row is updated, not a second one added.
    acct, arn = events[0]
    stored = store.store_snapshot(_closed(snapshot, acct, arn, last_updated=dt.datetime(2030, 1, 1, tzinfo=UTC)),
                                  demo_exporter)
    assert store.db["health_events"].count == len(set(events)) == stored.rows["health_events"]
    row = store.db["health_events"].get((acct, arn))
    assert (row["status_code"], row["last_updated_time"]) == ("closed", "2030-01-01T00:00:00Z")


def test_restated_estimates_replace_the_old_values(aws, tmp_path):
    as_of = dt.date(2026, 11, 16)
    first, nov1, oct1 = dt.date(2026, 11, 1), dt.date(2026, 11, 1), dt.date(2026, 10, 1)
    later = as_of + dt.timedelta(days=1)
    aws.seed_cost("000000000001", [
        daily_response(first, 15, {"Amazon EC2": "10.00"}, estimated=True),
        monthly_response([(oct1, nov1, {"Amazon EC2": "300"}), (nov1, as_of, {"Amazon EC2": "150"})]),
        # A day later: the estimated days are asked for again and come back restated, no longer estimated.
        daily_response(first, 16, {"Amazon EC2": "10.42"}, estimated=False),
        monthly_response([(oct1, nov1, {"Amazon EC2": "300"}), (nov1, later, {"Amazon EC2": "166.72"})]),
    ])
    app = App.build(config_for(1), process_metrics=False)
    server = WebServer("127.0.0.1", 0, app.exposition, lambda: app.holder.current)
    server.start()
    store = Store.open(tmp_path / "h.db")
    reporter = Reporter(ReporterSettings(exporter_urls=(f"http://127.0.0.1:{server.port}",)), store)
    try:
        app.collect_once(as_of)
        reporter.pull()
        before = store.db["cost"].count
        row = store.db["cost"].get(("000000000001", "Amazon EC2", "daily", "2026-11-15", "AmortizedCost"))
        assert (row["amount"], row["estimated"]) == ("10.00", 1)
        app.collect_once(later)
        reporter.pull()
    finally:
        server.stop()
    assert store.db["cost"].count == before + 1  # one new day; the restated days and the month replaced in place
    month = store.db["cost"].get(("000000000001", "Amazon EC2", "monthly", "2026-11-01", "AmortizedCost"))
    assert (month["amount"], month["period_end"]) == ("166.72", "2026-11-17")
    row = store.db["cost"].get(("000000000001", "Amazon EC2", "daily", "2026-11-15", "AmortizedCost"))
    assert (row["amount"], row["estimated"]) == ("10.42", 0)


WRITER = textwrap.dedent("""
    import datetime as dt, sys
    from decimal import Decimal
    from exporter.model import AccountInfo, AccountResult, CostRecord, Snapshot
    from exporter.reporter.store import Store
    store = Store.open(sys.argv[1])
    day = dt.date(2020, 1, 1)
    for i in range(100000):
        start = day + dt.timedelta(days=i)
        records = tuple(CostRecord(f"svc-{s}", "daily", start, start + dt.timedelta(days=1), Decimal(f"{i}.{s:02d}"),
                                   "USD", "AmortizedCost", False) for s in range(50))
        snapshot = Snapshot.empty([AccountInfo("000000000001", "a", "p")]).with_run(None, [
            AccountResult(collector="cost", account_id="000000000001", up=True, records=records)])
        store.store_snapshot(snapshot, "http://exporter:9780")
        print(i, flush=True)
""")


def test_kill_9_during_writes_loses_no_committed_row(tmp_path):
    path = tmp_path / "h.db"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    committed = -1
    for line in proc.stdout:  # type: ignore[union-attr]
        committed = int(line)
        if committed >= 40:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    snapshots = conn.execute("SELECT count(*) FROM pulls").fetchone()[0]
    rows = conn.execute("SELECT count(*) FROM cost").fetchone()[0]
    assert snapshots >= committed + 1 and rows == snapshots * 50  # whole snapshots only, every committed one


def test_migration_from_v1_keeps_the_history(tmp_path):
    db = open_database(tmp_path / "old.db")
    assert migrate(db, target=1) == 1
    db["accounts"].insert({"id": "000000000001", "name": "acct-1", "project": "p"})
    db["cost"].insert({"account_id": "000000000001", "service": "Amazon EC2", "granularity": "daily",
                       "period_start": "2026-01-01", "metric": "AmortizedCost", "period_end": "2026-01-02",
                       "amount": "12.3400000001", "unit": "USD", "estimated": 0})
    db.conn.commit()
    db.close()
    store = Store.open(tmp_path / "old.db")
    assert schema_version(store.db) == SCHEMA_VERSION == len(MIGRATIONS)
    row = store.db["cost"].get(("000000000001", "Amazon EC2", "daily", "2026-01-01", "AmortizedCost"))
    assert (row["amount"], row["source"]) == ("12.3400000001", "snapshot")
    assert {"health_events", "cloudwatch_points", "posts", "backfill_windows"} <= set(store.db.table_names())
    assert "description" in store.db["health_events"].columns_dict  # where Health descriptions are kept
    assert "closed_at" in store.db["health_events"].columns_dict  # events closed by leaving the results
    # A reporter older than the file refuses it rather than guessing.
    store.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match="newer"):
        migrate(store.db)


def test_the_stored_text_stays_what_the_untyped_snapshot_gave(tmp_path):
    """Natural keys and upserts of existing files depend on these strings: a change to them must be deliberate.

    They are what the reporter stored when it read ``/snapshot`` as untyped JSON (``str`` of the exact
    decimal, ``YYYY-MM-DD``, times in UTC as ``…Z``; Health ``data`` and the CloudWatch ``series`` as JSON).
    """
    at = dt.datetime(2026, 11, 15, 3, 35, 41, 123456, tzinfo=UTC)
    seoul_noon = dt.datetime(2026, 11, 15, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    acct = "000000000001"
    costs = [daily_cost("Amazon EC2", "2026-11-14", "10.4200", estimated=True),
             daily_cost("AWS Lambda", "2026-11-14", "1.234E-7"),
             CostRecord("Tax", "monthly", dt.date(2026, 10, 1), dt.date(2026, 11, 1), Decimal("1E+2"), "USD",
                        "AmortizedCost", False),
             daily_cost("Broken", "2026-11-14", "NaN")]  # not a figure: ignored
    events = [health_event("arn:aws:health:us-east-1::event/EC2/X/1", start=at.isoformat(),
                           last_updated=seoul_noon.isoformat(), scope="PUBLIC",
                           description="Réseau dégradé — 日本語 </aws_data>"),
              health_event("arn:aws:health:global::event/IAM/Y/2", status="closed", start=at.isoformat(),
                           service="IAM", region="global", end=at, affected_entities=3)]
    points = [CloudWatchRecord("eu-west-1", "AWS/EC2", "CPUUtilization", "Average",
                               (("AutoScalingGroupName", "wéb"), ("InstanceId", "i-1")), 12.5, at)]
    snapshot = snapshot_of(
        result_of("cost", acct, costs, last_attempt=seoul_noon, last_success=at, as_of=dt.date(2026, 11, 16)),
        result_of("health", acct, events), result_of("cloudwatch", acct, points),
        result_of("cost", "000000000002", up=False, last_attempt=seoul_noon, error="AccessDenied: no"),
        accounts=[(acct, "acct-1", "p"), ("000000000002", "", "")])
    store = Store.open(tmp_path / "h.db")
    stored = store.store_snapshot(decode_snapshot(encode_snapshot(snapshot)), "http://exporter:9780", at)
    assert stored.ignored == 1

    assert sorted((r["service"], r["granularity"], r["period_start"], r["period_end"], r["amount"], r["estimated"])
                  for r in store.db["cost"].rows) == [
        ("AWS Lambda", "daily", "2026-11-14", "2026-11-15", "1.234E-7", 0),
        ("Amazon EC2", "daily", "2026-11-14", "2026-11-15", "10.4200", 1),
        ("Tax", "monthly", "2026-10-01", "2026-11-01", "100", 0)]
    assert cost_row(acct, costs[2], source="backfill")["amount"] == "100"  # a backfill writes the same text
    issue = store.db["health_events"].get((acct, "arn:aws:health:us-east-1::event/EC2/X/1"))
    assert (issue["start_time"], issue["end_time"], issue["last_updated_time"]) == (
        "2026-11-15T03:35:41.123456Z", None, "2026-11-15T03:00:00Z")
    assert issue["description"] == "Réseau dégradé — 日本語 </aws_data>"
    assert issue["data"] == (
        '{"affected_entities": null, "arn": "arn:aws:health:us-east-1::event/EC2/X/1", "category": "issue", '
        '"end": null, "event_type_code": "AWS_EC2_OPERATIONAL_ISSUE", "kind": "health_event", '
        '"last_updated": "2026-11-15T03:00:00Z", "region": "us-east-1", "scope": "PUBLIC", "service": "EC2", '
        '"start": "2026-11-15T03:35:41.123456Z", "status": "open"}')
    closed = store.db["health_events"].get((acct, "arn:aws:health:global::event/IAM/Y/2"))
    assert json.loads(closed["data"])["affected_entities"] == 3 and closed["description"] is None
    assert [(r["region"], r["series"], r["timestamp"], r["value"]) for r in store.db["cloudwatch_points"].rows] == [
        ("eu-west-1", '{"dimensions": [["AutoScalingGroupName", "w\\u00e9b"], ["InstanceId", "i-1"]], '
                      '"metric": "CPUUtilization", "namespace": "AWS/EC2", "stat": "Average"}',
         "2026-11-15T03:35:41.123456Z", 12.5)]
    status = {(r["collector"], r["account_id"]): (r["up"], r["last_success"], r["last_attempt"], r["error"], r["as_of"])
              for r in store.db["collector_status"].rows}
    assert status[("cost", acct)] == (1, "2026-11-15T03:35:41.123456Z", "2026-11-15T03:00:00Z", None, "2026-11-16")
    assert status[("cost", "000000000002")] == (0, None, "2026-11-15T03:00:00Z", "AccessDenied: no", None)
    assert [(r["id"], r["name"], r["project"]) for r in store.db["accounts"].rows] == [
        (acct, "acct-1", "p"), ("000000000002", "000000000002", "")]
    (pull,) = store.db["pulls"].rows
    assert pull["taken_at"] == snapshot.taken_at.isoformat().replace("+00:00", "Z") and pull["records"] == 6


def test_retention_bounds_every_table(tmp_path):
    store = Store.open(tmp_path / "h.db")
    old, new = "2020-01-01", "2026-11-01"
    for start in (old, new):
        record = msgspec.structs.replace(daily_cost("S", start, "1"), period_end=dt.date.fromisoformat(start))
        store.store_snapshot(snapshot_of(result_of("cost", "000000000001", [record])), "http://exporter:9780",
                             dt.datetime.fromisoformat(f"{start}T00:00:00+00:00"))
    deleted = store.apply_retention(Retention(cost_days=30, pulls_days=30), dt.date(2026, 11, 16))
    assert deleted["cost"] == 1 and deleted["pulls"] == 1
    assert [r["period_start"] for r in store.db["cost"].rows] == [new]


def test_demo_health_descriptions_are_stored_kept_and_reach_the_prompt_only_fenced(demo_exporter, tmp_path):
    store = Store.open(tmp_path / "h.db")
    r = Reporter(ReporterSettings(exporter_urls=(demo_exporter,)), store)
    assert r.pull()
    rows = list(store.db.query("SELECT h.*, a.name FROM health_events h JOIN accounts a ON a.id = h.account_id"))
    active = [row for row in rows if row["status_code"] in ("open", "upcoming")]
    assert active and all(row["description"] for row in active)
    assert all(row["description"] is None for row in rows if row["status_code"] == "closed")  # never fetched
    (drive,) = [row for row in rows if row["event_type_code"] == "AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED"]
    assert drive["name"] == "web-prod" and INJECTED_INSTRUCTION in drive["description"]
    assert "description" not in json.loads(drive["data"])  # the text is stored once, in its column
    before = dump(store)
    assert r.pull() and dump(store) == before  # descriptions included, a re-pull changes nothing

    # The event closes: the exporter no longer describes it, the stored description stays.
    snapshot = decode_snapshot(httpx.get(f"{demo_exporter}/snapshot").content)
    store.store_snapshot(_closed(snapshot, drive["account_id"], drive["event_arn"], description=None,
                                 last_updated=dt.datetime(2030, 1, 1, tzinfo=UTC)), demo_exporter)
    row = store.db["health_events"].get((drive["account_id"], drive["event_arn"]))
    assert (row["status_code"], row["description"]) == ("closed", drive["description"])

    # The summary's prompt, as the gateway receives it: every description fenced, the instruction only inside.
    assert r.pull()
    with fake_llm(default="Nothing unusual.") as gateway:
        llm = LlmClient(LlmSettings(base_url=f"{gateway.url}/v1", model="ops-summary"), sleep=lambda s: None)
        Reporter(ReporterSettings(exporter_urls=(demo_exporter,)), store, llm=llm).compose(
            DEMO_AS_OF - dt.timedelta(days=1))
    prompt = gateway.requests[0]["body"]["messages"][1]["content"]
    fenced = [part.split("</aws_data>", 1)[0] for part in prompt.split("<aws_data>")[1:]]
    assert any(INJECTED_INSTRUCTION in text for text in fenced)
    assert all(f"\n{row['description']}\n" in fenced for row in active)
    assert INJECTED_INSTRUCTION not in "".join(part.split("</aws_data>", 1)[-1] for part in prompt.split("<aws_data>"))


CONCURRENT_WRITER = textwrap.dedent("""
    import datetime as dt, sys
    from decimal import Decimal
    from exporter.model import AccountInfo, AccountResult, CostRecord, Snapshot
    from exporter.reporter.store import Store
    store = Store.open(sys.argv[1])
    account = sys.argv[2]
    errors = 0
    for i in range(60):
        records = tuple(CostRecord(f"svc-{s}", "daily", dt.date(2026, 1, d), dt.date(2026, 1, d + 1),
                                   Decimal(f"{i}.{s:02d}"), "USD", "AmortizedCost", False)
                        for s in range(20) for d in range(1, 11))
        snapshot = Snapshot.empty([AccountInfo(account, account, "p")]).with_run(None, [
            AccountResult(collector="cost", account_id=account, up=True, as_of=dt.date(2026, 1, 11), records=records)])
        try:
            store.store_snapshot(snapshot, f"http://exporter-{account}:9780")
            store.record_pull_error("http://other:9780", "ConnectError")
        except Exception as exc:
            errors += 1
            print(repr(exc), file=sys.stderr)
    print(errors)
""")


def test_two_processes_writing_the_same_database_wait_for_each_other(tmp_path):
    """The sidecar and a ``backfill`` / ``--once`` run write one file: neither may fail with "database is locked"."""
    path = tmp_path / "h.db"
    Store.open(path).close()
    writers = [subprocess.Popen([sys.executable, "-c", CONCURRENT_WRITER, str(path), account], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for account in ("000000000001", "000000000002")]
    results = [w.communicate(timeout=120) for w in writers]
    assert [(w.returncode, out.strip()) for w, (out, _) in zip(writers, results)] == [(0, "0"), (0, "0")], \
        "\n".join(err for _, err in results)[-2000:]
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM pulls").fetchone()[0] == 2 * 60 * 2
    assert conn.execute("SELECT count(*) FROM cost").fetchone()[0] == 2 * 20 * 10


def _cost_document(account: str, days: dict[str, dict[str, str]], as_of: str, up: bool = True) -> Snapshot:
    """One account's cost result as /snapshot carries it: DAILY rows {day: {service: amount}} up to ``as_of``."""
    records = [daily_cost(service, day, amount, estimated=True) for day, services in days.items()
               for service, amount in services.items()]
    return snapshot_of(result_of("cost", account, records, up=up, as_of=dt.date.fromisoformat(as_of)),
                       accounts=[(account, "a", "p")])


def test_a_service_restated_away_leaves_no_old_row(tmp_path):
    store = Store.open(tmp_path / "h.db")
    acct = "000000000001"
    store.store_backfill_window(acct, [daily_cost("Amazon EC2", "2026-10-31", "9")],
                                dt.date(2026, 10, 1), dt.date(2026, 11, 1), "AmortizedCost")
    both = {"Amazon EC2": "10.00", "Amazon Bedrock": "4.00"}
    store.store_snapshot(_cost_document(acct, {"2026-11-01": both, "2026-11-02": both}, "2026-11-03"),
                         "http://exporter:9780")
    # Cost Explorer restates 11-02 without Bedrock, and the exporter's window now reaches 11-03.
    restated = {"2026-11-01": both, "2026-11-02": {"Amazon EC2": "10.50"}, "2026-11-03": {"Amazon EC2": "11.00"}}
    store.store_snapshot(_cost_document(acct, restated, "2026-11-04"), "http://exporter:9780")

    def days() -> list[tuple[str, str, str]]:
        return sorted((r["period_start"], r["service"], r["amount"]) for r in store.db["cost"].rows)

    assert days() == [("2026-10-31", "Amazon EC2", "9"),  # before the window: kept
                      ("2026-11-01", "Amazon Bedrock", "4.00"), ("2026-11-01", "Amazon EC2", "10.00"),
                      ("2026-11-02", "Amazon EC2", "10.50"), ("2026-11-03", "Amazon EC2", "11.00")]
    totals = {r["period_start"]: r["total"] for r in store.db.query(
        "SELECT period_start, sum(amount) AS total FROM cost GROUP BY period_start")}
    assert totals["2026-11-02"] == 10.5
    # A failed refresh (the exporter serves its last good records, marked down) proves nothing: nothing removed.
    before = days()
    store.store_snapshot(_cost_document(acct, {"2026-11-03": {"Amazon EC2": "11.00"}}, "2026-11-04", up=False),
                         "http://exporter:9780")
    assert days() == before
    # A backfill window is complete too: October asked for again, without the EC2 day.
    store.store_backfill_window(acct, [daily_cost("AWS Lambda", "2026-10-31", "1")],
                                dt.date(2026, 10, 1), dt.date(2026, 11, 1), "AmortizedCost")
    assert days() == [("2026-10-31", "AWS Lambda", "1")] + before[1:]


def _health_document(account: str, arns: list[str], up: bool = True) -> Snapshot:
    return snapshot_of(result_of("health", account, [health_event(arn) for arn in arns], up=up),
                       accounts=[(account, f"acct-{account[-1]}", "p")])


def test_an_event_that_leaves_the_health_results_is_closed_and_ages_out(tmp_path):
    store = Store.open(tmp_path / "h.db")
    acct, other = "000000000001", "000000000002"
    first, second = dt.datetime(2026, 11, 10, tzinfo=dt.timezone.utc), dt.datetime(2026, 11, 12, tzinfo=dt.timezone.utc)
    store.store_snapshot(_health_document(acct, ["arn:e1", "arn:e2"]), "http://exporter:9780", first)
    store.store_snapshot(_health_document(other, ["arn:e2"]), "http://exporter:9780", first)

    def states() -> dict[tuple[str, str], tuple[str, str | None]]:
        return {(r["account_id"], r["event_arn"]): (r["status_code"], r["closed_at"])
                for r in store.db["health_events"].rows}

    # A failed Health refresh lists nothing new: nothing is closed.
    store.store_snapshot(_health_document(acct, [], up=False), "http://exporter:9780", second)
    assert {s for s, _ in states().values()} == {"open"}
    store.store_snapshot(_health_document(acct, ["arn:e1"]), "http://exporter:9780", second)
    assert states() == {(acct, "arn:e1"): ("open", None), (acct, "arn:e2"): ("closed", second.isoformat()),
                        (other, "arn:e2"): ("open", None)}  # another account's copy of the event stays open
    # Listed again (AWS reopened it): open again.
    store.store_snapshot(_health_document(acct, ["arn:e1", "arn:e2"]), "http://exporter:9780", second)
    assert states()[(acct, "arn:e2")] == ("open", None)
    store.store_snapshot(_health_document(acct, ["arn:e1"]), "http://exporter:9780", second)
    facts = build_facts(store, dt.date(2026, 11, 11), second, SummarySettings())
    assert sorted(e["account"] for e in facts.data["health"]["open"]) == ["acct-1", "acct-2"]  # e1 here, e2 there
    # Retention counts from when it closed, not from AWS's last update (which is older).
    assert store.apply_retention(Retention(health_days=30), dt.date(2026, 12, 5))["health_events"] == 0
    assert store.apply_retention(Retention(health_days=30), dt.date(2026, 12, 13))["health_events"] == 1
    assert (acct, "arn:e2") not in states()
