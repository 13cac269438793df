"""The typed contract between collection, exposition and the reporter: records, results, the snapshot.

Collectors parse AWS answers into records; the scheduler wraps them into an :class:`AccountResult` per
collector × account and publishes a new :class:`Snapshot`; the exposition turns a snapshot into metric
families; ``/snapshot`` is this model encoded as JSON, and the reporter decodes it with the same model
(:func:`decode_snapshot`). Nothing here talks to AWS or knows Prometheus.

Whatever the exposition needs to know about how data was collected (the as-of day, the periods a cost
refresh covered, the baseline window it used, CloudWatch's window and regions, Health's subscription
state) is a ``detail`` written at collection time, never read back from a live collector's settings.

Wire format (``/snapshot``): JSON, money as exact decimal strings (plain notation), dates ``YYYY-MM-DD``, times RFC 3339
UTC (``…Z``), every record and detail tagged with ``kind``. :data:`SCHEMA_VERSION` is ``MAJOR.MINOR``: a
minor bump only adds optional fields (older readers ignore them); anything else, a new record kind
included, is a major bump, and a reader refuses a major it does not know.

msgspec Structs: frozen, slotted, tagged unions decoded by type in one pass, exact Decimals, and no GC
tracking (records hold no cycles) for snapshots of millions of records.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Union

import msgspec

from exporter.signals import (ANOMALIES, DRIVERS, FORECAST, RECORD_TYPES, CostAnomaly, CostForecast,  # noqa: F401
                              CostSignals, RecordTypeCost, SignalStatus, SpikeDrivers, UsageDriver)  # the model's

# 1.1: AccountInfo ou/source/budget_usd, Snapshot.discovery, CollectorRun.unmapped;
# 1.2: CostDetail.signals, CollectorRun.signals (exporter.signals)
SCHEMA_VERSION = "1.2"
SCHEMA_MAJOR = int(SCHEMA_VERSION.split(".")[0])
UTC = dt.timezone.utc

DAILY, MONTHLY, MONTH_TO_DATE = "daily", "monthly", "month_to_date"
ACTIVE_HEALTH_STATUSES = ("open", "upcoming")


def utcnow() -> dt.datetime:
    return dt.datetime.now(UTC)


class Amount(Decimal):
    """An exact amount from AWS, written by ``/snapshot`` in plain notation (``"0.0000001234"``, never
    ``"1.234E-7"``); a plain Decimal is written exactly too, in Decimal's own notation."""

    __slots__ = ()


class _Tagged(msgspec.Struct, frozen=True, gc=False, tag_field="kind"):
    """Base of every record and detail: encoded with its ``kind``."""


# -------------------------------------------------------------------------------------------- records


class CostRecord(_Tagged, tag="cost"):
    """One service's cost for one period (``period_end`` exclusive, as Cost Explorer reports it)."""

    service: str
    granularity: str  # "daily" | "monthly" (a monthly period ending before the month does is month to date)
    period_start: dt.date
    period_end: dt.date
    amount: Decimal
    unit: str
    metric: str
    estimated: bool



class HealthEvent(_Tagged, tag="health_event"):
    """One AWS Health event as one account sees it; ``affected_entities`` is that account's count of
    affected resources (DescribeEntityAggregates), None where it was not asked for (public, closed)."""

    arn: str
    service: str
    event_type_code: str
    category: str
    region: str  # "global" where AWS reports none
    status: str  # open | upcoming | closed
    scope: str  # PUBLIC | ACCOUNT_SPECIFIC | NONE | "" (not reported)
    start: dt.datetime | None
    end: dt.datetime | None
    last_updated: dt.datetime | None
    affected_entities: int | None = None
    description: str | None = None  # latestDescription (open/upcoming only); AWS text, never a label

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_HEALTH_STATUSES


class CloudWatchRecord(_Tagged, tag="cloudwatch_datapoint"):
    """The newest datapoint of one CloudWatch statistic for one series in one region."""

    region: str
    namespace: str
    metric: str
    stat: str
    dimensions: tuple[tuple[str, str], ...]  # (name, value), sorted by name
    value: float
    timestamp: dt.datetime  # the datapoint's (start of its period)


Record = Union[CostRecord, HealthEvent, CloudWatchRecord]


# -------------------------------------------------------------------------------------------- details


class Period(msgspec.Struct, frozen=True, gc=False):
    """Days [start, end)."""

    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def __contains__(self, day: dt.date) -> bool:
        return self.start <= day < self.end


class CostDetail(_Tagged, tag="cost"):
    """What one cost refresh covered, as of its day: yesterday, last month, month to date (empty on the 1st:
    it starts today) and the baseline window its mean is taken over."""

    as_of: dt.date
    yesterday: Period
    last_month: Period
    month_to_date: Period
    baseline: Period
    signals: CostSignals | None = None  # drivers, record types, anomalies, forecast (exporter.signals)


class HealthDetail(_Tagged, tag="health"):
    """AWS Health's answer to an account without a Business/Enterprise support plan, and when to ask again."""

    subscription_required: bool = False
    subscription_retry_after: dt.datetime | None = None


