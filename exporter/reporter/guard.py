"""The grounding guard: the model's text may only say what the facts say.

* Every number must equal a number in the facts after rounding to the decimals the text shows
  (``$412`` matches 412.07, ``1.2k`` matches 1,203.55; signs are ignored so "down 12.5%" matches
  -12.5). The year, month and day of a date in the facts count as numbers; a time of day (``09:00``,
  or inside an ISO timestamp) must be the hour and minute of a timestamp in the facts. Hours, minutes
  and seconds are not figures on their own: with timestamps in the facts they would make almost every
  number from 0 to 59 look grounded.
* Every name in `backticks` must be an account, project, service, region or event code in the facts.
* Outside backticks, ``Amazon X`` / ``AWS X`` phrases must name a service in the facts, and a
  kebab-case word that looks like a known account or project (``data-staging`` beside ``data-prod``)
  must be one.

Numbers glued to a letter before them belong to a name (``EC2``, ``S3``, ``gp3``) and are not figures.

AWS-originated text (Health descriptions, collector errors: ``Facts.aws_text``, fenced in the prompt)
gives no numbers and no names: a figure the model copies from a description ("error rates of 61.7%")
is rejected like an invented one, so an instruction hidden in that text cannot put a figure in chat.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from exporter.reporter.summary import Facts

BACKTICKS_RE = re.compile(r"`([^`\n]+)`")
ISO_DATE_RE = re.compile(r"\b(\d{4})-(\d{2})(?:-(\d{2}))?"
                         r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?")
TIME_RE = re.compile(r"(?<![\d:.])(\d{1,2}):(\d{2})(?::\d{2})?(?![\d:])")
NUMBER_RE = re.compile(r"(?<![A-Za-z0-9_.,])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?:\s?([kKmMbB])(?![A-Za-z]))?")
AWS_PHRASE_RE = re.compile(r"\b(?:Amazon|AWS)(?:\s+[A-Z][A-Za-z0-9-]*)+")  # not a Korean particle after it
KEBAB_RE = re.compile(r"(?<![\w-])[a-z][a-z0-9]*(?:-[a-z0-9]+)+(?![\w-])")
SCALES = {"k": Decimal(1000), "m": Decimal(10**6), "b": Decimal(10**9)}
GENERIC_AWS = frozenset({"AWS Health", "AWS Cost Explorer", "Amazon Web Services", "AWS Cost", "AWS Organizations"})


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    problems: tuple[str, ...]


def _walk(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _walk(item)
    else:
        yield value


def fact_numbers(facts: Facts) -> set[Decimal]:
    numbers: set[Decimal] = set()
    for value in _walk(facts.data):
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, (int, Decimal)):
            numbers.add(abs(Decimal(value)))
        elif isinstance(value, str):
            for match in ISO_DATE_RE.finditer(value):
                numbers.update(Decimal(int(part)) for part in match.groups()[:3] if part)
    for name in facts.names:
        if name.isdigit():
            numbers.add(Decimal(name))
    return numbers


def fact_times(facts: Facts) -> set[tuple[int, int]]:
    """(hour, minute) of every timestamp in the facts."""
    return {(int(m.group(4)), int(m.group(5))) for value in _walk(facts.data) if isinstance(value, str)
            for m in ISO_DATE_RE.finditer(value) if m.group(4)}


def _matches(number: Decimal, places: int, scale: Decimal, known: Iterable[Decimal]) -> bool:
    quantum = Decimal(1).scaleb(-places)
    try:
        return any((f / scale).quantize(quantum, rounding=ROUND_HALF_UP) == number for f in known)
    except InvalidOperation:  # more digits than Decimal's precision: no fact is written that way
        return False


def _names_ok(text: str, facts: Facts, problems: list[str]) -> None:
    known = facts.names
    for phrase in AWS_PHRASE_RE.findall(text):
        phrase = phrase.strip()
        if phrase in GENERIC_AWS or any(n.startswith(phrase) or phrase.startswith(n) for n in known):
            continue
        problems.append(f"unknown service {phrase!r}")
    families = {n.split("-", 1)[0] for n in known if "-" in n and n[:1].islower()}
    for word in KEBAB_RE.findall(text):
        if word.split("-", 1)[0] in families and word not in known:
            problems.append(f"unknown account or project {word!r}")


def check(text: str, facts: Facts) -> Verdict:
    """Whether ``text`` only states facts; the problems say what was not."""
    problems: list[str] = []
    known_numbers = fact_numbers(facts)
    fact_strings = {str(v) for v in _walk(facts.data) if isinstance(v, str)}

    def number_problems(chunk: str) -> None:
        for match in NUMBER_RE.finditer(chunk):
            digits, fraction, suffix = match.group(1).replace(",", ""), match.group(2) or "", match.group(3)
            try:
                number = Decimal(digits + fraction)
            except InvalidOperation:  # pragma: no cover - the pattern only matches digits
                continue
            scale = SCALES[suffix.lower()] if suffix else Decimal(1)
            places = len(fraction) - 1 if fraction else 0
            if not _matches(number, places, scale, known_numbers):
                problems.append(f"figure {match.group(0).strip()!r} is not in the facts")

    outside: list[str] = []
    last = 0
    for match in BACKTICKS_RE.finditer(text):
        outside.append(text[last:match.start()])
        last = match.end()
        inner = match.group(1).strip()
        if inner in facts.names or inner in fact_strings:
            continue
        if re.fullmatch(r"[-+$€₩%.,\d\s×kKmM]+", inner):
            number_problems(inner)
        else:
            problems.append(f"unknown name {inner!r}")
    outside.append(text[last:])
    rest = " ".join(outside)

    known_times = fact_times(facts)

    def date_ok(match: re.Match[str]) -> str:
        parts = [int(p) for p in match.groups()[:3] if p]
        time_ok = not match.group(4) or (int(match.group(4)), int(match.group(5))) in known_times
        if not time_ok or not all(_matches(Decimal(p), 0, Decimal(1), known_numbers) for p in parts):
            problems.append(f"date {match.group(0)!r} is not in the facts")
        return " "

    def time_ok(match: re.Match[str]) -> str:
        if (int(match.group(1)), int(match.group(2))) not in known_times:
            problems.append(f"time {match.group(0)!r} is not in the facts")
        return " "

    rest = TIME_RE.sub(time_ok, ISO_DATE_RE.sub(date_ok, rest))
    number_problems(rest)
    _names_ok(rest, facts, problems)
    return Verdict(not problems, tuple(dict.fromkeys(problems)))
