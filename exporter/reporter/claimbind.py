"""Which cited fact each figure of a claim is about, and which causes a claim may give (for :mod:`claims`).

**Binding figures to facts.** In a claim citing two or more facts, a figure must be a value of the fact its
words name, not of any cited fact (or two co-cited facts could swap their figures: the spike's $321.92 given to
its driver). A *cue* is something in the wording that names some but not all of the cited facts:

* a name of an entity (account, project, service, usage type, anomaly id, event type, region, CloudWatch
  namespace or metric), backticked or (a name that is not one plain lowercase word) written out;
* a period word or a date (:mod:`claimtext`'s markers: "week over week", "month over month", "전주 대비",
  "전월 대비", "last month", "2026-11-15" …), naming the facts one of whose periods it fits (a date: the facts
  about that one day, when a cited fact is; not the month to date that ends on it).

A figure is bound to the facts of the cue nearest to it in its clause (either side; before it on a tie; an English
causal phrase cuts the clause: the cause named after "because of" says nothing of a figure before it); in
a clause without a cue, to those of the last cue before it in the claim; before any cue, to the facts no cue
of the claim names (all of them if every one is named). A figure that is a value of none of the facts it is
bound to is *misbound* and the claim is dropped: "`data-prod` / `Amazon SageMaker` spiked to $290.10,
driven by `USE1-ml.p3.2xlarge-hours` at $321.92" (the driver's $290.10 said of the spike, the spike's $321.92
of the driver), "Month over month, … rose $281.55 (+697.4%)" (697.4% is the week-over-week figure). A cue
that fits every cited fact binds nothing, so a claim citing one fact, or facts the wording does not tell
apart (the totals of one day), is checked as before. Known limit: a period word written *after* its figures in
a later clause ("+$281.55 (+46.5%) month over month" after a week-over-week part) binds the figures of its
own clause only.

**Causes.** A causal phrase ("because", "due to", "caused by", "driven by", "as a result of", "owing to",
"left … running", "때문", "인해", "(으)로 인한", "원인" …) is allowed only when the claim cites a fact that is a
cause the exporter knows (kind ``driver`` or ``anomaly``; a Health event or CloudWatch series beside a spike is
context, never its cause) and the cause it names is that fact's own name (usage type, anomaly id): right after the English phrase (after a few filler words: "of the", "higher"), or right before a
Korean postposition ("`X`로 인해", "`X` 때문에"; "원인" on either side). Anything else — a cause no fact gives
("someone left a notebook running", "because of a new training job") — drops the **whole claim**, like every
other mismatch (so it counts towards the ``claims_rejected`` fallback). A clause that says a fact is *not*
known to be the cause ("원인이라고 단정할 수는 없습니다") gives no cause.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from exporter.reporter import claimtext
from exporter.reporter.claimtext import Figure, Marker, Reading
from exporter.reporter.factlist import Fact, Span, Value

CUE_KEYS = ("account", "project", "service", "usage_type", "anomaly_id", "event_type_code", "region",
            "namespace", "metric", "series")
# Context (a Health event or a CloudWatch series next to a spike) is never a cause: prompt rules 8 and 9.
CAUSE_KINDS = frozenset({"driver", "anomaly"})
CAUSE_KEYS = ("usage_type", "anomaly_id")
# English: the cause follows the phrase.
CAUSE_BEFORE_RE = re.compile(
    r"\b(?:because(?:\s+of)?|due\s+to|caused\s+by|driven\s+by|as\s+a\s+result\s+of|owing\s+to|thanks\s+to|"
    r"result(?:ed|ing|s)?\s+from|triggered\s+by|attributable\s+to|stem(?:s|med|ming)?\s+from|on\s+account\s+of|"
    r"the\s+(?:cause|reason)\s+(?:is|was|being))\b|원인", re.IGNORECASE)
# Korean (and "left … running"): the cause comes before.
CAUSE_AFTER_RE = re.compile(r"때문|인해|인한|으로\s*인|탓|켜\s*(?:두|놓|둔)|\bleft\b[^.;]{0,40}?\brunning\b", re.IGNORECASE)
NOT_A_CAUSE_RE = re.compile(r"원인(?:이라고|으로)\s*단정할\s*수(?:는)?\s*없|\bnot\s+(?:necessarily\s+)?"
                            r"(?:the\s+)?(?:cause|reason)\b|\bmay\s+or\s+may\s+not\b", re.IGNORECASE)
FILLER_RE = re.compile(r"(?:\s+|[:(/,]|\$?[\d.,]+|^(?:은|는|이|가|으로|로)|\b(?:of|the|a|an|its|their|higher|more|"
                       r"increased|extra|usage|type|in|on|by|is|was)\b)*", re.IGNORECASE)
KO_JOINER_RE = re.compile(r"\s*(?:\)|\(|이|가|은|는|의|로|으로|사용량|비용|증가|가\s*원인|이\s*원인|\s)*\s*$")

Candidates = Callable[[Figure, list[Fact]], list[tuple[Fact, Value]]]
Fits = Callable[[Marker, Span], bool]


def _name_spans(text: str, name: str) -> Iterable[tuple[int, int]]:
    for m in re.finditer(rf"`\s*{re.escape(name)}\s*`", text):
        yield m.start(), m.end()
    if not re.fullmatch(r"[a-z]+", name):
        for m in re.finditer(rf"(?<![\w`-]){re.escape(name)}(?![\w`-])", text):
            yield m.start(), m.end()


def _cues(text: str, reading: Reading, cited: list[Fact], fits: Fits) -> list[tuple[int, int, frozenset[str]]]:
    """(start, end, ids of the cited facts it names) of every name or period that tells cited facts apart."""
    every = frozenset(f.id for f in cited)
    names: dict[str, set[str]] = {}
    for f in cited:
        for key in CUE_KEYS:
            value = f.entity.get(key)
            if value and len(value) > 2:
                names.setdefault(value, set()).add(f.id)
    out = []
    for name, ids in names.items():
        if frozenset(ids) != every:
            out += [(a, b, frozenset(ids)) for a, b in _name_spans(text, name)]
    for marker in reading.periods:
        ids = frozenset(f.id for f in cited if any(fits(marker, s) for s in f.all_spans()))
        if marker.date is not None:  # a date names the facts of that one day, not a month to date ending on it
            ids = frozenset(f.id for f in cited if any(s.first == s.last == marker.date for s in f.all_spans())) or ids
        if ids and ids != every:
            out.append((marker.start, marker.end, ids))
    return sorted(out)


def misbound(text: str, reading: Reading, cited: list[Fact], candidates: Candidates, fits: Fits) -> str | None:
    """The first figure that is a value only of a cited fact other than the one its words name, or None."""
    if len(cited) < 2:
        return None
    cues = _cues(text, reading, cited, fits)
    if not cues:
        return None
    named = frozenset().union(*(ids for _, _, ids in cues))
    base = frozenset(f.id for f in cited) - named or frozenset(f.id for f in cited)
    for figure in reading.figures:
        low, high = _segment(text, *claimtext.clause_of(reading, figure.start), figure.start)
        near = [c for c in cues if low <= c[0] < high]
        if near:
            ids = min(near, key=lambda c: (max(c[0] - figure.end, figure.start - c[1], 0), c[0] > figure.start))[2]
        else:
            before = [c for c in cues if c[1] <= figure.start]
            ids = before[-1][2] if before else base
        if not any(f.id in ids for f, _ in candidates(figure, cited)):
            about = ", ".join(sorted(ids))
            return f"figure {figure.text!r} is not a value of the fact its words name ({about})"
    return None


def _segment(text: str, low: int, high: int, at: int) -> tuple[int, int]:
    """The part of the clause [low, high) around ``at`` that an English causal phrase does not cut: in "rose $281.55
    because of `X` (+$265.10)" the cause's name tells nothing about the figure before the phrase."""
    for m in CAUSE_BEFORE_RE.finditer(text, low, high):
        if m.group(0).startswith("원인"):
            continue
        if m.start() > at:
            return low, m.start()
        low = m.start()
    return low, high


