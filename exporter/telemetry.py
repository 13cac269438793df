"""The exporter's own process-wide counters: AWS requests, errors, throttles, spend, CloudWatch metrics asked;
and whether the main credentials work.

Live counters (they describe the exporter, not the fleet; so does :class:`ConfigReloads`, the outcome of config
reloads): ``exporter.aws`` counts every HTTP attempt,
the CloudWatch collector counts the metrics it requests, and the exposition reads them on every scrape.
Nothing here knows boto3 or Prometheus.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

# The one price table (USD, us-east-1 list prices): what each billed unit costs and where the price comes from.
# Health, Organizations and STS are free. The spend counters and ``--estimate-cost`` both read it.
PRICES: dict[str, tuple[str, Decimal, str]] = {  # service → (billed unit, USD per unit, source)
    "ce": ("request", Decimal("0.01"), "https://aws.amazon.com/aws-cost-management/pricing/"),
    "cloudwatch": ("metric requested (GetMetricData)", Decimal("0.00001"),  # USD 0.01 per 1,000 metrics
                   "https://aws.amazon.com/cloudwatch/pricing/"),
    "health": ("request", Decimal(0), "https://aws.amazon.com/premiumsupport/technology/aws-health/"),
    "organizations": ("request", Decimal(0), "https://aws.amazon.com/organizations/pricing/"),
    "sts": ("request", Decimal(0), "https://docs.aws.amazon.com/STS/latest/APIReference/welcome.html"),
}
COST_EXPLORER_PRICE_PER_REQUEST_USD = PRICES["ce"][1]
CLOUDWATCH_PRICE_PER_METRIC_USD = PRICES["cloudwatch"][1]
THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "RequestLimitExceeded", "LimitExceededException", "SlowDown",
    "RequestThrottled", "ProvisionedThroughputExceededException", "BandwidthLimitExceeded",
})


def is_throttle(code: str) -> bool:
    return code in THROTTLING_CODES


SPEND_LIMITED_SERVICES = ("ce", "cloudwatch")  # aws.spend_limits' services, aws_exporter_spend_limit_reached{service}


@dataclass(frozen=True, slots=True)
class TelemetryView:
    """A consistent copy of the counters at one moment."""

    requests: dict[tuple[str, str], int]  # (service, operation) → HTTP attempts
    errors: dict[tuple[str, str, str], int]  # (service, operation, error code) → failed attempts
    cost_explorer_spend_usd: Decimal
    cloudwatch_spend_usd: Decimal
    cloudwatch_metrics_requested: dict[str, int]  # account name → GetMetricData queries sent
    main_credentials_up: bool | None  # the last sts:GetCallerIdentity check; None = not checked
    spend_limit_reached: dict[str, bool]  # service (SPEND_LIMITED_SERVICES) → aws.spend_limits reached today


class ApiStats:
    """Process-wide counters of AWS requests and what they cost.

    Counted per HTTP attempt, so a throttled request that a retry later got through still shows up;
    Cost Explorer spend counts successful requests only (AWS bills those).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, str]] = Counter()
        self._errors: Counter[tuple[str, str, str]] = Counter()
        self._cost_explorer_spend = Decimal(0)
        self._cloudwatch_spend = Decimal(0)
        self._metrics_requested: Counter[str] = Counter()
        self._main_credentials_up: bool | None = None
        self._limit_reached = dict.fromkeys(SPEND_LIMITED_SERVICES, False)
        # Told each billed amount as it is counted (the spend budget of aws.spend_limits), outside the lock.
        self.on_spend: Callable[[str, Decimal], None] | None = None

    def spend_limit(self, service: str, reached: bool) -> None:
        with self._lock:
            self._limit_reached[service] = reached

    def declare(self, operations: Iterable[tuple[str, str]]) -> None:
        """The (service, operation) pairs the exporter may call: counted from 0, so the first request (or
        throttle) is an increase a rate() sees, not a series appearing."""
        with self._lock:
            for key in operations:
                self._requests[key] += 0

    def main_credentials(self, up: bool) -> None:
        with self._lock:
            self._main_credentials_up = up

    def record(self, service: str, operation: str, error: str | None) -> None:
        with self._lock:
            self._requests[(service, operation)] += 1
            if error:
                self._errors[(service, operation, error)] += 1
            billed = service == "ce" and not error
            if billed:
                self._cost_explorer_spend += COST_EXPLORER_PRICE_PER_REQUEST_USD
        if billed and self.on_spend is not None:
            self.on_spend("ce", COST_EXPLORER_PRICE_PER_REQUEST_USD)

    def cloudwatch_metrics(self, account: str, n: int) -> None:
        """``n`` GetMetricData queries sent for ``account`` (billed per metric, not per request)."""
        with self._lock:
            self._metrics_requested[account] += n
            self._cloudwatch_spend += CLOUDWATCH_PRICE_PER_METRIC_USD * n
        if self.on_spend is not None:
            self.on_spend("cloudwatch", CLOUDWATCH_PRICE_PER_METRIC_USD * n)

    def view(self) -> TelemetryView:
        with self._lock:
            return TelemetryView(dict(self._requests), dict(self._errors), self._cost_explorer_spend,
                                 self._cloudwatch_spend, dict(self._metrics_requested), self._main_credentials_up,
                                 dict(self._limit_reached))

    def requests_for(self, service: str, operation: str | None = None) -> int:
        with self._lock:
            return sum(n for (s, o), n in self._requests.items() if s == service and operation in (None, o))


class ConfigReloads:
    """How the config reloads went, as Prometheus keeps ``prometheus_config_last_reload_*``: the last one
    successful or not (1 from start), and when the config in use was loaded (the start's load, then each good
    reload; a failed one does not move it)."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._lock = threading.Lock()
        self._successful = True
        self._last_success = clock()

    def succeeded(self) -> None:
        with self._lock:
            self._successful, self._last_success = True, self._clock()

    def failed(self) -> None:
        with self._lock:
            self._successful = False

    def view(self) -> tuple[bool, float]:
        """(the last reload succeeded, Unix time of the last successful load)."""
        with self._lock:
            return self._successful, self._last_success
