"""What a cost refresh asks beside the cost itself, once its records are in: spike drivers, the record-type split,
open anomalies and the month-end forecast (:mod:`exporter.signals` holds what they give).

Each signal is optional (``collectors.cost.drivers.enabled``, on by default; ``record_types``, ``anomalies``,
``forecast``, off) and costs $0.01 a request and a page, counted like every Cost Explorer request. Per refresh:

| signal | per-account mode | payer mode |
| --- | --- | --- |
| drivers | 1 GetCostAndUsage per spiking service of the account (≤ ``max_spikes``) | 1 per service spiking anywhere |
| record_types | 1 GetCostAndUsage per account | 1 for the organization |
| anomalies | 1 GetAnomalies per account | 1 for the organization |
| forecast | 1 GetCostForecast per account | 1 for the organization (+ 1 per account with ``per_account``) |

(:meth:`CostSignalRequests.planned` says the same for a dry run.) A failed signal request never fails the
account's cost: one log line, ``SignalStatus.ok`` False (``aws_exporter_cost_signal_up`` 0), and the signal's
values from an earlier refresh of the same day (``as_of``) are kept; those of an earlier day are dropped (they
describe another yesterday, another month to date).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import msgspec

from exporter.spend import SpendLimitReached
from exporter.aws import EXPECTED_ERRORS, error_code, error_message
from exporter.collectors.paging import MAX_PAGES, paged
from exporter.collectors.cost_anomalies import fetch_anomaly_pages, open_anomalies
from exporter.collectors.cost_drivers import DriverQuery, fetch_drivers, find_spikes, spike_drivers
from exporter.collectors.cost_forecast import NO_FORECAST_CODES, forecast_request, month_to_date, parse_forecast
from exporter.collectors.cost_record_types import RecordTypeQuery, parse_record_types
from exporter.config import Account, CostSettings
from exporter.model import (ANOMALIES, DRIVERS, FORECAST, RECORD_TYPES, AccountResult, CostAnomaly, CostDetail,
                            CostForecast, CostRecord, CostSignals, RecordTypeCost, SignalStatus, SpikeDrivers,
                            UsageDriver)

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PlannedRequests:
    """What a refresh will ask of one operation for one signal: ``requests`` exactly, or at most (``at_most``:
    drivers depend on the spikes a refresh finds), each plus its NextPageToken pages."""

    signal: str
    operation: str
    requests: int
    at_most: bool = False


class _Failed(Exception):
    """A signal request that failed as expected (logged once where it happened)."""

    def __init__(self, status: SignalStatus):
        super().__init__(status.reason)
        self.status = status


class CostSignalRequests:
    """Asks for the enabled signals of one refresh; see the module's docstring."""

    def __init__(self, settings: CostSettings):
        self.settings = settings
        self._organization: CostSignals | None = None  # payer mode: the last organization signals (kept a day)

    @property
    def enabled(self) -> bool:
        s = self.settings
        return s.drivers.enabled or s.record_types or s.anomalies or s.forecast.enabled

    @property
    def operations(self) -> tuple[tuple[str, str], ...]:
        return ((("ce", "GetAnomalies"),) if self.settings.anomalies else ()) + (
            (("ce", "GetCostForecast"),) if self.settings.forecast.enabled else ())

    def planned(self, accounts: int, payer: bool) -> tuple[PlannedRequests, ...]:
        s, plan = self.settings, []
        if s.drivers.enabled:
            plan.append(PlannedRequests(DRIVERS, "GetCostAndUsage", accounts * s.drivers.max_spikes, at_most=True))
        if s.record_types:
            plan.append(PlannedRequests(RECORD_TYPES, "GetCostAndUsage", 1 if payer else accounts))
        if s.anomalies:
            plan.append(PlannedRequests(ANOMALIES, "GetAnomalies", 1 if payer else accounts))
        if s.forecast.enabled:
            plan.append(PlannedRequests(FORECAST, "GetCostForecast", (1 + (accounts if s.forecast.per_account else 0))
                                        if payer else accounts))
        return tuple(plan)

    # ------------------------------------------------------------------------------------ per account

    def for_account(self, client: Any, account: Account, records: Sequence[CostRecord], detail: CostDetail,
                    previous: AccountResult | None) -> CostSignals | None:
        """The signals of one account's refresh (per-account mode: ``client`` is in the account)."""
        if not self.enabled:
            return None
        s, kept = self.settings, _same_day(previous, detail)
        status: list[SignalStatus] = []
        drivers: tuple[SpikeDrivers, ...] = ()
        if s.drivers.enabled:
            found, failures = [], []
            for spike in find_spikes(records, detail, s.drivers):
                query = DriverQuery.of(spike.service, [account.id], detail, s.metric)
                try:
                    got = _attempt(DRIVERS, account.name, lambda: fetch_drivers(client, query, detail),
                                   service=spike.service)[account.id]
                except _Failed as failed:
                    failures.append(failed.status)
                    got = _kept_drivers(kept, spike)
                found.append(spike_drivers(spike, got))
            drivers = tuple(found)
            status.append(_drivers_status(failures))
        as_of = detail.as_of

        def record_types() -> tuple[RecordTypeCost, ...]:
            query = RecordTypeQuery.of(as_of, s.metric, account.id)
            pages = paged(client.get_cost_and_usage, query.request, "GetCostAndUsage")
            return parse_record_types(pages, query, as_of).get("", ())

        def anomalies() -> tuple[CostAnomaly, ...]:
            found = open_anomalies(fetch_anomaly_pages(client, as_of), as_of)
            return tuple(a for owner, a in found if owner in (None, account.id))

        def forecast() -> CostForecast:
            return _forecast(client, as_of, s.metric, account.id, month_to_date(records, as_of))

        return CostSignals(
            drivers=drivers,
            record_types=self._signal(RECORD_TYPES, s.record_types, account.name, status, kept, record_types, ()),
            anomalies=self._signal(ANOMALIES, s.anomalies, account.name, status, kept, anomalies, ()),
            forecast=self._signal(FORECAST, s.forecast.enabled, account.name, status, kept, forecast, None),
            status=tuple(status))

    def _signal(self, signal: str, enabled: bool, who: str, status: list[SignalStatus], kept: CostSignals | None,
                work: Callable[[], T], empty: T) -> T:
        if not enabled:
            return empty
        try:
            value, done = _attempt_status(signal, who, work)
        except _Failed as failed:
            status.append(failed.status)
            return getattr(kept, signal) if kept is not None else empty
        status.append(done)
        return empty if value is None else value

    # ------------------------------------------------------------------------------------ payer mode

    def for_fleet(self, client: Any, accounts: Sequence[Account], records_of: Callable[[str], Sequence[CostRecord]],
                  linked: Iterable[str], detail: CostDetail, previous: Mapping[str, AccountResult]
                  ) -> tuple[dict[str, CostSignals], CostSignals | None]:
        """Payer mode: each served account's signals from organization-wide requests, and the organization's own
        (the forecast). ``linked``: every linked account the pass saw (the organization's month to date)."""
        if not self.enabled:
            return {}, None
        s, as_of = self.settings, detail.as_of
        kept = {a.id: _same_day(previous.get(a.id), detail) for a in accounts}
        status: dict[str, list[SignalStatus]] = {a.id: [] for a in accounts}
        out: dict[str, dict[str, Any]] = {a.id: {} for a in accounts}
        if s.drivers.enabled:
            self._fleet_drivers(client, accounts, records_of, detail, kept, status, out)

        def fleet_signal(signal: str, enabled: bool, work: Callable[[], Mapping[str, Any]], empty: Any) -> None:
            if not enabled:
                return
            try:
                by_account, done = _attempt_status(signal, "organization", work)
            except _Failed as failed:
                for a in accounts:
                    status[a.id].append(failed.status)
                    out[a.id][signal] = getattr(kept[a.id], signal) if kept[a.id] is not None else empty
                return
            for a in accounts:
                status[a.id].append(done)
                out[a.id][signal] = by_account.get(a.id, empty)

        pages = MAX_PAGES + 4 * len(accounts)  # a runaway guard that grows with the organization's answer

        def record_types() -> dict[str, tuple[RecordTypeCost, ...]]:
            query = RecordTypeQuery.of(as_of, s.metric)
            return parse_record_types(
                paged(client.get_cost_and_usage, query.request, "GetCostAndUsage", pages), query, as_of)

        def anomalies() -> dict[str, tuple[CostAnomaly, ...]]:
            return _by_owner(open_anomalies(fetch_anomaly_pages(client, as_of, max_pages=pages), as_of), accounts)

        fleet_signal(RECORD_TYPES, s.record_types, record_types, ())
        fleet_signal(ANOMALIES, s.anomalies, anomalies, ())
        if s.forecast.enabled and s.forecast.per_account:
            for a in accounts:
                def forecast(a: Account = a) -> CostForecast:
                    return _forecast(client, as_of, s.metric, a.id, month_to_date(records_of(a.id), as_of))
                out[a.id][FORECAST] = self._signal(FORECAST, True, a.name, status[a.id], kept[a.id], forecast, None)
        signals = {a.id: CostSignals(status=tuple(status[a.id]), **out[a.id]) for a in accounts}
        return signals, self._organization_signals(client, linked, records_of, detail)

    def _fleet_drivers(self, client: Any, accounts: Sequence[Account], records_of: Callable[[str], Sequence[CostRecord]],
                       detail: CostDetail, kept: Mapping[str, CostSignals | None],
                       status: dict[str, list[SignalStatus]], out: dict[str, dict[str, Any]]) -> None:
        """One request per service spiking in any account, for all the accounts it spikes in."""
        spikes = {a.id: find_spikes(records_of(a.id), detail, self.settings.drivers) for a in accounts}
        by_service: dict[str, list[str]] = {}
        for account_id, found in spikes.items():
            for spike in found:
                by_service.setdefault(spike.service, []).append(account_id)
        got: dict[tuple[str, str], tuple[UsageDriver, ...] | None] = {}
        failures: dict[str, list[SignalStatus]] = {a.id: [] for a in accounts}
        for service, account_ids in sorted(by_service.items()):
            query = DriverQuery.of(service, account_ids, detail, self.settings.metric, by_account=True)
            try:
                answer = _attempt(DRIVERS, "organization", lambda: fetch_drivers(client, query, detail), service=service)
            except _Failed as failed:
                for account_id in account_ids:
                    failures[account_id].append(failed.status)
                answer = {}
            for account_id in account_ids:
                got[(account_id, service)] = answer.get(account_id)
        for a in accounts:
            out[a.id][DRIVERS] = tuple(
                spike_drivers(spike, got[(a.id, spike.service)] if got[(a.id, spike.service)] is not None
                              else _kept_drivers(kept[a.id], spike)) for spike in spikes[a.id])
            status[a.id].append(_drivers_status(failures[a.id]))

    def _organization_signals(self, client: Any, linked: Iterable[str],
                              records_of: Callable[[str], Sequence[CostRecord]], detail: CostDetail
                              ) -> CostSignals | None:
        """Payer mode's forecast for the whole organization (every linked account's month to date)."""
        if not self.settings.forecast.enabled:
            return None
        as_of, before = detail.as_of, self._organization
        kept = before if before is not None and before.forecast is not None \
            and before.forecast.forecast_start == as_of else None
        status: list[SignalStatus] = []

        def forecast() -> CostForecast:
            actual = sum((month_to_date(records_of(a), as_of) for a in linked), Decimal(0))
            return _forecast(client, as_of, self.settings.metric, None, actual)

        forecast_ = self._signal(FORECAST, True, "organization", status, kept, forecast, None)
        self._organization = CostSignals(forecast=forecast_, status=tuple(status))
        return self._organization


