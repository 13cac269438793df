"""What a cost refresh learns beside the cost itself, part of the snapshot model (:mod:`exporter.model` re-exports
it): why a spike moved (its usage types), AWS's own signals (Cost Anomaly Detection, the month-end forecast) and
the cost split by record type (credits, refunds, tax, support fees, usage…).

Each is optional (``collectors.cost.drivers`` / ``record_types`` / ``anomalies`` / ``forecast``) and held in
:class:`CostSignals`, an optional field of :class:`~exporter.model.CostDetail` (an account's) or of
:class:`~exporter.model.CollectorRun` (payer mode's organization forecast): schema 1.2 only added optional
fields, so a 1.1 reader ignores them. Amounts are exact decimals from the API; ``status`` says, per signal, whether
the last refresh's request worked (a failed one never fails the account's cost: the values of an earlier refresh
of the same day are kept, older ones dropped) or why it was not sent.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec

DRIVERS, RECORD_TYPES, ANOMALIES, FORECAST = "drivers", "record_types", "anomalies", "forecast"  # SignalStatus.signal
WINDOW_YESTERDAY, WINDOW_BASELINE_MEAN = "yesterday", "baseline_mean"  # aws_cost_spike_driver_usd{window}


class UsageDriver(msgspec.Struct, frozen=True, gc=False):
    """One usage type (Cost Explorer's USAGE_TYPE) of a spiking service: its cost yesterday and its mean daily
    cost over the baseline window (days without cost count as $0, as for the service's baseline)."""

    usage_type: str
    yesterday: Decimal
    baseline_mean: Decimal

    @property
    def increase(self) -> Decimal:
        return self.yesterday - self.baseline_mean


class SpikeDrivers(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """A spike (the service's yesterday against its daily baseline, :func:`exporter.periods.is_spike`) and the
    usage types that drove it: the top ones by increase, only those that rose. ``asked``: False when its request
    failed and no earlier answer of the same day was kept (``drivers`` is then empty)."""

    service: str
    yesterday: Decimal
    baseline_mean: Decimal
    drivers: tuple[UsageDriver, ...] = ()
    asked: bool = True


class CostAnomaly(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """An open anomaly from Cost Anomaly Detection (GetAnomalies): ``impact`` is ``Impact.TotalImpact``
    (``MaxImpact`` when AWS gives no total), ``service`` the first root cause's ("" when AWS names none)."""

    anomaly_id: str
    service: str
    impact: Decimal
    start: dt.date | None = None
    end: dt.date | None = None  # AnomalyEndDate: the last day it was detected


class CostForecast(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """The month's end total: the month to date's actual cost ([1st, as_of): the complete days) plus
    GetCostForecast's ``Total`` for [as_of, 1st of next month) (today included)."""

    month_start: dt.date
    forecast_start: dt.date  # the refresh's as_of
    forecast_end: dt.date  # the 1st of next month
    month_to_date: Decimal
    forecast: Decimal

    @property
    def month_total(self) -> Decimal:
        return self.month_to_date + self.forecast


class RecordTypeCost(msgspec.Struct, frozen=True, gc=False):
    """One record type's cost (Cost Explorer's RECORD_TYPE: Usage, Credit, Refund, Tax, …) for one period, all
    services together: ``granularity`` ``monthly`` (last month) or ``month_to_date``."""

    record_type: str
    granularity: str
    period_start: dt.date
    period_end: dt.date
    amount: Decimal
    estimated: bool = False


class SignalStatus(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """One signal's last attempt: ``ok`` False when its request failed (``reason``: the error, one line);
    ``reason`` on an ok one says why nothing was asked or answered (e.g. ``DataUnavailableException``)."""

    signal: str
    ok: bool
    reason: str | None = None


class CostSignals(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """The signals one refresh collected beside an account's cost (or, on a payer pass, the organization's)."""

    drivers: tuple[SpikeDrivers, ...] = ()
    record_types: tuple[RecordTypeCost, ...] = ()
    anomalies: tuple[CostAnomaly, ...] = ()
    forecast: CostForecast | None = None
    status: tuple[SignalStatus, ...] = ()

    def status_of(self, signal: str) -> SignalStatus | None:
        return next((s for s in self.status if s.signal == signal), None)
