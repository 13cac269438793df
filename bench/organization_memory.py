"""Memory of one pass over N accounts: organization mode (no AssumeRole at all) against per-account mode.

The stand-ins run in this process, each mode of the exporter in a fresh child process (``--child``), so
the child's RSS is the exporter's alone: ``App.build(config, process_metrics=False, as_of=…)``, one
``collect_once()``, then ``/metrics`` and ``/snapshot`` each served plain and gzip by the exporter's own
``WebServer`` on loopback (every byte read). The child reports VmRSS after
that, its peak (VmHWM), the series in ``/metrics``, the requests per AWS API (``ApiStats``) and the pass's wall
time. The fleet, for each N:

* N accounts in moto's Organizations (``moto.server.ThreadedMotoServer``, random ids; ``project`` tags in
  one OU per project); the management account (moto's own) is excluded from discovery, so both modes
  serve the same N accounts;
* Cost Explorer: the interpreting stand-in (``aws_ops_demo/cost_explorer.py``) over ``CostData``, 50
  services per account (about one service-day in six without usage), 3 days estimated, 100 groups a page;
  payer mode asks it for the organization, per-account mode for each account (LINKED_ACCOUNT filter);
* AWS Health: the demo stand-in over the demo's events (a public issue, an upcoming change, a closed
  notification and one closed too long ago per account), the organization view for the management account;
* CloudWatch: the monitoring stand-in (``aws_ops_demo/monitoring.py``) with the demo seeder's datapoints
  (the last hour), every account in us-east-1, every other account in eu-west-1 too; every account linked to
  the management account's sink in both regions; 4 queries (EC2 CPU Average and Maximum, RDS free storage,
  Lambda invocations, ALB requests): 7 or 8 series an account and region with data.

Organization mode: ``organization.enabled``, ``collectors.cost.mode: payer``, ``collectors.health.organization``,
``collectors.cloudwatch.monitoring_account``. Per-account mode: the same accounts listed with a role each,
assumed through a second monitoring stand-in that answers only STS (its credentials name the account, which
the CloudWatch and Health stand-ins read back; it is a separate instance because the stand-in dates its
credentials from its seed's clock, which is pinned to the ``--as-of`` day here). With ``--tracemalloc`` each
mode runs a second time under tracemalloc (which inflates RSS) and prints the top 10 allocation sites.

    python bench/organization_memory.py [--accounts 30 300 1000] [--modes organization per_account]
        [--as-of 2026-06-15] [--tracemalloc] [--client-cache-size 200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODES = ("organization", "per_account")
PROJECTS = ("web", "data", "platform")
REGIONS = ("us-east-1", "eu-west-1")
SERVICES = [f"Service {i:02d}" for i in range(50)]
QUERIES = [
    {"namespace": "AWS/EC2", "metric": "CPUUtilization", "dimensions": ["InstanceId"],
     "stats": ["Average", "Maximum"]},
    {"namespace": "AWS/RDS", "metric": "FreeStorageSpace", "dimensions": ["DBInstanceIdentifier"],
     "stats": ["Minimum"]},
    {"namespace": "AWS/Lambda", "metric": "Invocations", "dimensions": ["FunctionName"], "stats": ["Sum"]},
    {"namespace": "AWS/ApplicationELB", "metric": "RequestCount", "dimensions": ["LoadBalancer"], "stats": ["Sum"]},
]
ASSUMED_KEY_RE = re.compile(r"^ASIA(\d{12})")
# Credentials that mean nothing to AWS, for this process's clients (moto) and the child's.
THROWAWAY_ENV = {"AWS_ACCESS_KEY_ID": "bench-access-key", "AWS_SECRET_ACCESS_KEY": "bench-secret-key",
                 "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
                 "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
MIB = 2 ** 20


# ------------------------------------------------------------------------------------------ the child


def status_mib(field: str) -> float:
    """A ``/proc/self/status`` field (VmRSS, VmHWM) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


