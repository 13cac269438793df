"""The exporter's lifecycle: config reload (POST /-/reload, SIGHUP) against a Cost Explorer stand-in (STS is
moto's), readiness and liveness, the listen backlog, and clients that hang up mid-answer."""

from __future__ import annotations

import datetime as dt
import errno
import logging
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from aws_ops_demo.cost_explorer import CostData, CostExplorerStandIn
from exporter import config as config_mod
from exporter.app import App
from exporter.collectors.base import Collected
from exporter.config import Account, parse
from exporter.fleet import Fleet
from exporter.lifecycle import Reloader, restart_required
from exporter.scheduler import Runner, Schedule
from exporter.server import Lifecycle, WebServer
from exporter.snapshot import SnapshotHolder
from exporter.telemetry import ConfigReloads
from tests.aws_helpers import account_doc, wait_for
from tests.conftest import ROOT, free_port, write_config
from tests.test_exporter_moto import samples

AS_OF = dt.date(2026, 6, 15)
SERVICES = ["Amazon EC2", "AWS Lambda", "Amazon S3"]


def ids(*numbers: int) -> list[str]:
    return [f"{n:012d}" for n in numbers]


@pytest.fixture
def ce(aws, monkeypatch) -> Iterator[CostExplorerStandIn]:
    stand_in = CostExplorerStandIn(CostData(ids(1, 2, 3, 4), SERVICES), today=AS_OF)
    with stand_in.serve() as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_COST_EXPLORER", endpoint)
        yield stand_in


def asked(stand_in: CostExplorerStandIn, account_id: str) -> int:
    """Cost Explorer requests for one account (each is filtered to its LINKED_ACCOUNT)."""
    return sum(1 for r in stand_in.billed() if r.get("Filter", {}).get("Dimensions", {}).get("Values") == [account_id])


def document(*accounts: dict[str, Any], **cost: Any) -> dict[str, Any]:
    return {"accounts": list(accounts), "collectors": {"cost": {"enabled": True, **cost}}, "aws": {"max_attempts": 1}}