class CloudWatchDetail(_Tagged, tag="cloudwatch"):
    """The GetMetricData window the values come from, and the regions asked."""

    window_start: dt.datetime
    window_end: dt.datetime
    period_seconds: int
    regions: tuple[str, ...]


Detail = Union[CostDetail, HealthDetail, CloudWatchDetail]


# ----------------------------------------------------------------------------------- results, snapshot


class AccountResult(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """What one collector knows about one account: the records of its last *successful* run, and the outcome
    of the last attempt. A failed attempt keeps the previous records, detail and ``last_success``."""

    collector: str
    account_id: str
    records: tuple[Record, ...] = ()
    up: bool = False
    last_attempt: dt.datetime | None = None
    last_success: dt.datetime | None = None
    duration_seconds: float = 0.0
    error: str | None = None  # one line, "Code: message"; None when the last attempt succeeded
    as_of: dt.date | None = None  # the day the last successful collection treated as today
    detail: Detail | None = None

    def failed(self, at: dt.datetime, duration: float, error: str, detail: Detail | None = None) -> AccountResult:
        """The same data, marked down (``detail``: what the failed attempt learnt, e.g. a Health back-off)."""
        return msgspec.structs.replace(self, up=False, last_attempt=at, duration_seconds=duration, error=error,
                                       detail=self.detail if detail is None else detail)


class UnmappedCost(msgspec.Struct, frozen=True, gc=False):
    """Cost a fleet-wide query saw for accounts the exporter does not serve (payer mode: excluded, not
    ACTIVE, outside ``include_ous``), summed over them and their services for one period."""

    granularity: str  # "daily" | "monthly", as on CostRecord
    period_start: dt.date
    period_end: dt.date
    amount: Decimal
    accounts: int  # how many such accounts had cost in the period


class CollectorRun(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """One pass of a collector over the fleet (``unmapped``: what a fleet-wide pass saw beyond the fleet)."""

    collector: str
    started: dt.datetime
    duration_seconds: float
    accounts_ok: int
    accounts_failed: int
    unmapped: tuple[UnmappedCost, ...] = ()
    signals: CostSignals | None = None  # payer mode: the organization's forecast


CONFIG, ORGANIZATIONS = "config", "organizations"  # AccountInfo.source


class AccountInfo(msgspec.Struct, frozen=True, gc=False):
    """An account the exporter serves: its id, the labels it carries, where it comes from (``config`` for one
    listed in ``accounts:``, discovered or not; ``organizations`` for one only discovered), its parent OU
    ("" when unknown) and its own monthly budget (``accounts[].budget_usd``)."""

    id: str
    name: str
    project: str
    ou: str = ""
    source: str = CONFIG
    budget_usd: Decimal | None = None


class DiscoveryStatus(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """The last AWS Organizations discovery: a failed one keeps the last good account list."""

    up: bool
    discovered_accounts: int  # ACTIVE accounts in scope after the last successful discovery
    last_attempt: dt.datetime | None = None
    last_success: dt.datetime | None = None
    error: str | None = None


class CollectorState(msgspec.Struct, frozen=True, kw_only=True):
    """One collector's part of a snapshot: its last full pass and its result per account id."""

    run: CollectorRun | None = None
    accounts: dict[str, AccountResult] = {}


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    """Everything collected, immutable; a publish makes a new one that shares every unchanged part (so the
    exposition can tell by identity which collector's part changed)."""

    schema_version: str = SCHEMA_VERSION
    taken_at: dt.datetime
    generation: int = 0
    exporter_version: str = ""
    accounts: tuple[AccountInfo, ...] = ()
    collectors: dict[str, CollectorState] = {}
    discovery: DiscoveryStatus | None = None  # None: organization discovery is off

    @classmethod
    def empty(cls, accounts: Iterable[AccountInfo] = (), exporter_version: str = "") -> Snapshot:
        return cls(taken_at=utcnow(), accounts=tuple(accounts), exporter_version=exporter_version)

    def result(self, collector: str, account_id: str) -> AccountResult | None:
        state = self.collectors.get(collector)
        return state.accounts.get(account_id) if state is not None else None

    def for_collector(self, collector: str) -> list[AccountResult]:
        state = self.collectors.get(collector)
        return list(state.accounts.values()) if state is not None else []

    def all_results(self) -> Iterator[AccountResult]:
        for state in self.collectors.values():
            yield from state.accounts.values()

    @property
    def runs(self) -> Mapping[str, CollectorRun]:
        return {name: state.run for name, state in self.collectors.items() if state.run is not None}

    def with_run(self, run: CollectorRun | None, results: Iterable[AccountResult]) -> Snapshot:
        """A new snapshot with ``results`` merged in (and ``run``, None for a partial pass such as a retry);
        collectors without new results keep their state object."""
        collectors = dict(self.collectors)
        changed: dict[str, dict[str, AccountResult]] = {}
        for result in results:
            if result.collector not in changed:
                before = collectors.get(result.collector)
                changed[result.collector] = dict(before.accounts) if before is not None else {}
            changed[result.collector][result.account_id] = result
        if run is not None:
            changed.setdefault(run.collector, dict(collectors[run.collector].accounts)
                               if run.collector in collectors else {})
        for name, accounts in changed.items():
            before = collectors.get(name)
            collectors[name] = CollectorState(run=run if run is not None and run.collector == name
                                              else (before.run if before is not None else None),
                                              accounts=accounts)
        return msgspec.structs.replace(self, taken_at=utcnow(), generation=self.generation + 1,
                                       collectors=collectors)

    def with_fleet(self, accounts: Iterable[AccountInfo], discovery: DiscoveryStatus | None) -> Snapshot:
        """A new snapshot serving ``accounts``: results of accounts no longer served are dropped (a collector
        that loses none keeps its state object); an unchanged list keeps its tuple (the exposition re-renders
        by identity)."""
        accounts = tuple(accounts)
        if accounts == self.accounts:
            accounts = self.accounts
        ids = {a.id for a in accounts}
        collectors = {}
        for name, state in self.collectors.items():
            if all(account_id in ids for account_id in state.accounts):
                collectors[name] = state
            else:
                collectors[name] = CollectorState(run=state.run, accounts={
                    k: v for k, v in state.accounts.items() if k in ids})
        return msgspec.structs.replace(self, taken_at=utcnow(), generation=self.generation + 1,
                                       accounts=accounts, collectors=collectors, discovery=discovery)

    def with_collectors(self, names: Iterable[str]) -> Snapshot:
        """A new snapshot without the state of collectors not in ``names`` (a reload turned them off); the same
        snapshot when there is none to drop."""
        keep = set(names)
        if keep >= self.collectors.keys():
            return self
        return msgspec.structs.replace(self, taken_at=utcnow(), generation=self.generation + 1,
                                       collectors={k: v for k, v in self.collectors.items() if k in keep})


# ------------------------------------------------------------------------------------------- encoding

def _plain(value: object) -> object:
    if isinstance(value, Amount):
        return format(value, "f")
    if isinstance(value, Sequence):  # records held otherwise than as a tuple (exporter.compact.CostRecords)
        return tuple(value)
    raise NotImplementedError(f"not part of the snapshot model: {type(value).__name__}")


_encoder = msgspec.json.Encoder(enc_hook=_plain, decimal_format="string")


def encode_snapshot(snapshot: Snapshot) -> bytes:
    """The ``/snapshot`` document."""
    return _encoder.encode(snapshot)


def _struct_pieces(value: msgspec.Struct, expand: Mapping[str, Callable[[Any], Iterator[bytes]]]) -> Iterator[bytes]:
    """A struct's JSON as msgspec writes it (every field, in order), the fields named in ``expand`` in pieces."""
    for i, name in enumerate(value.__struct_fields__):
        yield (b"{" if i == 0 else b",") + _encoder.encode(name) + b":"
        field = getattr(value, name)
        if name in expand:
            yield from expand[name](field)
        else:
            yield _encoder.encode(field)
    yield b"}" if value.__struct_fields__ else b"{}"


def _mapping_pieces(mapping: Mapping[str, Any], value: Callable[[Any], Iterator[bytes]]) -> Iterator[bytes]:
    if not mapping:
        yield b"{}"
        return
    for i, (key, item) in enumerate(mapping.items()):
        yield (b"{" if i == 0 else b",") + _encoder.encode(key) + b":"
        yield from value(item)
    yield b"}"


def encode_snapshot_pieces(snapshot: Snapshot) -> Iterator[bytes]:
    """The ``/snapshot`` document in pieces, one account result at a time (joined, they are
    :func:`encode_snapshot`'s bytes): never the whole document in memory (141 MiB at 1,000 accounts)."""
    def state(value: CollectorState) -> Iterator[bytes]:
        return _struct_pieces(value, {"accounts": lambda results: _mapping_pieces(
            results, lambda result: iter((_encoder.encode(result),)))})

    return _struct_pieces(snapshot, {"collectors": lambda collectors: _mapping_pieces(collectors, state)})


class SnapshotVersionError(ValueError):
    """A snapshot this model cannot read: another major schema version, or none at all."""


class _Header(msgspec.Struct):
    schema_version: str | None = None


_header_decoder = msgspec.json.Decoder(_Header)
_snapshot_decoder = msgspec.json.Decoder(Snapshot)


def decode_snapshot(body: bytes) -> Snapshot:
    """A ``/snapshot`` document; :class:`SnapshotVersionError` for a major version other than this one's,
    ``msgspec.ValidationError``/``DecodeError`` (both ``msgspec.MsgspecError``) for a malformed one."""
    version = _header_decoder.decode(body).schema_version
    if version is None:
        raise SnapshotVersionError("the snapshot has no schema_version (an exporter older than schema "
                                   "1.0): upgrade the exporter")
    major = version.split(".", 1)[0]
    if major != str(SCHEMA_MAJOR):
        raise SnapshotVersionError(f"snapshot schema {version!r} is not readable by this reader (schema "
                                   f"{SCHEMA_VERSION}, major {SCHEMA_MAJOR}): run the reporter of the same "
                                   "release as the exporter")
    return _snapshot_decoder.decode(body)