# ------------------------------------------------------------------------------------------ helpers

class LazyClient:
    """A client made on first use (payer mode: a refresh may ask nothing at all, and then assumes no role)."""

    def __init__(self, make: Callable[[], Any]):
        self._make, self._client = make, None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = self._make()
        return getattr(self._client, name)


def with_signals(detail: CostDetail, signals: CostSignals | None) -> CostDetail:
    return detail if signals is None else msgspec.structs.replace(detail, signals=signals)


def _same_day(previous: AccountResult | None, detail: CostDetail) -> CostSignals | None:
    """The previous result's signals when they were collected as of the same day (kept through a failure)."""
    before = previous.detail if previous is not None else None
    if isinstance(before, CostDetail) and before.as_of == detail.as_of:
        return before.signals
    return None


def _kept_drivers(kept: CostSignals | None, spike: SpikeDrivers) -> tuple[UsageDriver, ...] | None:
    for before in kept.drivers if kept is not None else ():
        if before.service == spike.service and before.asked:
            return before.drivers
    return None


def _drivers_status(failures: list[SignalStatus]) -> SignalStatus:
    if not failures:
        return SignalStatus(signal=DRIVERS, ok=True)
    reason = failures[0].reason if len(failures) == 1 else f"{len(failures)} requests failed, first: {failures[0].reason}"
    return SignalStatus(signal=DRIVERS, ok=False, reason=reason)


