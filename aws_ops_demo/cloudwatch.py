"""Seeds moto's CloudWatch with the demo fleet's EC2, RDS, Lambda and ALB metrics, and keeps them current.

Each account's role is assumed through moto's STS (so every datum lands in that account's CloudWatch) and
its resources publish with PutMetricData in up to two of its regions: one aggregated datum
(StatisticValues: SampleCount, Sum, Minimum, Maximum) per 5-minute period, the way AWS services report.
History goes back three hours; a background thread adds each new period as it ends, so a long-running
demo keeps fresh values. Values are a pure function of (account, region, resource, metric, time).

The collector's queries (:data:`QUERIES`) go into the demo config; they discover the series with
ListMetrics, except one that names an instance explicitly.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from aws_ops_demo.fleet import ACCOUNTS, DemoAccount
from aws_ops_demo.noise import noise

log = logging.getLogger(__name__)
UTC = dt.timezone.utc
PERIOD = dt.timedelta(minutes=5)
HISTORY = dt.timedelta(hours=3)
PUT_BATCH = 500  # PutMetricData datums per request (AWS allows 1,000)

QUERIES: list[dict[str, Any]] = [
    {"namespace": "AWS/EC2", "metric": "CPUUtilization", "dimensions": ["InstanceId"], "stats": ["Average", "Maximum"]},
    {"namespace": "AWS/EC2", "metric": "StatusCheckFailed", "dimensions": {"InstanceId": "i-0web0000000000001"},
     "stats": ["Maximum"]},
    {"namespace": "AWS/RDS", "metric": "FreeStorageSpace", "dimensions": ["DBInstanceIdentifier"], "stats": ["Minimum"]},
    {"namespace": "AWS/RDS", "metric": "DatabaseConnections", "dimensions": ["DBInstanceIdentifier"],
     "stats": ["Average"]},
    {"namespace": "AWS/Lambda", "metric": "Invocations", "dimensions": ["FunctionName"], "stats": ["Sum"]},
    {"namespace": "AWS/Lambda", "metric": "Errors", "dimensions": ["FunctionName"], "stats": ["Sum"]},
    {"namespace": "AWS/Lambda", "metric": "Duration", "dimensions": ["FunctionName"], "stats": ["Average", "Maximum"]},
    {"namespace": "AWS/ApplicationELB", "metric": "RequestCount", "dimensions": ["LoadBalancer"], "stats": ["Sum"]},
]


@dataclass(frozen=True, slots=True)
class Signal:
    namespace: str
    metric: str
    dimension: str
    resource: str
    unit: str
    level: float  # typical value per datum
    samples: int  # datums aggregated into one period (SampleCount)
    swing: float = 0.25  # daily rhythm amplitude, fraction of level


def resources(account: DemoAccount, region: str) -> list[Signal]:
    """A few resources per account and region: instances, a database, functions, a load balancer."""
    p, tag = account.project, account.name
    scale = 0.3 if account.name.endswith(("staging", "dev", "sandbox")) else 1.0
    signals: list[Signal] = []
    for i in range(1, 3):
        instance = f"i-0{p[:3]}{i:015d}" if region == account.regions[0] else f"i-0{p[:3]}{i + 50:015d}"
        if account.name == "web-prod" and region == account.regions[0] and i == 1:
            instance = "i-0web0000000000001"
        signals.append(Signal("AWS/EC2", "CPUUtilization", "InstanceId", instance, "Percent", 35.0 + 12 * i, 5))
        signals.append(Signal("AWS/EC2", "StatusCheckFailed", "InstanceId", instance, "Count", 0.0, 5, 0.0))
    db = f"{tag}-{region.split('-')[1]}-db"
    signals.append(Signal("AWS/RDS", "FreeStorageSpace", "DBInstanceIdentifier", db, "Bytes", 2.1e11 * scale, 5, 0.02))
    signals.append(Signal("AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", db, "Count", 80 * scale, 5))
    for fn, rate in (("ingest", 900.0), ("scheduler", 60.0)):
        name = f"{tag}-{fn}"
        signals.append(Signal("AWS/Lambda", "Invocations", "FunctionName", name, "Count", rate * scale, 1, 0.5))
        signals.append(Signal("AWS/Lambda", "Errors", "FunctionName", name, "Count", rate * scale * 0.004, 1, 0.5))
        signals.append(Signal("AWS/Lambda", "Duration", "FunctionName", name, "Milliseconds", 240.0, 30, 0.2))
    if p == "web":
        signals.append(Signal("AWS/ApplicationELB", "RequestCount", "LoadBalancer",
                              f"app/{tag}-alb/{account.id[-8:]}a1b2c3d4", "Count", 52000 * scale, 1, 0.45))
    return signals


def datum(account: DemoAccount, region: str, s: Signal, at: dt.datetime) -> dict[str, Any]:
    """One period's aggregated datum for a signal (a daily rhythm plus deterministic noise)."""
    hour = at.hour + at.minute / 60
    rhythm = 1.0 + s.swing * math.sin((hour - 9) / 24 * 2 * math.pi)
    jitter = noise(account.id, region, s.resource, s.metric, at.isoformat())
    mean = max(0.0, s.level * rhythm * (1 + 0.08 * jitter))
    if s.metric == "StatusCheckFailed":
        mean = 1.0 if jitter > 0.97 else 0.0
    if s.metric == "CPUUtilization":
        mean = min(mean, 100.0)
    spread = 0.0 if s.metric in ("StatusCheckFailed", "FreeStorageSpace") else 0.3 * mean
    maximum = min(mean + spread, 100.0) if s.unit == "Percent" else mean + spread
    if s.samples == 1:  # counters: one datum carrying the period's total
        return {"MetricName": s.metric, "Dimensions": [{"Name": s.dimension, "Value": s.resource}],
                "Timestamp": at, "Unit": s.unit, "StatisticValues": {
                    "SampleCount": 1.0, "Sum": round(mean), "Minimum": round(mean), "Maximum": round(mean)}}
    return {"MetricName": s.metric, "Dimensions": [{"Name": s.dimension, "Value": s.resource}], "Timestamp": at,
            "Unit": s.unit, "StatisticValues": {"SampleCount": float(s.samples), "Sum": mean * s.samples,
                                                "Minimum": max(0.0, mean - spread), "Maximum": maximum}}