def _cause_names(cited: list[Fact]) -> list[str]:
    out = []
    for f in cited:
        if f.kind in CAUSE_KINDS:
            out += [f.entity[k] for k in CAUSE_KEYS if f.entity.get(k)]
    return sorted(set(out), key=len, reverse=True)


def _name_at(text: str, names: list[str], start: bool) -> bool:
    """Whether ``text`` starts (or ends) with one of ``names``, backticked or not."""
    for name in names:
        pattern = rf"`?\s*{re.escape(name)}\s*`?"
        if re.match(pattern, text) if start else re.search(pattern + r"$", text):
            return True
    return False


def unknown_cause(text: str, cited: list[Fact]) -> str | None:
    """Why the causal phrases of ``text`` name a cause no cited fact gives, or None."""
    names = _cause_names(cited)
    clean = NOT_A_CAUSE_RE.sub(lambda m: " " * len(m.group(0)), text)
    for m in CAUSE_BEFORE_RE.finditer(clean):
        after = clean[m.end():]
        skipped = FILLER_RE.match(after)
        rest = after[skipped.end() if skipped else 0:]
        if names and _name_at(rest, names, start=True):
            continue
        if m.group(0).startswith("원인"):
            before = KO_JOINER_RE.sub("", clean[:m.start()])
            if names and _name_at(before, names, start=False):
                continue
        return f"gives a cause no cited fact gives ({m.group(0).strip()!r})"
    for m in CAUSE_AFTER_RE.finditer(clean):
        before = KO_JOINER_RE.sub("", clean[:m.start()])
        if names and _name_at(before, names, start=False):
            continue
        return f"gives a cause no cited fact gives ({m.group(0).strip()!r})"
    return None