class StepTimes(logging.Handler):
    """The runner's and discovery's own ``duration_seconds`` from their log lines, per collector."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seconds: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        match = re.search(r"event=(?:collect_done collector=(\w+)|(discovery)_done).* duration_seconds=([\d.]+)",
                          message)
        if match:
            self.seconds[match.group(1) or match.group(2)] = float(match.group(3))


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """One pass of the exporter as ``spec`` says; everything it reports is measured in this process."""
    import tracemalloc

    if spec["tracemalloc"]:
        tracemalloc.start(1)
    from exporter.app import App
    from exporter.config import parse

    steps = StepTimes()
    logging.getLogger("exporter").setLevel(logging.INFO)
    logging.getLogger("exporter").addHandler(steps)
    rss: dict[str, float] = {"started": status_mib("VmRSS")}
    config = parse(spec["config"], source=f"<bench {spec['mode']}>")
    app = App.build(config, process_metrics=False, as_of=dt.date.fromisoformat(spec["as_of"]))
    t0, cpu0 = time.perf_counter(), time.process_time()
    app.collect_once()  # every publish renders the /metrics parts that changed
    pass_s, pass_cpu_s = time.perf_counter() - t0, time.process_time() - cpu0  # CPU: what other load does not skew
    rss["collected"] = status_mib("VmRSS")
    # Served as the exporter serves them (its WebServer on loopback), each plain and gzip, every byte read.
    from exporter.server import WebServer

    server = WebServer("127.0.0.1", 0, app.exposition, lambda: app.holder.current)
    server.start()
    try:
        plain_metrics = fetch(server.port, "/metrics", gzipped=False, count=True)
        gzip_metrics = fetch(server.port, "/metrics", gzipped=True)
        t1 = time.perf_counter()
        snapshot_gzip = fetch(server.port, "/snapshot", gzipped=True)  # encoded on the first request
        snapshot_s = time.perf_counter() - t1
        snapshot_plain = fetch(server.port, "/snapshot", gzipped=False)
    finally:
        server.stop()
    rss["served"] = status_mib("VmRSS")
    series, metrics_mib, snapshot_mib = plain_metrics[1], plain_metrics[0] / MIB, snapshot_plain[0] / MIB
    result: dict[str, Any] = {
        "rss_mib": status_mib("VmRSS"), "peak_mib": status_mib("VmHWM"), "rss_steps": rss, "step_s": steps.seconds,
        "pass_s": pass_s, "pass_cpu_s": pass_cpu_s, "snapshot_s": snapshot_s, "metrics_mib": metrics_mib, "snapshot_mib": snapshot_mib,
        "metrics_gzip_mib": gzip_metrics[0] / MIB, "snapshot_gzip_mib": snapshot_gzip[0] / MIB, "series": series,
        "accounts": len(app.holder.current.accounts),
        "clients_cached": len(app.clients._clients),  # noqa: SLF001 - what the bench wants to attribute
        "down": {name: sum(1 for r in app.holder.current.for_collector(name) if not r.up)
                 for name in ("cost", "health", "cloudwatch")},
        "requests": {f"{s}:{o}": n for (s, o), n in sorted(app.clients.stats.view().requests.items())},
        "errors": {":".join(k): n for k, n in app.clients.stats.view().errors.items()},
    }
    if spec["tracemalloc"]:
        snap = tracemalloc.take_snapshot()
        result["traced_mib"], result["traced_peak_mib"] = (v / MIB for v in tracemalloc.get_traced_memory())
        result["top"] = [(f"{short(s.traceback[0].filename)}:{s.traceback[0].lineno}", s.size / MIB, s.count)
                         for s in snap.statistics("lineno")[:10]]
        by_file: dict[str, float] = {}
        for s in snap.statistics("filename"):
            key = package(s.traceback[0].filename)
            by_file[key] = by_file.get(key, 0.0) + s.size / MIB
        result["by_package"] = sorted(by_file.items(), key=lambda kv: -kv[1])[:8]
    return result


def fetch(port: int, path: str, gzipped: bool, count: bool = False) -> tuple[int, int]:
    """GET ``path`` (``Accept-Encoding: gzip`` or nothing), every byte read and dropped: (bytes read, series
    in a plain ``/metrics`` when ``count``)."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        connection.request("GET", path, headers={"Accept-Encoding": "gzip"} if gzipped else {})
        response = connection.getresponse()
        if response.status != 200 or (response.getheader("Content-Encoding") == "gzip") != gzipped:
            raise SystemExit(f"GET {path} gzip={gzipped}: {response.status} {response.getheader('Content-Encoding')}")
        size = 0

        def pieces() -> Any:
            nonlocal size
            while piece := response.read(1 << 16):
                size += len(piece)
                yield piece

        series = count_series(pieces()) if count else sum(0 for _ in pieces())
        return size, series
    finally:
        connection.close()


def count_series(pieces: Any) -> int:
    """Sample lines in a text exposition that comes in pieces (a line may straddle two)."""
    series, rest = 0, b""
    for piece in pieces:
        lines = (rest + piece).split(b"\n")
        rest = lines.pop()
        series += sum(1 for line in lines if line and not line.startswith(b"#"))
    return series + (1 if rest and not rest.startswith(b"#") else 0)


