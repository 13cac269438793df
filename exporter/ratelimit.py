"""Process-wide token buckets, one per AWS API, shared by every thread and every account's client.

Nothing here knows boto3: :mod:`exporter.aws` asks :class:`RateLimits` for the bucket of each request it sends.

Which rate an API gets, first match wins (an explicit setting always beats a built-in default):

1. ``aws.rate_limits["service.Operation"]`` (``cloudwatch.GetMetricData: 50``);
2. ``aws.rate_limits["service"]`` (``ce: 1``);
3. ``aws.max_requests_per_second`` when > 0 (the older key: the same limit for every API, each its own bucket);
4. :data:`DEFAULT_RATE_LIMITS` for the operation, then for the service; not applied to a stand-in on loopback
   (``AWS_ENDPOINT_URL=http://127.0.0.1:…``: the demo's moto, the tests'), which has no AWS quota to respect;
5. else no limit.

A bucket belongs to the key that set its rate: a service key (``ce: 1``) is one bucket for all of that service's
operations that no operation key names, so Cost Explorer as a whole stays at 1 request/s, as AWS counts it; an
operation key, the older key and the operation defaults give each API its own bucket. A bucket holds up to
``max(2, rate / 2)`` tokens: bursts of two at a slow rate, half a second's worth at a fast one, so that requests
a busy network or CPU delayed and then delivered together still fit in AWS's own burst (which is rarely less
than one second's worth).

Throttles. botocore's own retry (exponential back-off up to 20 s, at most ``aws.max_attempts`` attempts, and in
adaptive mode a rate limiter per client, i.e. per account, that knows nothing of the other accounts) either gives
up on an account under a sustained limit or sleeps far longer than the limit asks. So a throttled answer to an
API that has a bucket is handled here instead: the bucket takes it as a signal (its tokens drop to one below zero,
so every caller waits one more interval, and its rate drops by 20%, recovering by 2% a request: a limit set above
AWS's, or a quota shared with another client, settles near the rate AWS allows) and the request is retried at once, through the bucket again, so it waits for its token like any other request rather than for a
back-off. A request throttled :data:`MAX_THROTTLE_RETRIES` times in a row goes back to botocore's retry, which
then fails it (its attempts are spent): an API throttled that often is not one the exporter can wait out. Every
attempt, throttled or not, is counted by the caller (``aws_exporter_api_requests_total``,
``aws_exporter_api_throttles_total``); a throttle that a retry got through fails no account.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

# Requests per second no faster than AWS documents or reports. Keys as in ``aws.rate_limits``.
DEFAULT_RATE_LIMITS: dict[str, float] = {
    # Cost Explorer publishes no rate; GetCostAndUsage answers LimitExceededException "Rate limit exceeded" to a
    # loop of requests (boto/botocore#1820, aws/aws-sdk-java#1662) and AWS support suggested staying well under
    # 10/s there. Conservative, as each request also costs USD 0.01: 1 request/s for the service as a whole.
    "ce": 1.0,
    # AWS Health publishes no per-operation rate (its API reference only lists ThrottlingException); 10/s is the
    # rate most AWS control-plane APIs document as their default (e.g. Service Quotas' List* operations).
    "health": 10.0,
    # CloudWatch service quotas (docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html):
    # GetMetricData 50 transactions per second per Region.
    "cloudwatch.GetMetricData": 50.0,
    # STS: "Throttling: Rate exceeded" beyond a per-account rate AWS does not publish and won't raise
    # (knowledge center: iam-sts-throttling-error); credentials are cached per role, so 10/s is plenty.
    "sts": 10.0,
    # Organizations: its quotas page lists throttling limits per operation, and users report TooManyRequests from
    # a few concurrent DescribeAccount/ListParents callers (awsdocs/aws-organizations-docs#39,
    # awslabs/aws-deployment-framework#788): 5/s, discovery's ~2 requests per account done one after another.
    "organizations": 5.0,
}

BACK_OFF, RECOVERY = 0.8, 1.02  # a throttle slows a bucket by 20%; each request after it speeds it up by 2%
MAX_THROTTLE_RETRIES = 50  # throttles of one request waited out through its bucket before botocore's retry decides


class TokenBucket:
    """``rate`` requests per second, bursts of ``burst``; shared by all threads. A caller reserves its token
    under the lock and sleeps outside it, so waiting callers are served in order, each at its own slot."""

    def __init__(self, rate: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if rate <= 0:
            raise ValueError("rate must be > 0")
        self.limit = self.rate = rate  # the configured rate; the rate now (lower after throttles)
        self.capacity = burst if burst is not None else max(2.0, rate / 2)
        self.tokens = self.capacity
        self.clock, self.sleep = clock, sleep
        self.updated = clock()
        self.lock = threading.Lock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def reserve(self) -> float:
        """Takes a token; the seconds to wait before using it (0 when one was there)."""
        with self.lock:
            self._refill()
            self.tokens -= 1
            wait = -self.tokens / self.rate if self.tokens < 0 else 0.0
            self.rate = min(self.limit, self.rate * RECOVERY)
            return wait

    def acquire(self) -> float:
        """Waits for a token; returns the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self.sleep(wait)
        return wait

    def throttled(self) -> None:
        """AWS said too fast: no token left, one more interval of silence for everyone waiting, and a slower rate
        (× :data:`BACK_OFF`, back to the configured one by × :data:`RECOVERY` a request)."""
        with self.lock:
            self._refill()
            self.tokens = min(self.tokens, 0.0) - 1.0
            self.rate = max(self.limit / 1000, self.rate * BACK_OFF)


def is_loopback(endpoint_url: str | None) -> bool:
    """True for a stand-in's endpoint (127.0.0.0/8, ::1, localhost)."""
    host = urlsplit(endpoint_url or "").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RateLimits:
    """The buckets of one process, made on first use per key (see the module's docstring for the precedence)."""

    def __init__(self, limits: Mapping[str, float] | None = None, every_api: float = 0.0,
                 defaults: Mapping[str, float] = DEFAULT_RATE_LIMITS, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.limits = dict(limits or {})
        self.every_api = every_api
        self.defaults = dict(defaults)
        self.clock, self.sleep = clock, sleep
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def rule(self, service: str, operation: str, stand_in: bool = False) -> tuple[str, float] | None:
        """(the bucket's key, its rate) for an API, or None when it is not limited."""
        api = f"{service}.{operation}"
        if api in self.limits:
            return api, self.limits[api]
        if service in self.limits:
            return service, self.limits[service]
        if self.every_api > 0:
            return api, self.every_api
        if stand_in:
            return None
        if api in self.defaults:
            return api, self.defaults[api]
        if service in self.defaults:
            return service, self.defaults[service]
        return None

    def bucket(self, service: str, operation: str, stand_in: bool = False) -> TokenBucket | None:
        rule = self.rule(service, operation, stand_in)
        if rule is None:
            return None
        key, rate = rule
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(rate, clock=self.clock, sleep=self.sleep)
            return bucket
