"""Claims, not free text: the model answers with statements that each name the facts they state, and every one
is checked against those facts before anything is posted.

The answer is JSON (``{"claims": [{"facts": ["spike:data-prod:Amazon SageMaker"], "text": "…"}]}``; a fenced
```json block is read too). A claim is **dropped** when, against the facts it names (:mod:`factlist`):

* it names no fact, or an id that is not one;
* its text has a URL, a mention or markup, fails the grounding guard (:mod:`guard`: unknown names, figures
  found nowhere in the facts, figures from fenced AWS text), or copies six words in a row from AWS text;
* it names an account, project, service, region or event that is not an entity of a fact it cites
  (misattribution);
* a figure is not a value of a cited fact in the same unit after rounding to the decimals shown (a
  percentage is a percentage of that fact, a "$" figure one of its amounts; explicit signs must agree), of a
  fact about the accounts, projects and services named in the figure's clause (citing one more fact does not
  make another account's figure this one's);
* a figure is a value only of a cited fact other than the one its words name (figures swapped between
  co-cited facts), or a causal phrase names a cause that is not a cited driver, anomaly or context fact
  (:mod:`claimbind` has the rules);
* a period it names (a date, "last month", "month to date", "week over week", "mean" …) does not fit the
  period of the value nearest to it in its clause, or, in a clause without figures, what the cited facts are
  about (the right number for the wrong day, month to date called last month, and no day-over-day figures);
* a direction ("rose", "fell") does not fit the sign of the value nearest to it, or of the cited facts;
* it passes a record type off as another: a credit as usage or a cost, the Usage-only amount as the total, the
  all-record-types total as usage (:func:`exporter.reporter.recordtypes.mislabelled` says exactly what);
* it says "over budget" / "within budget" / "no data" against the cited budget's state, calls an open Health
  event or a failing collector or exporter resolved, or reassures ("nothing unusual", "no action needed", "can be ignored") on a day whose facts
  hold something to act on (only ``quiet:yesterday`` may be cited for that, and it exists only on a quiet day).

The whole answer **falls back** to the deterministic summary (:func:`review`'s ``fallback``) when it cannot be
read (``unparseable``), holds no claim (``no_claims``), more than :data:`MAX_DROPPED` claims or more than a
third of them were dropped (``claims_rejected``: a model that gets that much wrong is not trusted with the
rest), or an actionable fact (a spike, an overrun, an open issue, a failure) is cited by no remaining claim
(``actionable_missing``: the post would hide something to act on).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from exporter.reporter import claimbind, claimtext, guard, recordtypes
from exporter.reporter.claimtext import Figure, Marker, Reading
from exporter.reporter.factlist import Fact, Span, Value
from exporter.reporter.summary import Facts

log = logging.getLogger(__name__)
MAX_CLAIMS = 40
MAX_CLAIM_CHARS = 600
MAX_DROPPED = 2
COPY_WORDS = 6
FENCED_JSON_RE = re.compile(r"```(?:json|JSON)?\s*\n(.*?)\n?```", re.DOTALL)
WORD_RE = re.compile(r"\w+")


class AnswerError(Exception):
    """The answer is not the JSON asked for; ``reason`` is a bounded label."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class Claim:
    facts: tuple[str, ...]
    text: str


@dataclass(frozen=True, slots=True)
class Review:
    accepted: tuple[Claim, ...]
    rejected: tuple[tuple[Claim, str], ...]  # the claim and why
    fallback: str | None  # unparseable | no_claims | claims_rejected | actionable_missing, or None
    missing: tuple[str, ...] = ()  # actionable fact ids no accepted claim cites