def short(filename: str) -> str:
    """``…/site-packages/botocore/model.py`` → ``botocore/model.py``; the project's files from its root."""
    for marker in ("site-packages/", str(ROOT) + "/", "lib/python3.11/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def package(filename: str) -> str:
    name = short(filename)
    return name.split("/", 1)[0] if "/" in name else name


# -------------------------------------------------------------------------------------- the stand-ins


class StandIns:
    """moto's Organizations, the payer Cost Explorer, Health and the monitoring stand-ins for N accounts."""

    def __init__(self, n: int, as_of: dt.date):
        from moto.server import ThreadedMotoServer

        from aws_ops_demo.fleet import DemoAccount

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        t0 = time.perf_counter()
        self.management, ids = self._organization(n)
        self.accounts = [DemoAccount(account_id, f"acct-{i:04d}", PROJECTS[i % 3], REGIONS[:2 - i % 2], {})
                         for i, account_id in enumerate(ids)]
        self.servers = [self._cost_explorer(as_of), self._health(), *self._monitoring(as_of)]
        self.seconds = time.perf_counter() - t0

    def _organization(self, n: int) -> tuple[str, list[str]]:
        """The organization in moto: N accounts tagged with their project, one OU per project."""
        import boto3

        # moto's backends are per process, not per server: the previous fleet's organization goes first.
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")).close()
        org = boto3.client("organizations", endpoint_url=self.endpoint, region_name="us-east-1")
        org.create_organization(FeatureSet="ALL")
        management = org.describe_organization()["Organization"]["MasterAccountId"]
        root = org.list_roots()["Roots"][0]["Id"]
        ous = {p: org.create_organizational_unit(ParentId=root, Name=p)["OrganizationalUnit"]["Id"] for p in PROJECTS}
        ids = []
        for i in range(n):
            account_id = org.create_account(
                AccountName=f"acct-{i:04d}", Email=f"acct-{i:04d}@bench.example",
                Tags=[{"Key": "project", "Value": PROJECTS[i % 3]}])["CreateAccountStatus"]["AccountId"]
            org.move_account(AccountId=account_id, SourceParentId=root, DestinationParentId=ous[PROJECTS[i % 3]])
            ids.append(account_id)
        return management, ids

    def _cost_explorer(self, as_of: dt.date) -> Any:
        from aws_ops_demo.cost_explorer import CostData, CostExplorerStandIn
        from aws_ops_demo.loopback import LoopbackServer

        self.cost = CostExplorerStandIn(CostData([a.id for a in self.accounts], SERVICES), as_of, estimated_days=3,
                                        page_size=100)
        return LoopbackServer(self.cost.handler()).start()

    def _health(self) -> Any:
        from aws_ops_demo.health import HealthApi, HealthStandIn, demo_events

        def account_of(access_key: str) -> str:  # the STS stand-in's keys name the account; the main keys are ours
            match = ASSUMED_KEY_RE.match(access_key)
            return match.group(1) if match else self.management

        data = demo_events(self.accounts, dt.datetime.now(dt.timezone.utc))  # Health keeps no history either
        return HealthStandIn(HealthApi(data.events, management_account=self.management), account_of).start()

    def _monitoring(self, as_of: dt.date) -> list[Any]:
        from aws_ops_demo.cloudwatch import CloudWatchSeeder
        from aws_ops_demo.loopback import LoopbackServer
        from aws_ops_demo.monitoring import CloudWatchMonitoringStandIn, Seed
        from exporter.collectors.cloudwatch import collection_time

        read_at = collection_time(as_of, dt.datetime.now(dt.timezone.utc))
        seed = Seed(monitoring_account=self.management, now=read_at - dt.timedelta(hours=1))
        for account in self.accounts:
            seed.link(account.id, *REGIONS)
        seeder = CloudWatchSeeder(self.endpoint, self.accounts, sink=lambda account, region, namespace, data: [
            seed.put_datum(account.id, region, namespace, d) for d in data])
        self.datapoints = seeder.put(read_at - dt.timedelta(hours=1), read_at)
        # AssumeRole from a stand-in of its own whose clock is now: credentials dated from the pinned day would
        # be expired when they arrive, and botocore refuses those ("refreshed credentials are still expired").
        now = dt.datetime.now(dt.timezone.utc)
        sts = CloudWatchMonitoringStandIn(Seed(monitoring_account=self.management, now=now))
        return [LoopbackServer(CloudWatchMonitoringStandIn(seed).handler()).start(),
                LoopbackServer(sts.handler()).start()]

    def env(self) -> dict[str, str]:
        """The child's environment: every AWS endpoint on loopback, credentials that mean nothing to AWS."""
        cost, health, monitoring, sts = (s.endpoint for s in self.servers)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        return {**env, **THROWAWAY_ENV, "AWS_ENDPOINT_URL": self.endpoint, "AWS_ENDPOINT_URL_COST_EXPLORER": cost,
                "AWS_ENDPOINT_URL_HEALTH": health, "AWS_ENDPOINT_URL_CLOUDWATCH": monitoring,
                "AWS_ENDPOINT_URL_OAM": monitoring, "AWS_ENDPOINT_URL_STS": sts}

    def config(self, mode: str, client_cache_size: int) -> dict[str, Any]:
        """The same collectors in both modes; organization mode switches every one to its fleet-wide form."""
        organization = mode == "organization"
        document: dict[str, Any] = {
            "aws": {"client_cache_size": client_cache_size},
            "collectors": {"cost": {"enabled": True, **({"mode": "payer"} if organization else {})},
                           "health": {"enabled": True, "organization": organization},
                           "cloudwatch": {"enabled": True, "regions": list(REGIONS), "queries": QUERIES,
                                          "monitoring_account": organization}}}
        if organization:
            document["organization"] = {"enabled": True, "project_tag": "project",
                                        "exclude_accounts": [self.management]}
        else:
            document["accounts"] = [{"id": a.id, "name": a.name, "project": a.project,
                                     "role_arn": f"arn:aws:iam::{a.id}:role/ops-exporter"} for a in self.accounts]
        return document

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        self.moto.stop()


# ------------------------------------------------------------------------------------------ the bench


def run_child(stand_ins: StandIns, mode: str, as_of: dt.date, traced: bool, client_cache_size: int) -> dict[str, Any]:
    spec = {"mode": mode, "as_of": as_of.isoformat(), "tracemalloc": traced,
            "config": stand_ins.config(mode, client_cache_size)}
    done = subprocess.run([sys.executable, __file__, "--child"], input=json.dumps(spec), capture_output=True,
                          text=True, env=stand_ins.env(), cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{mode} child failed ({done.returncode}):\n{done.stderr[-4000:]}")
    warnings = [line for line in done.stderr.splitlines() if line.strip()]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if any(result["down"].values()) or warnings:
        print(f"  {mode}: down {result['down']}; stderr: {warnings[:5]}", file=sys.stderr)
    return {"mode": mode, "traced": traced, **result}


def billed(r: dict[str, Any]) -> tuple[int, int]:
    """(Cost Explorer requests, GetMetricData requests): the requests AWS bills."""
    requests = r["requests"]
    return (sum(n for k, n in requests.items() if k.startswith("ce:")),
            sum(n for k, n in requests.items() if k.endswith(":GetMetricData")))


def main() -> None:
    from exporter.config import AwsSettings

    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, nargs="+", default=[1000])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=dt.date(2026, 6, 15))
    parser.add_argument("--tracemalloc", action="store_true", help="a second run per mode, under tracemalloc")
    parser.add_argument("--client-cache-size", type=int, default=AwsSettings().client_cache_size,
                        help="aws.client_cache_size (default: the config's default)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.load(sys.stdin))))
        return
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[key]
    os.environ.update(THROWAWAY_ENV)
    rows = []
    for n in args.accounts:
        stand_ins = StandIns(n, args.as_of)
        print(f"{n} accounts: stand-ins ready in {stand_ins.seconds:.0f} s ({stand_ins.datapoints:,} CloudWatch "
              "datapoints)", file=sys.stderr, flush=True)
        try:
            for mode in args.modes:
                for traced in (False, True) if args.tracemalloc else (False,):
                    row = run_child(stand_ins, mode, args.as_of, traced, args.client_cache_size)
                    rows.append(row)
                    print({k: v for k, v in row.items() if k not in ("top", "by_package")}, file=sys.stderr, flush=True)
        finally:
            stand_ins.stop()
    print(f"\nas of {args.as_of}, {len(SERVICES)} services, aws.client_cache_size {args.client_cache_size}; "
          "RSS after one pass, /metrics and /snapshot each served plain and gzip\n")
    print("| mode | accounts | series | RSS after pass (MiB) | peak (MiB) | billed requests (CE + GetMetricData) "
          "| AssumeRole | pass (s) | pass CPU (s) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in (r for r in rows if not r["traced"]):
        ce, gmd = billed(r)
        print(f"| {r['mode']} | {r['accounts']:,} | {r['series']:,} | {r['rss_mib']:.0f} | {r['peak_mib']:.0f} | "
              f"{ce + gmd:,} ({ce:,} + {gmd:,}) | {r['requests'].get('sts:AssumeRole', 0):,} | {r['pass_s']:.1f} | {r['pass_cpu_s']:.1f} |")
    for r in (r for r in rows if r["traced"]):
        print(f"\ntracemalloc, {r['mode']}, {r['accounts']:,} accounts: {r['traced_mib']:.1f} MiB traced after the "
              f"pass (peak {r['traced_peak_mib']:.1f} MiB; RSS {r['rss_mib']:.0f} MiB under tracemalloc)\n")
        print("| allocated at | MiB | blocks |\n| --- | ---: | ---: |")
        for where, size, count in r["top"]:
            print(f"| `{where}` | {size:.1f} | {count:,} |")
        print("\nby package: " + ", ".join(f"{name} {size:.1f}" for name, size in r["by_package"]))


if __name__ == "__main__":
    main()
