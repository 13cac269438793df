"""Three shards against one AWS stand-in and one real Prometheus: together they serve what one exporter does.

One stand-in (the demo's: moto, its Cost Explorer, its Health) runs in a process of its own; four exporters,
the real CLI, collect from it ``--once --as-of`` a pinned day (never the real date): one unsharded, and
``--shard 0/3``, ``1/3``, ``2/3``. The union of the shards' AWS series (``aws_cost_*``, ``aws_health_*``, the
CloudWatch ones, ``aws_account_info``: every ``aws_*`` but the exporter's own ``aws_exporter_*``) must be the
unsharded exporter's, sample for sample, and no series may come from two shards. Then one Prometheus scrapes
the three expositions (one job, three targets, each served as the CLI printed it) with the shipped rules
(alerts' ``for:`` shortened): the demo's spike must fire ``AwsCostSpike`` exactly once.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT, free_port, write_config
from tests.test_e2e_prometheus import JOB, PROMETHEUS_YML, _stop, _test_rules, _wait
from tests.test_prometheus_rules import require_tool

AS_OF = "2026-03-31"
SHARDS = 3
TIMEOUT = 240.0

# The demo's stand-in alone: it prints the environment that points boto3 at it, then serves until stdin closes.
STAND_IN = """
import datetime as dt, json, os, sys
import aws_ops_demo
demo = aws_ops_demo.start(as_of=dt.date.fromisoformat(sys.argv[1]))
print(json.dumps({k: v for k, v in os.environ.items() if k.startswith("AWS_")}), flush=True)
sys.stdin.read()
demo.stop()
"""

Sample = tuple[str, frozenset[tuple[str, str]], float]


def aws_series(text: str) -> set[Sample]:
    """Every sample of the AWS families (not the exporter's own)."""
    out = set()
    for family in text_string_to_metric_families(text):
        if family.name.startswith("aws_") and not family.name.startswith("aws_exporter_"):
            out.update((s.name, frozenset(s.labels.items()), s.value) for s in family.samples)
    return out


@pytest.fixture(scope="module")
def expositions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    from aws_ops_demo.config import config_document

    tmp = tmp_path_factory.mktemp("e2e-shards")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    stand_in = subprocess.Popen([sys.executable, "-c", STAND_IN, AS_OF], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=(tmp / "stand-in.log").open("wb"), text=True)
    try:
        line = stand_in.stdout.readline()  # type: ignore[union-attr]
        assert line, (tmp / "stand-in.log").read_text()[-3000:]
        env.update(json.loads(line))
        config = write_config(tmp, config_document())
        runs = {name: subprocess.Popen([sys.executable, "-m", "exporter", "--config", str(config), "--once",
                                        "--as-of", AS_OF, *shard], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                       stderr=(tmp / f"{name.replace('/', '-of-')}.log").open("wb"))
                for name, shard in [("whole", []), *((f"{i}/{SHARDS}", ["--shard", f"{i}/{SHARDS}"])
                                                     for i in range(SHARDS))]}
        texts = {}
        for name, run in runs.items():
            out, _ = run.communicate(timeout=TIMEOUT)
            assert run.returncode == 0, (tmp / f"{name.replace('/', '-of-')}.log").read_text()[-3000:]
            texts[name] = out.decode()
        yield texts
    finally:
        stand_in.stdin.close()  # type: ignore[union-attr]
        _stop(stand_in)


def test_the_shards_together_serve_exactly_what_one_exporter_serves(expositions):
    whole = aws_series(expositions["whole"])
    shards = [aws_series(expositions[f"{i}/{SHARDS}"]) for i in range(SHARDS)]
    assert all(shards) and {s[0] for s in whole} >= {"aws_account_info", "aws_cost_usd", "aws_health_events"}
    assert set().union(*shards) == whole
    assert sum(len(s) for s in shards) == len(whole)  # no sample served by two shards

    def accounts(series: set[Sample]) -> set[str]:
        return {v for _, labels, _ in series for k, v in labels if k == "account_id"}
    per_shard = [accounts(s) for s in shards]
    assert all(per_shard) and sum(len(a) for a in per_shard) == len(accounts(whole))
    # each shard says which it is, and nothing else does
    for i in range(SHARDS):
        lines = [x for x in expositions[f"{i}/{SHARDS}"].splitlines() if "shard" in x and not x.startswith("#")]
        assert lines == [f'aws_exporter_shard_info{{count="{SHARDS}",index="{i}"}} 1.0']


class _Static(http.server.ThreadingHTTPServer):
    daemon_threads = True


def _serve(text: str) -> tuple[_Static, int]:
    body = text.encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = _Static(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def test_prometheus_scraping_the_three_shards_fires_the_demo_spike_once(expositions, tmp_path: Path):
    prometheus = require_tool("prometheus")
    served = [_serve(expositions[f"{i}/{SHARDS}"]) for i in range(SHARDS)]
    rules_dir = tmp_path / "rules"
    _test_rules(rules_dir)
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config.pop("alerting", None)
    config["rule_files"] = [str(rules_dir / "*.yml")]
    job = next(j for j in config["scrape_configs"] if j["job_name"] == JOB)
    job["scrape_timeout"] = "1s"
    job["static_configs"] = [{"targets": [f"127.0.0.1:{port}" for _, port in served]}]  # one job, N targets
    config["scrape_configs"] = [job]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    port, log = free_port(), tmp_path / "prometheus.log"
    process = subprocess.Popen(
        [prometheus, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        cwd=tmp_path, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    client = httpx.Client(timeout=10)

    def query(expr: str) -> list[dict]:
        body = client.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": expr}).json()
        assert body.get("status") == "success", body
        return body["data"]["result"]
    try:
        def evaluated() -> bool:
            assert process.poll() is None, "prometheus exited"
            return bool(query(f'count(up{{job="{JOB}"}} == 1) == {SHARDS}')
                        and query('count_over_time(ALERTS{alertname="AwsCostSpike", alertstate="firing"}[1m]) >= 3'))

        _wait("Prometheus to scrape the three shards and evaluate the rules", evaluated, TIMEOUT, [log])
        firing = query('ALERTS{alertname="AwsCostSpike", alertstate="firing"}')
        assert len(firing) == 1, firing
        # every other alert once per account too: the shards' series never add up to a second one
        assert query('count without (instance) (ALERTS{alertstate="firing"}) > 1') == []
        # no AWS series from two targets: without the instance label (its name kept), each is still one series
        assert query('count without (instance) (label_replace({__name__=~"aws_.+", __name__!~"aws_exporter_.+"}, '
                     '"name", "$1", "__name__", "(.+)")) > 1') == []
        assert query('count(count by (account_id) (aws_account_info))')[0]["value"][1] == str(
            len({v for _, labels, _ in aws_series(expositions["whole"]) for k, v in labels if k == "account_id"}))
    finally:
        client.close()
        _stop(process)
        for server, _ in served:
            server.shutdown()