def parse(answer: str) -> list[Claim]:
    """The claims of an answer: JSON, or JSON in a fenced block. An item that is no claim is kept as an empty one
    (it is dropped by the check, and counts as dropped)."""
    text = answer.strip()
    try:
        data: Any = json.loads(text)
    except ValueError:
        fenced = FENCED_JSON_RE.search(text)
        if not fenced:
            raise AnswerError("unparseable") from None
        try:
            data = json.loads(fenced.group(1))
        except ValueError:
            raise AnswerError("unparseable") from None
    items = data.get("claims") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise AnswerError("unparseable")
    claims = []
    for item in items[:MAX_CLAIMS]:
        ids = item.get("facts", item.get("fact")) if isinstance(item, dict) else None
        ids = [ids] if isinstance(ids, str) else ids
        words = item.get("text") if isinstance(item, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or not isinstance(words, str):
            claims.append(Claim((), ""))
            continue
        claims.append(Claim(tuple(dict.fromkeys(i.strip() for i in ids)), words.strip()))
    return claims


def _matches(figure: Figure, value: Value) -> bool:
    if figure.sign and figure.sign != (1 if value.amount > 0 else -1 if value.amount < 0 else 0):
        return False
    quantum = Decimal(1).scaleb(-figure.places)
    try:
        return (abs(value.amount) / figure.scale).quantize(quantum, rounding=ROUND_HALF_UP) == figure.number
    except InvalidOperation:
        return False


UNIT_FITS = {"usd": {"usd"}, "pct": {"pct"}, "ratio": {"ratio"}, "days": {"days", "count"},
             "count": {"count", "days", "value"}, "hours": {"hours"}}


def _span_fits(marker: Marker, span: Span) -> bool:
    if marker.date is not None:
        return marker.date in (span.first, span.last)
    if marker.month is not None:
        return (span.first.year, span.first.month) == marker.month and span.kind != "day"
    return span.kind in marker.kinds


def _candidates(figure: Figure, cited: list[Fact]) -> list[tuple[Fact, Value]]:
    out = [(f, v) for f in cited for v in f.values if v.unit in UNIT_FITS[figure.unit] and _matches(figure, v)]
    if not out and figure.unit == "count" and figure.places == 0:
        # A year or a day of the month, written on its own ("2026", "15일"), of a period a cited fact covers.
        for f in cited:
            for span in f.all_spans():
                if figure.number in (span.first.year, span.last.year, span.first.day, span.last.day):
                    out.append((f, Value("date", figure.number, "count", (span,))))
    if not out and figure.unit == "days" and figure.places == 0:
        for f in cited:  # "15일" is also the 15th
            for span in f.all_spans():
                if figure.number in (span.first.day, span.last.day):
                    out.append((f, Value("date", figure.number, "days", (span,))))
    return out


def _direction_fits(direction: int, fact: Fact, value: Value | None) -> bool:
    if value is not None and value.signed:
        return (1 if value.amount > 0 else -1 if value.amount < 0 else 0) == direction
    return fact.direction == direction


def _names(text: str, reading: Reading, facts: Facts) -> set[str]:
    """Accounts, projects, services, regions and event codes the wording names."""
    named = {n for n in reading.backticked if n in facts.names}
    named |= {w for w in guard.KEBAB_RE.findall(text) if w in facts.names}
    for phrase in guard.AWS_PHRASE_RE.findall(text):
        if phrase.strip() not in guard.GENERIC_AWS:
            named.add(phrase.strip())
    return named


def _copied(text: str, aws_text: Iterable[str]) -> bool:
    words = [w.lower() for w in WORD_RE.findall(text)]
    grams = {tuple(words[i:i + COPY_WORDS]) for i in range(len(words) - COPY_WORDS + 1)}
    if not grams:
        return False
    for source in aws_text:
        src = [w.lower() for w in WORD_RE.findall(source)]
        if any(tuple(src[i:i + COPY_WORDS]) in grams for i in range(len(src) - COPY_WORDS + 1)):
            return True
    return False


def check(claim: Claim, facts: Facts) -> str | None:
    """Why ``claim`` does not state the facts it cites, or None when it does."""
    if not claim.text or not claim.facts:
        return "no facts cited" if claim.text else "not a claim"
    if len(claim.text) > MAX_CLAIM_CHARS:
        return "too long"
    cited = [facts.item(i) for i in claim.facts]
    unknown = [i for i, f in zip(claim.facts, cited) if f is None]
    if unknown:
        return f"unknown fact id {unknown[0]!r}"
    cited_facts = [f for f in cited if f is not None]
    reading = claimtext.read(claim.text, facts.names)
    outside = claimtext.BACKTICKS_RE.sub(lambda m: "" if m.group(1).strip() in facts.names else m.group(0), claim.text)
    if claimtext.URL_RE.search(outside) or claimtext.MENTION_RE.search(outside):
        return "a link, mention or markup"
    verdict = guard.check(claim.text, facts)
    if not verdict.ok:
        return verdict.problems[0]
    if _copied(claim.text, facts.aws_text.values()):
        return "copies AWS-originated text"
    return (_entities(claim, reading, facts, cited_facts) or _figures(claim, reading, facts, cited_facts)
            or _periods(reading, cited_facts) or _directions(reading, cited_facts) or _states(claim, cited_facts)
            or _times(reading, cited_facts) or _foreign_events(cited_facts)
            or recordtypes.mislabelled(reading, cited_facts, _candidates)
            or claimbind.misbound(claim.text, reading, cited_facts, _candidates, _span_fits)
            or claimbind.unknown_cause(claim.text, cited_facts))


def _foreign_events(cited: list[Fact]) -> str | None:
    """A Health event or CloudWatch series cited beside a spike, driver or mover of another account or service:
    context is a ``context_health`` / ``context_cloudwatch`` fact (same account and service), never a signal of
    elsewhere put next to the cost."""
    costs = {(f.entity.get("account"), f.entity.get("service")) for f in cited
             if f.kind in ("spike", "driver", "mover_week_over_week", "mover_month_over_month")}
    for f in cited:
        if f.kind in ("health_open", "health_upcoming", "context_health", "context_cloudwatch") and costs and not any(
                a == f.entity.get("account") and (not f.kind.startswith("context_") or s == f.entity.get("service"))
                for a, s in costs):
            what = "CloudWatch series" if f.kind == "context_cloudwatch" else "Health event"
            return f"cites the {what} {f.id!r} beside the cost of another account"
    return None


def _stated(fact: Fact, reading: Reading, named: set[str]) -> bool:
    """Whether the claim states something of ``fact``: one of its values, or (a fact without values: an event, a
    failing collector) a name of its own beyond the account. A fact cited only for its account's name is not."""
    if fact.values:
        return any(v.unit in UNIT_FITS[figure.unit] and _matches(figure, v) for figure in reading.figures
                   for v in fact.values)
    own = {v for k, v in fact.entity.items() if v and k not in FIGURE_SUBJECTS and k != "account_id"}
    return not own or bool(own & named)


def _entities(claim: Claim, reading: Reading, facts: Facts, cited: list[Fact]) -> str | None:
    """Every account, project, service, region or event the wording names is one of a cited fact the claim
    states (misattribution: another account's name, even with that account's fact cited beside)."""
    named = _names(claim.text, reading, facts)
    stated = [f for f in cited if _stated(f, reading, named)] or cited
    entities = set().union(*(f.names() | set(f.extra.get("members", ())) for f in stated))
    for name in sorted(named):
        if name in entities:
            continue
        if name.startswith(("Amazon ", "AWS ")) and any(e.startswith(name) or name.startswith(e) for e in entities):
            continue
        return f"names {name!r}, which no cited fact it states is about"
    return None


FIGURE_SUBJECTS = ("account", "project", "service")  # what a figure is the cost of


def _subjects(claim: Claim, facts: Facts) -> list[tuple[int, str]]:
    """(position, name) of every account, project and service the wording names."""
    subjects = {f.entity[k] for f in facts.items for k in FIGURE_SUBJECTS if f.entity.get(k)}
    subjects |= {m for f in facts.items for m in f.extra.get("members", ())}
    out = [(m.start(), m.group(1).strip()) for m in claimtext.BACKTICKS_RE.finditer(claim.text)
           if m.group(1).strip() in subjects]
    out += [(m.start(), m.group(0)) for m in guard.KEBAB_RE.finditer(claim.text) if m.group(0) in subjects]
    out += [(m.start(), m.group(0).strip()) for m in guard.AWS_PHRASE_RE.finditer(claim.text)
            if m.group(0).strip() not in guard.GENERIC_AWS]
    return out


def _about(fact: Fact, names: Iterable[str]) -> bool:
    own = fact.names() | set(fact.extra.get("members", ()))
    return all(n in own or (n.startswith(("Amazon ", "AWS ")) and any(e.startswith(n) for e in own)) for n in names)


def _figures(claim: Claim, reading: Reading, facts: Facts, cited: list[Fact]) -> str | None:
    """Every figure is a value of a cited fact about the accounts, projects and services its clause names."""
    subjects = _subjects(claim, facts)
    for figure in reading.figures:
        candidates = _candidates(figure, cited)
        if not candidates:
            return f"figure {figure.text!r} is no {figure.unit} value of the cited facts"
        low, high = claimtext.clause_of(reading, figure.start)
        named = {n for at, n in subjects if low <= at < high}
        if named and not any(_about(f, named) for f, _ in candidates):
            return f"figure {figure.text!r} is not a value of {', '.join(sorted(named))}"
    return None


def _fact_fits(marker: Marker, cited: list[Fact]) -> bool:
    """A period named in a clause without figures: what a cited fact is about (a date: its own day or times; a
    word: any of its periods)."""
    for f in cited:
        spans = f.spans + tuple(s for s in f.all_spans() if s.kind == "time")
        if marker.date is None:
            spans = f.all_spans()
        if any(_span_fits(marker, s) for s in spans):
            return True
    return False


def _periods(reading: Reading, cited: list[Fact]) -> str | None:
    bound: dict[int, list[Marker]] = {}
    for marker in reading.periods:
        figure = claimtext.nearest_figure(reading, marker.start, marker.end, whole_claim=False)
        if figure is None:
            if not _fact_fits(marker, cited):
                return f"{marker.word!r} is not the period of the cited facts"
            continue
        bound.setdefault(figure.start, []).append(marker)
    for figure in reading.figures:
        markers = bound.get(figure.start)
        if not markers:
            continue
        fits = [v for f, v in _candidates(figure, cited)
                if all(any(_span_fits(m, s) for s in (v.spans or f.all_spans())) for m in markers)]
        if not fits:
            return f"{figure.text!r} is not a figure for {', '.join(repr(m.word) for m in markers)}"
    return None


def _directions(reading: Reading, cited: list[Fact]) -> str | None:
    for position, direction in reading.directions:
        figure = claimtext.nearest_figure(reading, position, position + 1, whole_claim=False)
        word = "up" if direction > 0 else "down"
        if figure is None:
            if not any(_direction_fits(direction, f, None) for f in cited):
                return f"says {word}, against the cited facts"
            continue
        if not any(_direction_fits(direction, f, v) for f, v in _candidates(figure, cited)):
            return f"says {figure.text} is {word}, against the cited facts"
    return None


def _states(claim: Claim, cited: list[Fact]) -> str | None:
    text = claim.text
    budgets = [f for f in cited if f.kind in ("budget", "forecast")]  # a forecast's state: forecast_over_budget …
    if claimtext.OVER_BUDGET_RE.search(text) and not any(f.state.endswith("over_budget") for f in budgets):
        return "says over budget, against the cited facts"
    if claimtext.WITHIN_BUDGET_RE.search(text) and not any(f.state.endswith("within_budget") for f in budgets):
        return "says within budget, against the cited facts"
    if claimtext.NO_DATA_RE.search(text) and not any(f.state == "no_data" for f in cited):
        return "says no data, against the cited facts"
    if claimtext.RESOLVED_RE.search(text) and any(f.state in ("open", "upcoming", "failing", "stale") for f in cited):
        return "calls an open event or a failure resolved"
    if claimtext.REASSURING_RE.search(text) and not any(f.kind == "quiet" for f in cited):
        return "reassures on a day with something to act on"
    return None


def _times(reading: Reading, cited: list[Fact]) -> str | None:
    known = set()
    for f in cited:
        for t in f.times:
            match = claimtext.DATE_RE.match(t)
            if match and match.group(4):
                known.add((int(match.group(4)), int(match.group(5))))
    for hour, minute in reading.times:
        if (hour, minute) not in known:
            return f"time {hour:02d}:{minute:02d} is not a time of the cited facts"
    return None


def review(answer: str, facts: Facts) -> Review:
    """The claims to post, those dropped and why, and whether the whole answer must fall back."""
    try:
        claims = parse(answer)
    except AnswerError as exc:
        return Review((), (), exc.reason)
    if not claims:
        return Review((), (), "no_claims")
    accepted, rejected = [], []
    for claim in claims:
        try:
            problem = check(claim, facts)
        except Exception as exc:  # noqa: BLE001 - a claim the check cannot read is a claim it drops
            log.error("event=claim_check_failed error=%s", type(exc).__name__, exc_info=True)
            problem = "unreadable"
        if problem is None:
            accepted.append(claim)
        else:
            rejected.append((claim, problem))
    cited = {i for c in accepted for i in c.facts}
    missing = tuple(f.id for f in facts.items if f.actionable and f.id not in cited)
    if len(rejected) > MAX_DROPPED or len(rejected) * 3 > len(claims):
        fallback: str | None = "claims_rejected"
    elif missing:
        fallback = "actionable_missing"
    elif not accepted:
        fallback = "no_claims"
    else:
        fallback = None
    return Review(tuple(accepted), tuple(rejected), fallback, missing)
