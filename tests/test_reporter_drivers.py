"""The exporter's spike drivers through /snapshot (schema 1.2) into the reporter's history and back, as the
summary's facts (kind ``driver``) take them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec
from sqlite_utils import Database

from exporter.model import (AccountInfo, AccountResult, CostSignals, Snapshot, SpikeDrivers, UsageDriver, decode_snapshot,
                            encode_snapshot)
from exporter.periods import cost_detail
from exporter.reporter.drivers import stored_drivers
from exporter.reporter.store import Store

AT = dt.datetime(2026, 3, 31, 6, tzinfo=dt.timezone.utc)
AS_OF = dt.date(2026, 3, 31)
DATA_PROD = "310987654321"


def snapshot(drivers: tuple[SpikeDrivers, ...], as_of: dt.date = AS_OF) -> Snapshot:
    detail = msgspec.structs.replace(cost_detail(as_of, 14), signals=CostSignals(drivers=drivers))
    result = AccountResult(collector="cost", account_id=DATA_PROD, up=True, last_attempt=AT, last_success=AT,
                           as_of=as_of, detail=detail)
    return (Snapshot.empty([AccountInfo(DATA_PROD, "data-prod", "data")]).with_run(None, [result]))


SAGEMAKER = SpikeDrivers(service="Amazon SageMaker", yesterday=Decimal("325.5612345678"),
                         baseline_mean=Decimal("41.02"), drivers=(
                             UsageDriver("USE1-Train:ml.p3.2xlarge", Decimal("282.1519381006"), Decimal("0")),
                             UsageDriver("USE1-Host:ml.m5.xlarge", Decimal("21.7"), Decimal("19.6244259602"))))


def test_drivers_survive_the_wire_and_the_store_exactly():
    store = Store(Database(memory=True))
    store.store_snapshot(decode_snapshot(encode_snapshot(snapshot((SAGEMAKER,)))), "http://exporter:9780")
    day = AS_OF - dt.timedelta(days=1)
    got = stored_drivers(store.db, day, [(DATA_PROD, "Amazon SageMaker")])
    assert got == [
        {"account": "data-prod", "account_id": DATA_PROD, "service": "Amazon SageMaker",
         "usage_type": "USE1-Train:ml.p3.2xlarge", "usd": Decimal("282.1519381006"), "baseline_mean_usd": Decimal(0),
         "change_usd": Decimal("282.1519381006")},
        {"account": "data-prod", "account_id": DATA_PROD, "service": "Amazon SageMaker",
         "usage_type": "USE1-Host:ml.m5.xlarge", "usd": Decimal("21.7"), "baseline_mean_usd": Decimal("19.6244259602"),
         "change_usd": Decimal("2.0755740398")}]
    assert stored_drivers(store.db, day, [(DATA_PROD, "Amazon EC2")]) == []  # not a spike the summary names
    assert stored_drivers(store.db, day - dt.timedelta(days=1), [(DATA_PROD, "Amazon SageMaker")]) == []


def test_a_later_refresh_of_the_same_day_replaces_the_drivers_a_failed_one_keeps_them():
    store = Store(Database(memory=True))
    store.store_snapshot(snapshot((SAGEMAKER,)), "http://exporter:9780")
    fewer = msgspec.structs.replace(SAGEMAKER, drivers=SAGEMAKER.drivers[:1])
    store.store_snapshot(snapshot((fewer,)), "http://exporter:9780")
    day = AS_OF - dt.timedelta(days=1)
    assert [d["usage_type"] for d in stored_drivers(store.db, day, [(DATA_PROD, "Amazon SageMaker")])] == [
        "USE1-Train:ml.p3.2xlarge"]
    failed = msgspec.structs.replace(SAGEMAKER, drivers=(), asked=False)
    store.store_snapshot(snapshot((failed,)), "http://exporter:9780")
    assert len(stored_drivers(store.db, day, [(DATA_PROD, "Amazon SageMaker")])) == 1


def test_a_snapshot_without_signals_stores_no_drivers():
    result = AccountResult(collector="cost", account_id=DATA_PROD, up=True, last_attempt=AT, last_success=AT,
                           as_of=AS_OF, detail=cost_detail(AS_OF, 14))
    store = Store(Database(memory=True))
    store.store_snapshot(Snapshot.empty([AccountInfo(DATA_PROD, "data-prod", "data")]).with_run(None, [result]), "x")
    assert store.db["cost_drivers"].count == 0
