"""The snapshot model's wire format, and the exposition's per-source rendering (reuse, gzip, CRC)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from decimal import Decimal

import pytest

from exporter.compact import CostRecords
from exporter.fleet import infos
from exporter.exposition import Exposition
from exporter.model import (
    DAILY, AccountInfo, AccountResult, Amount, CloudWatchDetail, CloudWatchRecord, CollectorRun, CostRecord,
    CollectorState, HealthDetail, HealthEvent, SCHEMA_VERSION, Snapshot, SnapshotVersionError, decode_snapshot, encode_snapshot,
)
from exporter.periods import cost_detail
from exporter.snapshot import SnapshotHolder
from exporter.telemetry import ApiStats
from tests.aws_helpers import config_for

UTC = dt.timezone.utc
AS_OF = dt.date(2026, 12, 1)
AT = dt.datetime(2026, 12, 1, 6, 30, tzinfo=UTC)
ACCOUNTS = config_for(1, 2).accounts


def cost(account_id: str, amount: str) -> AccountResult:
    record = CostRecord("Amazon EC2", DAILY, dt.date(2026, 11, 30), AS_OF, Amount(amount), "USD", "AmortizedCost", True)
    return AccountResult(collector="cost", account_id=account_id, records=(record,), up=True, last_attempt=AT,
                         last_success=AT, as_of=AS_OF, detail=cost_detail(AS_OF, 14))


def health(account_id: str, n: int) -> AccountResult:
    event = HealthEvent(f"arn:aws:health:us-east-1::event/EC2/X/{n}", "EC2", "AWS_EC2_OPERATIONAL_ISSUE", "issue",
                        "us-east-1", "open", "ACCOUNT_SPECIFIC", AT, None, AT, 2, "AWS text")
    return AccountResult(collector="health", account_id=account_id, records=(event,), up=True, last_attempt=AT,
                         last_success=AT, as_of=AS_OF, detail=HealthDetail(subscription_required=False))


def run(collector: str) -> CollectorRun:
    return CollectorRun(collector=collector, started=AT, duration_seconds=1.5, accounts_ok=2, accounts_failed=0)


def test_every_record_and_detail_kind_survives_the_wire_with_exact_plain_amounts():
    datapoint = CloudWatchRecord("eu-west-1", "AWS/EC2", "CPUUtilization", "Average", (("InstanceId", "i-1"),), 37.5, AT)
    watched = AccountResult(collector="cloudwatch", account_id=ACCOUNTS[0].id, records=(datapoint,), up=True,
                            detail=CloudWatchDetail(window_start=AT, window_end=AT, period_seconds=300,
                                                    regions=("eu-west-1",)))
    snapshot = (Snapshot.empty([AccountInfo(a.id, a.name, a.project) for a in ACCOUNTS], "1.2.3")
                .with_run(run("cost"), [cost(ACCOUNTS[0].id, "0.0000001234")])
                .with_run(None, [health(ACCOUNTS[0].id, 1), watched]))
    body = encode_snapshot(snapshot)
    assert decode_snapshot(body) == snapshot
    document = json.loads(body)
    assert document["schema_version"] == SCHEMA_VERSION == "1.2"
    record = document["collectors"]["cost"]["accounts"][ACCOUNTS[0].id]["records"][0]
    assert (record["kind"], record["amount"], record["period_start"]) == ("cost", "0.0000001234", "2026-11-30")
    kinds = {c: [r["kind"] for r in s["accounts"][ACCOUNTS[0].id]["records"]] + [s["accounts"][ACCOUNTS[0].id]["detail"]["kind"]]
             for c, s in document["collectors"].items()}
    assert kinds == {"cost": ["cost", "cost"], "health": ["health_event", "health"],
                     "cloudwatch": ["cloudwatch_datapoint", "cloudwatch"]}
    assert document["collectors"]["health"]["accounts"][ACCOUNTS[0].id]["last_success"] == "2026-12-01T06:30:00Z"



@pytest.mark.parametrize("amount", ["0.0000001234", "1.50", "1.234E-7", "-3.25", "12", "0E-10", "-0", "-0.00",
                                    "1234567890123456789.5", "123456789012345678", "NaN", "1E+5"])
def test_compact_cost_records_give_back_every_amount_digit_for_digit(amount):
    """What /snapshot writes and the exposition sums is the amount Cost Explorer sent, whatever its form."""
    days = [dt.date(2026, 11, d) for d in (28, 29, 30)]
    records = tuple(CostRecord(service, DAILY, day, day + dt.timedelta(days=1), Amount(value), "USD", "AmortizedCost",
                               day == days[-1])
                    for day in days for service, value in (("Amazon EC2", amount), ("AWS Lambda", "0.5")))
    compact = CostRecords(records)
    assert compact == records and tuple(compact) == records and len(compact) == 6
    assert [str(r.amount) for r in compact] == [str(r.amount) for r in records]
    assert [r.amount.as_tuple() for r in compact] == [r.amount.as_tuple() for r in records]
    assert compact[-1] == records[-1] and compact[1:3] == records[1:3]
    with pytest.raises(IndexError):
        compact[6]
    held = AccountResult(collector="cost", account_id="1", records=compact)
    plain = AccountResult(collector="cost", account_id="1", records=records)
    assert encode_snapshot(Snapshot(taken_at=AT, collectors={"cost": CollectorState(accounts={"1": held})})) == \
        encode_snapshot(Snapshot(taken_at=AT, collectors={"cost": CollectorState(accounts={"1": plain})}))


@pytest.mark.parametrize("version", ["2.0", "0.9", None])
def test_a_snapshot_of_another_major_version_is_refused(version):
    document = json.loads(encode_snapshot(Snapshot.empty()))
    if version is None:
        del document["schema_version"]
    else:
        document["schema_version"] = version
    with pytest.raises(SnapshotVersionError):
        decode_snapshot(json.dumps(document).encode())
    document["schema_version"] = "1.7"  # a later minor of the same major only adds optional fields
    document["added_later"] = {"ignored": True}
    assert decode_snapshot(json.dumps(document).encode()).generation == 0


def test_a_publish_shares_every_collector_state_it_did_not_change():
    first = Snapshot.empty().with_run(run("cost"), [cost(a.id, "1") for a in ACCOUNTS])
    second = first.with_run(run("health"), [health(a.id, 1) for a in ACCOUNTS])
    assert second.collectors["cost"] is first.collectors["cost"]
    assert second.generation == first.generation + 1
    third = second.with_run(None, [cost(ACCOUNTS[1].id, "2")])  # a retry: one account, the pass figures stay
    assert third.collectors["health"] is second.collectors["health"]
    assert third.collectors["cost"].run == first.collectors["cost"].run
    assert third.result("cost", ACCOUNTS[0].id) is first.result("cost", ACCOUNTS[0].id)


def test_a_health_publish_reuses_the_cost_bytes_and_every_body_stays_one_valid_gzip_member():
    holder = SnapshotHolder(Snapshot.empty(infos(ACCOUNTS)))
    exposition = Exposition({"cost": 21600.0, "health": 300.0}, ApiStats(), process_metrics=False)
    holder.subscribe(exposition.on_snapshot)

    def cost_part() -> bytes:
        return exposition._rendered.parts[0].text()  # noqa: SLF001 - what this test is about

    def check() -> str:
        text = exposition.metrics()
        assert gzip.decompress(exposition.metrics(gzipped=True)) == text
        return text.decode()

    holder.publish(run("cost"), [cost(a.id, "12.5") for a in ACCOUNTS])
    part = exposition._rendered.parts[0]  # noqa: SLF001
    assert 'service="Amazon EC2"' in cost_part().decode() and "12.5" in check()
    for n in range(3):
        holder.publish(run("health"), [health(a.id, n) for a in ACCOUNTS])
        assert exposition._rendered.parts[0] is part  # noqa: SLF001 - not re-rendered, not re-deflated
        assert f"event/EC2/X/{n}" in check()
    holder.publish(None, [cost(ACCOUNTS[0].id, "99.25")])  # the cost part changes again
    assert exposition._rendered.parts[0] is not part  # noqa: SLF001
    text = check()
    assert "99.25" in text and "event/EC2/X/2" in text
    assert json.loads(exposition.snapshot_json())["generation"] == holder.current.generation
    assert gzip.decompress(exposition.snapshot_json(gzipped=True)) == exposition.snapshot_json()


def test_a_fleet_rendered_a_chunk_of_accounts_at_a_time_reads_as_rendered_at_once(monkeypatch):
    """Each family once, with every account's samples under it, whatever the chunk size; and the plain, gzipped
    and /snapshot bodies agree with each other."""
    from prometheus_client.parser import text_string_to_metric_families

    from exporter.exposition import render as rendering

    accounts = config_for(*range(1, 8)).accounts
    results = [cost(a.id, f"{i}.25") for i, a in enumerate(accounts)], [health(a.id, i) for i, a in enumerate(accounts)]

    def rendered(chunk: int) -> tuple[bytes, bytes, bytes]:
        monkeypatch.setattr(rendering, "CHUNK_ACCOUNTS", chunk)
        holder = SnapshotHolder(Snapshot.empty(infos(accounts)))
        exposition = Exposition({"cost": 21600.0, "health": 300.0}, ApiStats(), process_metrics=False)
        holder.subscribe(exposition.on_snapshot)
        holder.publish(run("cost"), results[0])
        holder.publish(run("health"), results[1])
        text = exposition.metrics()
        assert gzip.decompress(exposition.metrics(gzipped=True)) == text
        plain = exposition.metrics_body()
        assert plain.length == len(text) and b"".join(plain.pieces()) == text
        document = exposition.snapshot_json()
        assert encode_snapshot(holder.current) == document == gzip.decompress(exposition.snapshot_json(gzipped=True))
        assert exposition.snapshot_body().length == len(document)
        return text, exposition._rendered.parts[0].text(), document  # noqa: SLF001

    at_once, by_two, one_by_one = rendered(1000), rendered(2), rendered(1)
    assert by_two[1] == one_by_one[1] == at_once[1]  # the cost part, byte for byte
    for text in (at_once[0], by_two[0], one_by_one[0]):
        families = [f.name for f in text_string_to_metric_families(text.decode())]
        assert len(families) == len(set(families))  # no family split in two
        assert text.count(b"# HELP aws_cost_usd ") == 1 and text.count(b'aws_cost_usd{') == 7
        assert text.count(b"# HELP aws_health_events ") == 1 and text.count(b"aws_health_event_info{") == 7