class Clock:
    """Unix times 1000, 2000, 3000, … one per call: when each config load happened."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> float:
        self.calls += 1
        return 1000.0 * self.calls


def reload_metrics(app: App) -> tuple[float, float]:
    text = app.exposition.metrics()
    return (samples(text, "aws_exporter_config_last_reload_successful")[()],
            samples(text, "aws_exporter_config_last_reload_success_timestamp_seconds")[()])


@contextmanager
def serving(app: App, path: Path, lifecycle: bool = True) -> Iterator[httpx.Client]:
    reloader = Reloader(app, lambda: config_mod.load(path), lambda c: list(c.collectors.enabled()))

    def reload() -> tuple[bool, str]:
        outcome = reloader.reload("http")
        return outcome.ok, outcome.message

    server = WebServer("127.0.0.1", 0, lambda: app.exposition, lambda: app.holder.current,
                       lifecycle=Lifecycle(reload=reload if lifecycle else None, reloads=app.reloads.view))
    server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=30) as http:
            yield http
    finally:
        server.stop()


def cost_by_account(app: App) -> dict[tuple[str, str], dict[tuple, float]]:
    """(account, project) → its aws_cost_usd samples by the other labels."""
    out: dict[tuple[str, str], dict[tuple, float]] = {}
    for labels, value in samples(app.exposition.metrics(), "aws_cost_usd").items():
        d = dict(labels)
        key = (d.pop("account"), d.pop("project"))
        out.setdefault(key, {})[tuple(sorted(d.items()))] = value
    return out


# ------------------------------------------------------------------------------------------- reload


def test_a_good_reload_adds_and_removes_accounts_and_keeps_the_others_without_asking_aws_again(ce, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    path = write_config(tmp_path, document(account_doc(1), account_doc(2), account_doc(3)))
    app = App.build(config_mod.load(path), process_metrics=False, as_of=AS_OF, reloads=ConfigReloads(Clock()))
    app.collect_once(AS_OF)
    before = {a: app.holder.current.result("cost", a) for a in ids(1, 2, 3)}
    costs = cost_by_account(app)
    requests_before, billed_before = app.clients.stats.view().requests, len(ce.billed())
    assert reload_metrics(app) == (1.0, 1000.0)

    # acct-3 leaves, acct-4 joins, acct-2 gets another name and project
    write_config(tmp_path, document(account_doc(1), account_doc(2, name="billing", project="finance"),
                                    account_doc(4)))
    with serving(app, path) as http:
        answer = http.post("/-/reload")
    assert answer.status_code == 200, answer.text
    assert "3 accounts (1 added, 1 removed)" in answer.text

    snapshot = app.holder.current
    assert [a.id for a in snapshot.accounts] == ids(1, 2, 4)
    # no gap, no re-fetch: the accounts that stay keep their results, nothing was asked of AWS (nor STS)
    assert snapshot.result("cost", ids(1)[0]) == before[ids(1)[0]]
    assert snapshot.result("cost", ids(2)[0]).last_success == before[ids(2)[0]].last_success
    assert app.clients.stats.view().requests == requests_before and len(ce.billed()) == billed_before
    # the exposition labels them from the new account list: the same values under the new name
    after = cost_by_account(app)
    assert after[("acct-1", "proj-1")] == costs[("acct-1", "proj-1")] != {}
    assert after[("billing", "finance")] == costs[("acct-2", "proj-0")] != {}
    assert not any(name in ("acct-2", "acct-3") for name, _ in after)
    up = samples(app.exposition.metrics(), "aws_exporter_collector_up")
    assert {dict(k)["account"] for k in up} == {"acct-1", "billing"}  # acct-4: not collected yet
    info = samples(app.exposition.metrics(), "aws_account_info")
    assert {(dict(k)["account"], dict(k)["project"]) for k in info} == {
        ("acct-1", "proj-1"), ("billing", "finance"), ("acct-4", "proj-0")}
    assert reload_metrics(app) == (1.0, 2000.0)
    (line,) = [r for r in caplog.records if "event=config_reloaded" in r.getMessage()]
    assert "trigger=http" in line.getMessage() and "added=1 removed=1" in line.getMessage()

    # the next pass collects the new account
    app.collect_once(AS_OF)
    assert asked(ce, ids(4)[0]) > 0 and app.holder.current.result("cost", ids(4)[0]).up
    assert asked(ce, ids(3)[0]) == asked(ce, ids(1)[0]) // 2  # acct-3 was asked once, acct-1 twice


def test_a_new_external_id_assumes_that_role_again_and_only_that_one(ce, tmp_path):
    path = write_config(tmp_path, document(account_doc(1, external_id="before"), account_doc(2)))
    app = App.build(config_mod.load(path), process_metrics=False, as_of=AS_OF)
    app.collect_once(AS_OF)
    assumed = app.clients.stats.requests_for("sts", "AssumeRole")
    app.reload(parse(document(account_doc(1, external_id="after"), account_doc(2))))
    app.collect_once(AS_OF)
    assert app.clients.stats.requests_for("sts", "AssumeRole") == assumed + 1
    assert all(app.holder.current.result("cost", a).up for a in ids(1, 2))


def test_a_bad_config_keeps_the_running_one_and_says_why(ce, tmp_path, caplog):
    path = write_config(tmp_path, document(account_doc(1), account_doc(2)))
    app = App.build(config_mod.load(path), process_metrics=False, as_of=AS_OF, reloads=ConfigReloads(Clock()))
    app.collect_once(AS_OF)
    metrics_before = samples(app.exposition.metrics(), "aws_cost_usd")
    with serving(app, path) as http:
        write_config(tmp_path, document(account_doc(1, role_arn="arn:aws:iam::1:user/x"), account_doc(3),
                                        intervall="1h"))
        bad = http.post("/-/reload")
        assert bad.status_code == 500
        assert "accounts[0].role_arn: not an IAM role ARN" in bad.text and "collectors.cost.intervall" in bad.text
        assert reload_metrics(app) == (0.0, 1000.0)  # failed; the config in use is still the one of t=1000
        path.write_text("accounts: [\n")
        assert http.post("/-/reload").status_code == 500 and reload_metrics(app) == (0.0, 1000.0)
        assert [a.id for a in app.holder.current.accounts] == ids(1, 2)
        assert samples(app.exposition.metrics(), "aws_cost_usd") == metrics_before

        write_config(tmp_path, document(account_doc(1), account_doc(2), account_doc(3)))
        good = http.post("/-/reload")
    assert good.status_code == 200 and reload_metrics(app) == (1.0, 2000.0)
    assert [a.id for a in app.holder.current.accounts] == ids(1, 2, 3)
    failures = [r for r in caplog.records if "event=config_reload_failed" in r.getMessage()]
    assert len(failures) == 2 and all(r.exc_info is None and "\n" not in r.getMessage() for r in failures)


def test_reload_needs_the_lifecycle_flag_and_a_post(aws, tmp_path):
    path = write_config(tmp_path, document(account_doc(1)))
    app = App.build(config_mod.load(path), process_metrics=False)
    write_config(tmp_path, document(account_doc(1), account_doc(2)))
    with serving(app, path, lifecycle=False) as http:
        refused = http.post("/-/reload")
        get = http.get("/-/reload")
    assert refused.status_code == 403 and "Lifecycle API is not enabled" in refused.text
    assert "--web.enable-lifecycle" in refused.text
    assert get.status_code == 405 and get.headers["Allow"] == "POST, PUT"
    assert [a.id for a in app.holder.current.accounts] == ids(1)
    assert reload_metrics(app)[0] == 1.0


def test_changed_collector_settings_take_effect_and_a_collector_turned_off_leaves(ce, tmp_path):
    path = write_config(tmp_path, document(account_doc(1), account_doc(2)))
    app = App.build(config_mod.load(path), process_metrics=False, as_of=AS_OF)
    app.collect_once(AS_OF)
    collector = app.collectors[0]

    # a new interval only: the same collector (and its state), the new interval served
    done = app.reload(parse(document(account_doc(1), account_doc(2), interval="1h")))
    assert app.collectors[0] is collector and collector.interval_seconds == 3600 and done.recollect == ()
    assert samples(app.exposition.metrics(), "aws_exporter_collector_interval_seconds") == {
        (("collector", "cost"),): 3600.0}

    # another metric: a new collector, collecting at once (the schedule runs it), with the new settings
    done = app.reload(parse(document(account_doc(1), account_doc(2), interval="1h", metric="UnblendedCost")))
    assert app.collectors[0] is not collector and done.recollect == ("cost",)
    billed = len(ce.billed())
    app.collect_once(AS_OF)
    assert {m for r in ce.billed()[billed:] for m in r["Metrics"]} == {"UnblendedCost"}

    # turned off: its state leaves the snapshot, /snapshot and /metrics
    done = app.reload(parse({"accounts": [account_doc(1), account_doc(2)], "collectors": {"cost": {"enabled": False}}}))
    assert app.collectors == [] and done.stopped == ("cost",)
    assert "cost" not in app.holder.current.collectors
    assert samples(app.exposition.metrics(), "aws_cost_usd") == {}
    assert b'"cost":{"run"' not in app.exposition.snapshot_json()


def test_what_needs_a_restart_is_named():
    old = parse(document(account_doc(1)))
    new = parse({**document(account_doc(1)), "aws": {"read_timeout": "5s", "region": "eu-west-1"},
                 "web": {"listen_address": ":9999"}})
    assert restart_required(old, new) == ["aws.region", "aws.max_attempts", "aws.read_timeout", "web.listen_address"]
    assert restart_required(old, parse(document(account_doc(1), account_doc(2)))) == []


class Counting:
    """A collector that counts its accounts collected; ``gate``: each collection waits for it."""

    fleet_wide = False
    retry_interval_seconds = None

    def __init__(self, name: str, interval: float, gate: threading.Event | None = None):
        self.name, self.interval_seconds, self.gate = name, interval, gate
        self.calls = 0
        self.started = threading.Event()

    def collect_account(self, account: Account, as_of: dt.date, previous: Any) -> Collected:
        self.started.set()
        if self.gate is not None:
            self.gate.wait(30)
        self.calls += 1
        return Collected(records=())

    def collect_fleet(self, accounts: Any, as_of: dt.date, previous: Any) -> None:
        return None


def test_the_schedule_follows_a_reload():
    account = Account(id=ids(1)[0], name="acct-1", project="p", role_arn="arn:aws:iam::000000000001:role/x")
    holder = SnapshotHolder()
    runner = Runner(Fleet([account]), holder, today=lambda: AS_OF)
    gate = threading.Event()
    kept, removed, busy = Counting("kept", 3600), Counting("removed", 3600), Counting("busy", 3600, gate)
    schedule = Schedule(runner, [kept, removed, busy], max_collectors=5)
    schedule.start()
    try:
        wait_for(lambda: kept.calls == 1 and removed.calls == 1 and busy.started.is_set())
        first = schedule.next_runs()["kept"]

        # a shorter interval counts from the last pass; the busy collector changes during its pass; one leaves,
        # one joins
        kept.interval_seconds = 600
        replacement, joined = Counting("busy", 3600), Counting("joined", 3600)
        schedule.reconfigure([kept, replacement, joined], changed={"busy"}, discovery=None)
        assert schedule.next_runs()["kept"] == first - dt.timedelta(seconds=3600 - 600)
        assert "removed" not in schedule.next_runs() and schedule.scheduler.get_job("removed") is None
        wait_for(lambda: joined.calls == 1)
        assert replacement.calls == 0  # waits for the running pass
        gate.set()
        wait_for(lambda: replacement.calls == 1)  # then collects once more, with the new settings
        assert busy.calls == 1 and removed.calls == 1 and kept.calls == 1
    finally:
        gate.set()
        schedule.shutdown()


def test_organization_mode_reload_merges_the_config_again_with_the_discovered_accounts(aws):
    from tests.test_discovery import Organization, org_config

    org = Organization()
    web = org.account("web-prod", org.prod, project="web")
    lab = org.account("lab", org.sandbox, project="lab")
    app = App.build(parse(org_config()), process_metrics=False)
    app.collect_once()
    asked_before = app.clients.stats.requests_for("organizations")
    served = {a.id: a for a in app.holder.current.accounts}
    assert served[web].name == "web-prod" and served[lab].project == "lab"

    override = {"id": web, "name": "web", "project": "storefront", "role_arn": f"arn:aws:iam::{web}:role/custom"}
    app.reload(parse({**org_config(), "accounts": [override]}))
    served = {a.id: a for a in app.holder.current.accounts}
    assert (served[web].name, served[web].project, served[web].source, served[web].ou) == (
        "web", "storefront", "config", org.prod)
    assert served[lab].name == "lab" and served[lab].source == "organizations"
    assert app.clients.stats.requests_for("organizations") == asked_before  # merged from what it knew
    # a new scope needs a discovery to tell who is in it
    assert not app.discovery.reconfigure(parse(org_config(include_ous=[org.prod])).organization, [])


# ------------------------------------------------------------------------------ readiness, liveness


def test_ready_only_after_every_collector_finished_its_first_pass(ce, tmp_path):
    path = write_config(tmp_path, document(account_doc(1), account_doc(2)))
    app = App.build(config_mod.load(path), process_metrics=False, as_of=AS_OF)
    with serving(app, path) as http:
        waiting = http.get("/-/ready")
        healthy, healthz = http.get("/-/healthy"), http.get("/healthz")
        app.collect_once(AS_OF)
        ready = http.get("/-/ready")
        # a reload that turns on another collector does not take a serving exporter out of rotation
        app.reload(parse({**document(account_doc(1), account_doc(2)), "collectors": {
            "cost": {"enabled": True}, "health": {"enabled": True}}}))
        still = http.get("/-/ready")
    assert waiting.status_code == 503 and "cost" in waiting.text
    assert healthy.status_code == 200 and healthz.text == "ok\n"
    assert ready.status_code == 200 and still.status_code == 200


# --------------------------------------------------------------------------------- serving, hang-ups


class _Big:
    """An exposition stand-in with a body larger than any socket buffer."""

    intervals: dict[str, float] = {}
    body = b"# HELP x y\n" + b"x 1\n" * (16 * 1024 * 1024)

    def metrics_body(self, gzipped: bool = False) -> bytes:
        return self.body


def test_the_listen_backlog_holds_many_connections_at_once():
    big = _Big()
    server = WebServer("127.0.0.1", 0, lambda: big, SnapshotHolder().current.__class__.empty)
    assert server.httpd.request_queue_size >= 128
    clients = []
    try:
        # The server does not accept yet: the kernel completes only as many handshakes as the backlog holds.
        for _ in range(150):
            s = socket.socket()
            s.setblocking(False)
            assert s.connect_ex(("127.0.0.1", server.port)) in (0, errno.EINPROGRESS)
            clients.append(s)
        pending, failed = set(clients), set()
        deadline = time.monotonic() + 20  # a bound on the wait, not a speed asserted
        while pending and time.monotonic() < deadline:
            _, writable, _ = select.select([], list(pending), [], 0.5)
            failed |= {s for s in writable if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0}
            pending -= set(writable)
        assert not pending and not failed, f"{len(pending | failed)} of 150 connections not established"
        server.start()
        for s in clients:
            s.setblocking(True)
            s.settimeout(30)
            s.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answers = [s.makefile("rb").readline() for s in clients]
        assert answers == [b"HTTP/1.1 200 OK\r\n"] * 150
    finally:
        for s in clients:
            s.close()
        if not server.thread.is_alive():
            server.start()  # stop() waits for the serving loop
        server.stop()


def test_a_client_that_hangs_up_mid_answer_gets_one_log_line_and_no_traceback(caplog, capfd):
    caplog.set_level(logging.DEBUG, logger="exporter.server")
    big = _Big()
    server = WebServer("127.0.0.1", 0, lambda: big, SnapshotHolder().current.__class__.empty)
    server.start()
    try:
        s = socket.create_connection(("127.0.0.1", server.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(1024)  # the answer has begun
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # hang up: RST
        s.close()
        lines = wait_for(lambda: [r for r in caplog.records if "event=client_hung_up" in r.getMessage()])
        with httpx.Client() as http:  # still serving
            assert http.get(f"http://127.0.0.1:{server.port}/-/healthy").status_code == 200
    finally:
        server.stop()
    assert len(lines) == 1 and "path=/metrics" in lines[0].getMessage() and lines[0].exc_info is None
    assert lines[0].getMessage().split("error=")[1] in ("BrokenPipeError", "ConnectionResetError")
    assert "Traceback" not in capfd.readouterr().err


# ------------------------------------------------------------------------------------- the process


def test_sighup_reloads_a_serving_exporter_and_a_bad_file_keeps_it_running(ce, aws, tmp_path):
    port = free_port()
    path = write_config(tmp_path, document(account_doc(1), account_doc(2)))
    env = {**os.environ, **aws.env(), "PYTHONPATH": str(ROOT),
           "AWS_ENDPOINT_URL_COST_EXPLORER": os.environ["AWS_ENDPOINT_URL_COST_EXPLORER"]}
    log = tmp_path / "exporter.log"
    proc = subprocess.Popen([sys.executable, "-m", "exporter", "--config", str(path), "--web.listen-address",
                             f"127.0.0.1:{port}", "--web.telemetry-path", "/prom"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    base = f"http://127.0.0.1:{port}"

    def metric(name: str) -> dict[tuple, float]:
        assert proc.poll() is None, log.read_text()
        try:
            return samples(httpx.get(f"{base}/prom", timeout=10).text, name)
        except httpx.TransportError:
            return {}

    try:
        wait_for(lambda: httpx.get(f"{base}/-/ready", timeout=10).status_code == 200
                 if metric("aws_exporter_collector_up") else False, timeout=90)
        assert metric("aws_exporter_config_last_reload_successful") == {(): 1.0}
        loaded = metric("aws_exporter_config_last_reload_success_timestamp_seconds")[()]

        write_config(tmp_path, document(account_doc(1), account_doc(3)))
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: {dict(k)["account"] for k in metric("aws_account_info")} == {"acct-1", "acct-3"})
        assert metric("aws_exporter_config_last_reload_successful") == {(): 1.0}
        reloaded = metric("aws_exporter_config_last_reload_success_timestamp_seconds")[()]
        assert reloaded >= loaded

        path.write_text("collectors: {cost: {enabled: maybe}}\n")
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: metric("aws_exporter_config_last_reload_successful") == {(): 0.0})
        assert metric("aws_exporter_config_last_reload_success_timestamp_seconds")[()] == reloaded
        assert {dict(k)["account"] for k in metric("aws_account_info")} == {"acct-1", "acct-3"}
        assert httpx.post(f"{base}/-/reload", timeout=10).status_code == 403  # no --web.enable-lifecycle
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = log.read_text()
    assert "event=config_reloaded trigger=sighup" in text and "event=config_reload_failed trigger=sighup" in text
    assert "Traceback" not in text and proc.returncode == 0


@pytest.mark.parametrize("path,message", [("metrics", "not a URL path"), ("/snapshot", "another endpoint's path")])
def test_a_bad_telemetry_path_is_refused(tmp_path, path, message):
    config = write_config(tmp_path, document(account_doc(1)))
    proc = subprocess.run([sys.executable, "-m", "exporter", "--config", str(config), "--web.telemetry-path", path],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2 and message in proc.stderr
