"""One Cost Explorer refresh over N accounts against a local AWS stand-in (moto's server, a child process).

Each account: STS AssumeRole, then the two GetCostAndUsage requests (DAILY, MONTHLY) with 30 services.
Reports the refresh's wall time, per-account time, AWS requests made and the process's peak RSS
(cumulative over the runs), sequential and with ``aws.concurrency`` > 1. The stand-in's own cost is included: this measures the exporter's overhead
per account (client creation, signing, parsing), not AWS's latency.

    python bench/refresh.py [--accounts 10 100 300] [--concurrency 1 4]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exporter.app import App  # noqa: E402
from exporter.config import parse  # noqa: E402
from tests.aws_helpers import standard_seed  # noqa: E402

AS_OF = dt.date(2026, 11, 25)
SERVICES = {f"Service {i:02d}": f"{i}.0123456789" for i in range(30)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(f"{endpoint}/moto-api/data.json", timeout=1)
            return proc, endpoint
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError("moto server did not start")


def run(endpoint: str, accounts: int, concurrency: int, client_cache_size: int = 1000) -> dict:
    httpx.post(f"{endpoint}/moto-api/reset").raise_for_status()
    base = 100_000_000_000
    ids = [f"{base + n:012d}" for n in range(accounts)]
    seed = standard_seed(AS_OF, SERVICES)
    with httpx.Client(base_url=endpoint) as http:
        for account_id in ids:
            http.post("/moto-api/static/ce/cost-and-usage-results",
                      json={"account_id": account_id, "results": seed}).raise_for_status()
    config = parse({"accounts": [{"id": a, "name": f"acct-{a}", "project": "bench",
                                  "role_arn": f"arn:aws:iam::{a}:role/ops-exporter"} for a in ids],
                    "aws": {"concurrency": concurrency, "client_cache_size": client_cache_size}})
    app = App.build(config, process_metrics=False)
    start = time.perf_counter()
    app.collect_once(AS_OF)
    seconds = time.perf_counter() - start
    snapshot = app.holder.current
    ok = sum(1 for r in snapshot.for_collector("cost") if r.up)
    requests = sum(app.clients.stats.view().requests.values())
    return {"accounts": accounts, "concurrency": concurrency, "client_cache_size": client_cache_size, "ok": ok, "refresh_seconds": round(seconds, 2),
            "ms_per_account": round(seconds / accounts * 1000, 1), "aws_requests": requests,
            "ce_requests": app.clients.stats.requests_for("ce"),
            "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, nargs="+", default=[10, 100, 300])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--client-cache-size", type=int, default=1000)
    args = parser.parse_args()
    proc, endpoint = start_moto()
    os.environ.update({"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull,
                       "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true"})
    os.environ.pop("AWS_PROFILE", None)
    try:
        for accounts in args.accounts:
            for concurrency in args.concurrency:
                print(run(endpoint, accounts, concurrency, args.client_cache_size), flush=True)
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