def _periods(start: dt.datetime, end: dt.datetime) -> Iterator[dt.datetime]:
    t = start
    while t < end:
        yield t
        t += PERIOD


def _floor(t: dt.datetime) -> dt.datetime:
    seconds = int(PERIOD.total_seconds())
    return dt.datetime.fromtimestamp(int(t.timestamp()) // seconds * seconds, UTC)


class CloudWatchSeeder:
    """Puts the fleet's datapoints into moto, history first, then each period as it ends."""

    def __init__(self, endpoint: str, accounts: Sequence[DemoAccount] = ACCOUNTS, regions_per_account: int = 2,
                 sink: Callable[[DemoAccount, str, str, list[dict[str, Any]]], None] | None = None):
        """``sink(account, region, namespace, datums)`` receives each batch instead of moto (e.g. the
        monitoring-account stand-in, :meth:`aws_ops_demo.monitoring.Seed.put_datum`)."""
        self.endpoint = endpoint
        self.sink = sink or self._put
        self.accounts = tuple(accounts)
        self.regions_per_account = regions_per_account
        self.seeded_until: dt.datetime | None = None
        self._sts = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1")
        self._clients: dict[tuple[str, str], Any] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _client(self, account: DemoAccount, region: str) -> Any:
        key = (account.id, region)
        if key not in self._clients:
            creds = self._sts.assume_role(RoleArn=f"arn:aws:iam::{account.id}:role/demo-seeder",
                                          RoleSessionName="demo-seeder")["Credentials"]
            self._clients[key] = boto3.client(
                "cloudwatch", endpoint_url=self.endpoint, region_name=region, aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"],
                # botocore gzips large PutMetricData bodies; moto's server fails to read them back.
                config=Config(disable_request_compression=True))
        return self._clients[key]

    def put(self, start: dt.datetime, end: dt.datetime) -> int:
        """Datums for the periods in [start, end); returns how many were put."""
        count = 0
        for account in self.accounts:
            for region in account.regions[:self.regions_per_account]:
                by_namespace: dict[str, list[dict[str, Any]]] = {}
                for signal in resources(account, region):
                    for at in _periods(start, end):
                        by_namespace.setdefault(signal.namespace, []).append(datum(account, region, signal, at))
                for namespace, data in by_namespace.items():
                    for i in range(0, len(data), PUT_BATCH):
                        self.sink(account, region, namespace, data[i:i + PUT_BATCH])
                        count += len(data[i:i + PUT_BATCH])
        self.seeded_until = end
        return count

    def _put(self, account: DemoAccount, region: str, namespace: str, data: list[dict[str, Any]]) -> None:
        self._client(account, region).put_metric_data(Namespace=namespace, MetricData=data)

    def seed(self, now: dt.datetime) -> int:
        end = _floor(now)
        return self.put(end - HISTORY, end)

    def start_ticking(self, interval_seconds: float = 60.0) -> None:
        """Add each period once it has ended, until :meth:`stop`."""
        def tick() -> None:
            while not self._stop.wait(interval_seconds):
                end = _floor(dt.datetime.now(UTC))
                if self.seeded_until is not None and end > self.seeded_until:
                    try:
                        self.put(self.seeded_until, end)
                    except Exception as exc:  # noqa: BLE001 - the demo keeps serving what it has
                        log.warning("event=demo_cloudwatch_seed_failed error=%r", str(exc))

        self._thread = threading.Thread(target=tick, name="demo-cloudwatch-seeder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
