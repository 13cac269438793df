"""Rate limits per AWS API (exporter.ratelimit): the bucket on an injected clock, which rate an API gets, the
config keys, and that a stand-in throttling beyond its rates fails no account."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest

from exporter.app import App
from exporter.config import ConfigError, parse
from exporter.ratelimit import DEFAULT_RATE_LIMITS, RateLimits, TokenBucket, is_loopback
from tests.aws_helpers import account_doc
from tests.conftest import AWS_TEST_ENV, AWS_TEST_UNSET
from tests.throttling import ThrottlingAws

AS_OF = dt.date(2024, 5, 1)


class FakeClock:
    """Time moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        self.lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.slept.append(seconds)
            self.now += seconds


# ----------------------------------------------------------------------------------------- the bucket


def test_a_bucket_lets_its_burst_through_then_one_request_per_interval():
    clock = FakeClock()
    bucket = TokenBucket(2.0, burst=2, clock=clock, sleep=clock.sleep)
    waits = [bucket.acquire() for _ in range(6)]
    assert waits[:2] == [0.0, 0.0]
    assert waits[2:] == pytest.approx([0.5] * 4)
    assert clock.now == pytest.approx(1002.0)  # 6 requests at 2/s, 2 of them free: 2 s


def test_a_slow_bucket_bursts_two_and_an_idle_one_refills_only_to_its_burst():
    clock = FakeClock()
    bucket = TokenBucket(0.5, clock=clock, sleep=clock.sleep)  # 1 request every 2 s, bursts of 2
    assert [bucket.acquire() for _ in range(3)] == pytest.approx([0, 0, 2.0])
    clock.now += 3600  # an hour idle: still only 2 free requests
    assert [bucket.acquire() for _ in range(3)] == pytest.approx([0, 0, 2.0])


def test_waiting_callers_each_get_their_own_slot():
    clock = FakeClock()
    bucket = TokenBucket(1.0, burst=1, clock=clock, sleep=lambda s: None)  # nobody's sleep moves the clock
    assert [bucket.reserve() for _ in range(4)] == pytest.approx([0, 1, 2, 3])


def test_many_threads_share_one_rate_whatever_the_concurrency():
    clock = FakeClock()
    bucket = TokenBucket(5.0, burst=1, clock=clock, sleep=lambda s: None)
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            wait = bucket.reserve()
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits) == pytest.approx([k / 5.0 for k in range(40)])  # 40 slots, 0.2 s apart, none shared


def test_a_throttle_empties_the_bucket_adds_one_interval_and_slows_it_until_requests_bring_it_back():
    clock = FakeClock()
    bucket = TokenBucket(4.0, burst=4, clock=clock, sleep=clock.sleep)
    bucket.acquire()
    bucket.throttled()  # 3 tokens were left: AWS says otherwise
    assert bucket.rate == pytest.approx(3.2)
    assert bucket.acquire() == pytest.approx(2 / 3.2)  # two intervals: the missing token and the penalty
    for _ in range(12):
        bucket.acquire()
    assert bucket.rate == 4.0  # never above the configured rate


def test_a_bucket_refuses_a_rate_of_zero():
    with pytest.raises(ValueError):
        TokenBucket(0)


# ---------------------------------------------------------------------------------------- which rate


def test_an_operation_key_beats_its_service_key_which_beats_the_old_key_which_beats_the_defaults():
    limits = RateLimits({"cloudwatch.GetMetricData": 7, "ce": 3}, every_api=20)
    assert limits.rule("cloudwatch", "GetMetricData") == ("cloudwatch.GetMetricData", 7)
    assert limits.rule("ce", "GetCostForecast") == ("ce", 3)
    assert limits.rule("sts", "AssumeRole") == ("sts.AssumeRole", 20)  # the old key: each API its own bucket
    defaults = RateLimits()
    assert defaults.rule("ce", "GetCostAndUsage") == ("ce", DEFAULT_RATE_LIMITS["ce"])
    assert defaults.rule("cloudwatch", "GetMetricData") == ("cloudwatch.GetMetricData", 50)
    assert defaults.rule("cloudwatch", "ListMetrics") is None


def test_a_service_key_is_one_bucket_for_the_service_and_an_operation_key_its_own():
    limits = RateLimits({"ce": 1, "sts.AssumeRole": 5})
    assert limits.bucket("ce", "GetCostAndUsage") is limits.bucket("ce", "GetCostForecast")
    assert limits.bucket("sts", "AssumeRole") is not limits.bucket("sts", "GetCallerIdentity")


