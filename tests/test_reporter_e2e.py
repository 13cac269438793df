"""End to end: the demo exporter (the real CLI, pinned ``--as-of``) → the reporter (the real CLI, ``--once``) with a
local OpenAI-compatible stand-in and a local chat webhook: the post names the demo spike's driver usage type
(from the demo's Cost Explorer stand-in) and its open Cost Anomaly Detection anomaly, whether the model's claims
are posted or rejected (the deterministic summary)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import datetime as dt
from pathlib import Path

from aws_ops_demo.config import config_document
from bench.report_answers import faithful
from exporter.config import parse
from exporter.config.reporter import ReporterSettings
from exporter.reporter.runner import Reporter
from exporter.reporter.store import Store
from exporter.reporter.summary import build_facts
from tests.conftest import ROOT, write_config
from tests.test_demo import demo  # noqa: F401  (the module's running demo exporter)
from tests.test_reporter_fakes import chat_config, fake_llm, receivers

DAY = dt.date(2026, 3, 30)  # the day before the demo's --as-of
DRIVER = "`USE1-Train:ml.p3.2xlarge`"
ANOMALY = "`demo-sagemaker-training`"


def _config(tmp_path: Path, exporter_url: str, llm_url: str, recv) -> tuple[Path, dict[str, str]]:
    chat, env = chat_config(recv)
    document = config_document()
    document["reporter"] = {"exporter_urls": [exporter_url], "database": str(tmp_path / "h.db"), "chat": chat,
                            "llm": {"base_url": f"{llm_url}/v1", "model": "ops-summary", "api_key_env": "E2E_AI_KEY"}}
    return write_config(tmp_path, document), {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
                                              **env, "E2E_AI_KEY": "sk-test", "PYTHONPATH": str(ROOT)}


def _once(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "exporter.reporter.cli", "--config", str(config), "--once",
                           "--date", DAY.isoformat()], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)


def _faithful_answer(exporter_url: str) -> str:
    """What a careful model answers for the demo's day: the bench's faithful claims over the same facts."""
    config = parse(config_document(), source="<demo>")
    store = Store.open(":memory:")
    store.upsert_accounts((a.id, a.name, a.project) for a in config.accounts)
    reporter = Reporter(ReporterSettings(exporter_urls=(exporter_url,)), store,
                        project_budgets=config.budgets.projects, cost_metric=config.collectors.cost.metric)
    assert reporter.pull()
    settings = ReporterSettings()
    facts = build_facts(store, DAY, reporter.now(), settings.summary, config.budgets.projects,
                        metric=config.collectors.cost.metric, tz=settings.tz)
    claims = faithful(facts, "plain")
    return json.dumps({"claims": [{"facts": ids, "text": text} for ids, text in claims]})


def _post(recv) -> str:
    assert len(recv["webhook"].bodies) == 1
    return json.dumps(recv["webhook"].bodies[0], ensure_ascii=False)


def test_the_models_checked_post_names_the_spikes_driver_and_the_open_anomaly(demo, tmp_path):  # noqa: F811
    base, _ = demo
    with fake_llm(default=_faithful_answer(base)) as llm, receivers("webhook") as recv:
        config, env = _config(tmp_path, base, llm.url, recv)
        done = _once(config, env)
        assert done.returncode == 0, done.stderr
        post = _post(recv)
    assert "Deterministic summary" not in post, post[:600]
    assert len(llm.requests) >= 1
    assert DRIVER in post and ANOMALY in post


def test_a_rejected_answer_falls_back_to_a_deterministic_post_that_names_them_too(demo, tmp_path):  # noqa: F811
    base, _ = demo
    with fake_llm(default="All is well, nothing to report.") as llm, receivers("webhook") as recv:
        config, env = _config(tmp_path, base, llm.url, recv)
        done = _once(config, env)
        assert done.returncode == 0, done.stderr
        post = _post(recv)
    assert "Deterministic summary" in post
    assert DRIVER in post and ANOMALY in post
