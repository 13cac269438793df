"""One pass over N accounts (per-account mode) against a stand-in that throttles every request beyond its rate.

The stand-in (:class:`tests.throttling.ThrottlingAws`, in a child process so it has its own interpreter) speaks
STS AssumeRole (query/XML), Cost Explorer GetCostAndUsage (JSON 1.1) and Health (JSON 1.1) and answers
``Throttling`` / ``LimitExceededException`` / ``ThrottlingException`` to any request beyond its operation's rate.
A first small pass (unlimited) counts the requests each account makes per API; the rates are then scaled so that
every API's floor (requests ÷ rate) is ``--floor`` seconds, and the exporter is given the same rates
(``aws.rate_limits``, one ``service.Operation`` key each). The chosen collectors (cost by default; Health too
with ``--collectors cost health``) run at the same time, as the schedule runs them.

Reports the pass time, the floor, their ratio (target ≤ 1.1), the exporter's CPU time in the pass (on a shared
machine a pass whose CPU time nears the floor is bound by the CPU it gets, not by the limits), throttles counted
by the exporter (``aws_exporter_api_throttles_total``) and by the stand-in, and accounts failed (target 0).

    python bench/rate_limits.py [--accounts 1000] [--floor 120] [--concurrency 8] [--collectors cost health]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exporter.app import App  # noqa: E402
from exporter.config import parse  # noqa: E402
from exporter.telemetry import is_throttle  # noqa: E402
from tests.aws_helpers import account_doc  # noqa: E402
from tests.faults import SERVICE_OF  # noqa: E402

AS_OF = dt.date(2024, 5, 1)
SERVE = """
import json, sys, time
from tests.throttling import ThrottlingAws
aws = ThrottlingAws(json.loads(sys.argv[1])).__enter__()
print(aws.endpoint, flush=True)
for line in sys.stdin:  # any line: report the counts; end of input: stop
    print(json.dumps({"served": aws.served, "throttled": aws.throttled}), flush=True)
"""


class StandIn:
    def __init__(self, rates: dict[str, float]):
        self.proc = subprocess.Popen([sys.executable, "-c", SERVE, json.dumps(rates)], cwd=ROOT, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        self.endpoint = self.proc.stdout.readline().strip()

    def counts(self) -> dict[str, dict[str, int]]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(10)


def one_pass(endpoint: str, accounts: int, concurrency: int, rate_limits: dict[str, float] | None,
             collectors: tuple[str, ...]) -> dict:
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    aws = {"concurrency": concurrency, "client_cache_size": 2 * accounts + 10}
    if rate_limits:
        aws["rate_limits"] = rate_limits
    config = parse({"accounts": [account_doc(100_000_000_000 + n) for n in range(accounts)], "aws": aws,
                    "collectors": {name: {"enabled": name in collectors} for name in ("cost", "health")}})
    app = App.build(config, process_metrics=False)
    threads = [threading.Thread(target=app.runner.run, args=(c, AS_OF)) for c in app.collectors]
    start, cpu = time.perf_counter(), time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    view = app.clients.stats.view()
    snapshot = app.holder.current
    return {"seconds": seconds, "cpu_seconds": cpu, "requests": {op: n for (_, op), n in view.requests.items() if n},
            "throttles": sum(n for (_, _, code), n in view.errors.items() if is_throttle(code)),
            "failed": sum(1 for name in collectors for r in snapshot.for_collector(name) if not r.up),
            "errors": dict(Counter({code: n for (_, _, code), n in view.errors.items() if not is_throttle(code)}))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--floor", type=float, default=120.0, help="seconds each API's rate allows the pass")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--collectors", nargs="+", choices=("cost", "health"), default=["cost"])
    args = parser.parse_args()
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
                       "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                       "AWS_EC2_METADATA_DISABLED": "true"})
    os.environ.pop("AWS_PROFILE", None)

    probe = StandIn({})  # unlimited: how many requests an account makes, per API
    try:
        sample = one_pass(probe.endpoint, 10, 1, None, tuple(args.collectors))
    finally:
        probe.stop()
    per_account = {op: n / 10 for op, n in sample["requests"].items() if op != "GetCallerIdentity"}
    rates = {op: round(n * args.accounts / args.floor, 3) for op, n in per_account.items()}
    limits = {f"{SERVICE_OF[op]}.{op}": rate for op, rate in rates.items()}
    print(json.dumps({"per_account": per_account, "rates": rates}), flush=True)

    stand_in = StandIn(rates)
    try:
        result = one_pass(stand_in.endpoint, args.accounts, args.concurrency, limits, tuple(args.collectors))
        counts = stand_in.counts()
    finally:
        stand_in.stop()
    floor = max(counts["served"].get(op, 0) / rate for op, rate in rates.items())  # answered requests ÷ rate
    print(json.dumps({
        "accounts": args.accounts, "collectors": args.collectors, "concurrency": args.concurrency, "pass_seconds": round(result["seconds"], 1),
        "floor_seconds": round(floor, 1), "ratio": round(result["seconds"] / floor, 3),
        "exporter_cpu_seconds": round(result["cpu_seconds"], 1),
        "requests": result["requests"], "throttles_counted": result["throttles"],
        "throttles_by_stand_in": sum(counts["throttled"].values()), "accounts_failed": result["failed"],
        "other_errors": dict(result["errors"]), "load": os.getloadavg()}), flush=True)


if __name__ == "__main__":
    main()
