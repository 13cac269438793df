"""Does the daily report ever post a lie? Scenario days × model answers, through the whole reporter path.

Each scenario day (bench/report_scenarios.py: spike, overrun, health, quiet, restated, context, failing,
first_of_month) gets faithful answers in four styles and lies made by mutating them (bench/report_answers.py),
plus the issue's three false posts on the spike day. Every answer is served by the local OpenAI-compatible
stand-in (tests/test_reporter_fakes.py) to the real reporter (LlmClient → claims check → guard → text), and
the post is read back:

* a lie is **posted** when its wording is in the post (or, for an item it leaves out, the item is missing);
* a faithful answer is **rejected** when the post is the deterministic fallback (its dropped claims are
  counted apart);
* an **actionable item missing** is a spike, overrun, open issue or failure whose names are on no line of
  the post.

    python bench/report_eval.py [--scenario NAME ...] [--style NAME ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report_answers import STYLES, Claims, Lie, faithful, lies, quoted_posts  # noqa: E402
from bench.report_forecast_answers import forecast_claims, forecast_lies  # noqa: E402
from bench.report_scenarios import SCENARIOS, Scenario  # noqa: E402
from exporter.config.reporter import LlmSettings, ReporterSettings  # noqa: E402
from exporter.reporter.compose import Message  # noqa: E402
from exporter.reporter.factlist import Fact  # noqa: E402
from exporter.reporter.llm import LlmClient  # noqa: E402
from exporter.reporter.runner import Reporter  # noqa: E402
from exporter.reporter.summary import Facts, build_facts  # noqa: E402
from tests.test_reporter_fakes import fake_llm  # noqa: E402

FAITHFUL = "faithful paraphrase"
GRAFANA = "http://grafana.example:3000"


@dataclass
class Row:
    answers: int = 0
    posted: int = 0  # lies: the lie is in the post; faithful: the model's text was posted
    fell_back: int = 0
    claims_dropped: int = 0
    missing: int = 0  # actionable items missing from the post
    reasons: Counter = field(default_factory=Counter)


def _required(fact: Fact) -> tuple[str, ...]:
    e = fact.entity
    if fact.kind == "spike":
        return e["account"], e["service"]
    if fact.kind in ("budget", "forecast"):
        return (e.get("project") or e.get("account") or e.get("scope", ""),)
    if fact.kind.startswith("health_"):
        return e["account"], e["event_type_code"]
    if fact.kind == "anomaly":
        return e["account"], e["anomaly_id"]
    if fact.kind == "collector_failing":
        return e["collector"], e["account"]
    return (e.get("exporter", ""),)


def present(fact: Fact, text: str) -> bool:
    names = [f"`{n}`" for n in _required(fact)]
    return any(all(n in line for n in names) for line in text.split("\n"))


def missing_items(facts: Facts, message: Message) -> list[str]:
    return [f.id for f in facts.items if f.actionable and not present(f, message.text)]


def answer_json(claims: Claims) -> str:
    return json.dumps({"claims": [{"facts": ids, "text": text} for ids, text in claims]}, ensure_ascii=False)


class Evaluation:
    def __init__(self) -> None:
        self.rows: dict[str, Row] = defaultdict(Row)
        self.failures: list[str] = []  # what went wrong, for the test to show

    def record(self, kind: str, scenario: str, style: str, facts: Facts, message: Message, dropped: int,
               lie: Lie | None) -> None:
        row = self.rows[kind]
        row.answers += 1
        row.claims_dropped += dropped
        if message.deterministic:
            row.fell_back += 1
            row.reasons[message.reason or ""] += 1
        gone = missing_items(facts, message)
        row.missing += len(gone)
        where = f"{scenario}/{style}"
        if gone:
            self.failures.append(f"{where} {kind}: missing {gone}")
        if lie is None:
            row.posted += not message.deterministic
            if message.deterministic:
                self.failures.append(f"{where} faithful answer rejected: {message.reason}")
            return
        hidden = bool(lie.hidden) and not message.deterministic and not present(facts.item(lie.hidden), message.text)
        if (lie.marker and lie.marker in message.text) or hidden:
            row.posted += 1
            self.failures.append(f"{where} {kind} posted: {lie.marker or lie.hidden}")

    def table(self) -> str:
        lines = ["| answers | count | lie posted / faithful posted | fell back | claims dropped | actionable items missing |",
                 "| --- | ---: | ---: | ---: | ---: | ---: |"]
        total = Row()
        for kind, row in sorted(self.rows.items(), key=lambda kv: (kv[0] != FAITHFUL, kv[0])):
            lines.append(f"| {kind} | {row.answers} | {row.posted} | {row.fell_back} | {row.claims_dropped} | "
                         f"{row.missing} |")
            if kind != FAITHFUL:
                total.answers += row.answers
                total.posted += row.posted
                total.fell_back += row.fell_back
                total.claims_dropped += row.claims_dropped
            total.missing += row.missing
        f = self.rows[FAITHFUL]
        lines.append(f"| **all lies** | {total.answers} | **{total.posted}** | {total.fell_back} | "
                     f"{total.claims_dropped} | |")
        lines.append("")
        rejected = f.fell_back / f.answers * 100 if f.answers else 0.0
        lines.append(f"Lies posted: **{total.posted} of {total.answers}** (target 0). Faithful answers rejected: "
                     f"**{f.fell_back} of {f.answers} ({rejected:.1f}%)** (target < 5%), faithful claims dropped: "
                     f"{f.claims_dropped}. Actionable items missing from the posts: **{total.missing}** (target 0).")
        return "\n".join(lines)


def _reporter(scenario: Scenario, style: str, url: str) -> Reporter:
    llm = LlmSettings(base_url=f"{url}/v1", model="bench", max_attempts=1, timeout_seconds=10)
    settings = ReporterSettings(timezone="Asia/Seoul", grafana_url=GRAFANA, llm=llm,
                                language="ko" if style == "korean" else "en")
    return Reporter(settings, scenario.store, project_budgets=scenario.project_budgets,
                    account_budgets=scenario.account_budgets, llm=LlmClient(llm, sleep=lambda s: None),
                    now=lambda: scenario.now)


def run(scenarios: Iterable[str] = tuple(SCENARIOS), styles: Sequence[str] = STYLES) -> Evaluation:
    evaluation = Evaluation()
    logger = logging.getLogger("exporter")
    level = logger.level
    logger.setLevel(logging.ERROR)  # every dropped claim is a warning: hundreds of them, by design
    try:
        _run(evaluation, scenarios, styles)
    finally:
        logger.setLevel(level)
    return evaluation


def _run(evaluation: Evaluation, scenarios: Iterable[str], styles: Sequence[str]) -> None:
    with fake_llm() as gateway:
        for name in scenarios:
            scenario = SCENARIOS[name]()
            for n, style in enumerate(styles):
                reporter = _reporter(scenario, style, gateway.url)
                facts = build_facts(scenario.store, scenario.day, scenario.now, reporter.settings.summary,
                                    scenario.project_budgets, scenario.account_budgets, tz=reporter.settings.tz)
                claims = faithful(facts, style) + forecast_claims(facts, style)

                def serve(answer: str, kind: str, lie: Lie | None = None) -> None:
                    gateway.default = answer
                    dropped = reporter.metrics.registry.get_sample_value("aws_ops_reporter_claims_total",
                                                                         {"result": "dropped"}) or 0
                    message = reporter.compose(scenario.day)
                    dropped = (reporter.metrics.registry.get_sample_value("aws_ops_reporter_claims_total",
                                                                          {"result": "dropped"}) or 0) - dropped
                    evaluation.record(kind, name, style, facts, message, int(dropped), lie)

                serve(answer_json(claims), FAITHFUL)
                for lie in lies(facts, claims, n):
                    serve(answer_json(lie.claims), lie.kind, lie)
                for kind, new, text in forecast_lies(facts, claims, n):
                    serve(answer_json(new), kind, Lie(kind, new, text))
                if name == "spike" and style == "plain":
                    for lie in quoted_posts(facts, claims):
                        serve(answer_json(lie.claims) if lie.claims else lie.marker, lie.kind, lie)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    p.add_argument("--style", action="append", choices=STYLES)
    p.add_argument("--verbose", action="store_true", help="list every lie posted, answer rejected, item missing")
    args = p.parse_args(argv)
    evaluation = run(args.scenario or tuple(SCENARIOS), args.style or STYLES)
    print(evaluation.table())
    if args.verbose:
        print("\n".join(evaluation.failures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