def test_defaults_do_not_slow_a_stand_in_on_loopback_but_configured_limits_do():
    assert RateLimits().bucket("ce", "GetCostAndUsage", stand_in=True) is None
    assert RateLimits({"ce": 2}).rule("ce", "GetCostAndUsage", stand_in=True) == ("ce", 2)
    assert RateLimits(every_api=3).rule("health", "DescribeEvents", stand_in=True) == ("health.DescribeEvents", 3)
    assert is_loopback("http://127.0.0.1:4566") and is_loopback("http://localhost:5000") and is_loopback("http://[::1]:1")
    assert not is_loopback("https://ce.us-east-1.amazonaws.com") and not is_loopback(None)


# -------------------------------------------------------------------------------------------- config


def config(**aws: object) -> object:
    return parse({"accounts": [account_doc(1)], "aws": aws})


def test_rate_limits_parse_and_the_old_key_still_works():
    settings = config(rate_limits={"ce": 2, "cloudwatch.GetMetricData": 25.5}, max_requests_per_second=4).aws
    assert dict(settings.rate_limits) == {"ce": 2.0, "cloudwatch.GetMetricData": 25.5}
    assert settings.max_requests_per_second == 4
    limits = RateLimits(dict(settings.rate_limits), settings.max_requests_per_second)
    assert limits.rule("health", "DescribeEvents") == ("health.DescribeEvents", 4)


@pytest.mark.parametrize("limits,problem", [
    ({"ce": 0}, "aws.rate_limits.ce: must be a number > 0 (requests per second), got 0"),
    ({"ce": -1}, "aws.rate_limits.ce: must be a number > 0 (requests per second), got -1"),
    ({"health": "fast"}, "aws.rate_limits.health: must be a number > 0 (requests per second), got 'fast'"),
    ({"cloudwach": 5}, "aws.rate_limits.cloudwach: not a service the exporter calls (ce, cloudwatch, health, "
                       "organizations, sts) (did you mean 'cloudwatch'?)"),
    ({"sts.assume_role": 5}, "aws.rate_limits.sts.assume_role: not an operation name (like cloudwatch.GetMetricData)"),
])
def test_bad_rate_limits_name_their_place(limits, problem):
    with pytest.raises(ConfigError) as err:
        config(rate_limits=limits)
    assert list(err.value.problems) == [problem]


# ------------------------------------------------------------------------- against a throttling stand-in


RATES = {"AssumeRole": 40, "GetCostAndUsage": 30, "DescribeEvents": 30}
SLOW = {"AssumeRole": 10, "GetCostAndUsage": 5, "DescribeEvents": 10}


@pytest.fixture(params=[RATES])
def throttling(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[ThrottlingAws]:
    for key in AWS_TEST_UNSET:
        monkeypatch.delenv(key, raising=False)
    with ThrottlingAws(request.param, burst=1 if request.param is SLOW else None) as stand_in:
        for key, value in {**AWS_TEST_ENV, "AWS_ENDPOINT_URL": stand_in.endpoint}.items():
            monkeypatch.setenv(key, value)
        yield stand_in


def run_app(aws: dict) -> App:
    app = App.build(parse({"accounts": [account_doc(n) for n in range(1, 7)], "aws": aws,
                           "collectors": {"cost": {"enabled": True}, "health": {"enabled": True}}}),
                    process_metrics=False)
    app.collect_once(AS_OF)
    return app


def failed(app: App) -> list[str]:
    return [r.error or "" for name in ("cost", "health") for r in app.holder.current.for_collector(name) if not r.up]


def throttles(app: App) -> int:
    from exporter.telemetry import is_throttle
    return sum(n for (_, _, code), n in app.clients.stats.view().errors.items() if is_throttle(code))


@pytest.mark.parametrize("throttling", [SLOW], indirect=True, ids=["slow"])  # and no burst
def test_an_exporter_faster_than_the_limits_is_throttled_counted_and_fails_no_account(throttling: ThrottlingAws):
    """The exporter's limits are 10× the stand-in's, from 3 threads: it is throttled, and waits it out
    (botocore alone, with 2 attempts, would have failed accounts)."""
    app = run_app({"concurrency": 3, "max_attempts": 2,
                   "rate_limits": {"sts": 400, "ce": 300, "health": 300}})
    assert sum(throttling.throttled.values()) > 0
    assert throttles(app) == sum(throttling.throttled.values())  # every throttle counted, as an attempt
    assert failed(app) == []


def test_an_exporter_at_the_limits_fails_no_account(throttling: ThrottlingAws):
    app = run_app({"concurrency": 4, "rate_limits": {"sts": 40, "ce": 30, "health": 30}})
    assert failed(app) == []
    assert app.clients.stats.requests_for("ce", "GetCostAndUsage") >= 6


def test_the_old_key_alone_limits_every_api(throttling: ThrottlingAws):
    app = run_app({"concurrency": 2, "max_requests_per_second": 30})
    assert failed(app) == []