def _by_owner(found: list[tuple[str | None, CostAnomaly]], accounts: Sequence[Account]) -> dict[str, tuple[CostAnomaly, ...]]:
    served = {a.id for a in accounts}
    owned: dict[str, list[CostAnomaly]] = {}
    elsewhere = 0
    for owner, anomaly in found:
        if owner in served:
            owned.setdefault(owner, []).append(anomaly)
        else:
            elsewhere += 1
    if elsewhere:
        log.info("event=cost_anomalies_unattributed anomalies=%d reason=no_served_account_named", elsewhere)
    return {owner: tuple(anomalies) for owner, anomalies in owned.items()}


class _NoForecast(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _forecast(client: Any, as_of: dt.date, metric: str, account_id: str | None, actual: Decimal) -> CostForecast:
    request = forecast_request(as_of, metric, account_id)
    if request is None:
        raise _NoForecast("empty forecast window")
    try:
        answer = client.get_cost_forecast(**request)
    except EXPECTED_ERRORS as exc:
        if error_code(exc) in NO_FORECAST_CODES:
            raise _NoForecast(error_message(exc)) from exc
        raise
    return parse_forecast(answer, as_of, actual)


def _attempt(signal: str, who: str, work: Callable[[], T], **context: str) -> T:
    """``work()``; an expected failure (AWS, the network, a runaway page loop, an answer of the wrong shape: a
    MalformedResponse) is one log line and :class:`_Failed`; anything else is a bug: logged with its traceback, and
    a failure all the same (a signal never fails the account's cost)."""
    where = "".join(f" {k}={v!r}" for k, v in context.items())
    try:
        return work()
    except (*EXPECTED_ERRORS, RuntimeError) as exc:
        reason = error_message(exc)
        log.warning("event=cost_signal_failed signal=%s account=%s%s reason=%r", signal, who, where, reason)
    except (_NoForecast, SpendLimitReached):
        raise
    except Exception as exc:  # noqa: BLE001 - a bug in a signal must not fail the account's cost
        reason = error_message(exc)
        log.exception("event=cost_signal_failed signal=%s account=%s%s reason=%r", signal, who, where, reason)
    raise _Failed(SignalStatus(signal=signal, ok=False, reason=reason))


def _attempt_status(signal: str, who: str, work: Callable[[], T]) -> tuple[T | None, SignalStatus]:
    """(value, ok status); a forecast AWS cannot make is (None, ok with the reason)."""
    try:
        return _attempt(signal, who, work), SignalStatus(signal=signal, ok=True)
    except _NoForecast as none:
        log.info("event=cost_signal_skipped signal=%s account=%s reason=%r", signal, who, none.reason)
        return None, SignalStatus(signal=signal, ok=True, reason=none.reason)

