"""What one claim's wording states, read without a model: its figures (with unit, sign and shown decimals),
the periods and directions it names (English and Korean), the names it uses, and its clauses.

Pure functions over text; :mod:`exporter.reporter.claims` compares the result with the facts a claim cites.
Positions are kept so that a period word ("last month", "2026-11-14") or a direction word ("rose", "fell")
can be bound to the figure nearest to it in the same clause.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

BACKTICKS_RE = re.compile(r"`([^`\n]+)`")
DATE_RE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::\d{2})?(?:Z|[+-]\d{2}:?\d{2})?)?(?!\d)")
MONTH_RE = re.compile(r"(?<![\d-])(\d{4})-(\d{2})(?![\d-])")
TIME_RE = re.compile(r"(?<![\d:.])(\d{1,2}):(\d{2})(?::\d{2})?(?![\d:])")
# A word that starts with a letter and holds a digit is a name (EC2, S3, us-east-1, ml.p3.2xlarge), not a figure.
NAMEISH_RE = re.compile(r"(?<![\w$])[A-Za-z][\w./:-]*\d[\w./:-]*")
NUMBER_RE = re.compile(
    r"(?<![\w.,])(?P<sign>[+\-−](?=\s?\$?\d))?\s?(?P<cur>US\$|\$)?\s?(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?P<frac>\.\d+)?"
    r"(?P<scale>\s?[kKmM](?![A-Za-z]))?"
    r"(?P<unit>\s?%|\s?퍼센트|\s?×|\s?x(?![A-Za-z])|\s?times\b|\s?배|-day\b|\s?days?\b|\s?일|\s?hours?\b|\s?h\b|\s?시간"
    r"|\s?USD\b|\s?달러)?")
UNITS = {"%": "pct", "퍼센트": "pct", "×": "ratio", "x": "ratio", "times": "ratio", "배": "ratio", "-day": "days",
         "day": "days", "days": "days", "일": "days", "hour": "hours", "hours": "hours", "h": "hours", "시간": "hours",
         "usd": "usd", "달러": "usd"}
SCALES = {"k": Decimal(1000), "m": Decimal(10**6)}
URL_RE = re.compile(r"https?://|www\.|\]\(", re.IGNORECASE)
MENTION_RE = re.compile(r"@|<\s*[!@/]|<\s*(?:at|users|aws_data)\b", re.IGNORECASE)
CLAUSE_RE = re.compile(r"[;·•—–()\[\]\n]|[,.:!?](?:\s|$)|\s(?:and|but|while|whereas|vs\.?|versus|against)\s"
                       r"|(?<=[가-힣][고며서])\s|(?<=[가-힣]지만)\s|，|。")

# Period words: each names the kinds of span it may be about (factlist.Span.kind). Longest first.
PERIOD_WORDS: tuple[tuple[str, frozenset[str]], ...] = tuple(sorted((
    # en
    ("same days last month", frozenset({"same_days_last_month", "month_over_month"})),
    ("same period last month", frozenset({"same_days_last_month", "month_over_month"})),
    ("month over month", frozenset({"month_over_month", "month_to_date", "same_days_last_month"})),
    ("month-over-month", frozenset({"month_over_month", "month_to_date", "same_days_last_month"})),
    ("last month", frozenset({"last_month", "same_days_last_month", "month_over_month"})),
    ("previous month", frozenset({"last_month", "same_days_last_month", "month_over_month"})),
    ("prior month", frozenset({"last_month", "same_days_last_month", "month_over_month"})),
    ("month to date", frozenset({"month_to_date", "month_over_month"})),
    ("month-to-date", frozenset({"month_to_date", "month_over_month"})),
    ("mtd", frozenset({"month_to_date", "month_over_month"})),
    ("month so far", frozenset({"month_to_date", "month_over_month"})),
    ("so far this month", frozenset({"month_to_date", "month_over_month"})),
    # "forecast" is AWS's (Span kind forecast, exporter.reporter.forecasts), "projected" the reporter's own.
    ("this month", frozenset({"month_to_date", "month", "projected", "forecast", "month_over_month"})),
    ("month end", frozenset({"projected", "forecast", "month"})),
    ("month-end", frozenset({"projected", "forecast", "month"})),
    ("end of the month", frozenset({"projected", "forecast", "month"})), ("projected", frozenset({"projected"})),
    ("forecast", frozenset({"forecast"})), ("forecasts", frozenset({"forecast"})),
    ("forecasted", frozenset({"forecast"})), ("will end", frozenset({"projected", "forecast", "month"})),
    ("to end", frozenset({"projected", "forecast", "month"})), ("monthly budget", frozenset({"month"})),
    ("week over week", frozenset({"week_over_week", "day", "week_ago"})),
    ("week-over-week", frozenset({"week_over_week", "day", "week_ago"})),
    ("same weekday", frozenset({"week_over_week", "week_ago", "day"})),
    ("last week", frozenset({"week_ago", "week_over_week"})), ("a week ago", frozenset({"week_ago", "week_over_week"})),
    ("a week earlier", frozenset({"week_ago", "week_over_week"})),
    ("previous week", frozenset({"week_ago", "week_over_week"})),
    ("yesterday", frozenset({"day", "week_over_week"})), ("on the day", frozenset({"day", "week_over_week"})),
    # "mean" / "average": the baseline's, or a CloudWatch series' mean of a day (span kind "mean")
    ("baseline", frozenset({"baseline"})), ("trailing", frozenset({"baseline"})),
    ("mean", frozenset({"baseline", "mean"})), ("average", frozenset({"baseline", "mean"})),
    ("averaged", frozenset({"baseline", "mean"})), ("typical", frozenset({"baseline"})), ("usual", frozenset({"baseline"})),
    ("day over day", frozenset({"previous_day"})), ("day-over-day", frozenset({"previous_day"})),
    ("the day before", frozenset({"previous_day"})), ("previous day", frozenset({"previous_day"})),
    ("overnight", frozenset({"previous_day"})), ("today", frozenset({"today"})),
    # ko
    ("지난달 같은 기간", frozenset({"same_days_last_month", "month_over_month"})),
    ("전월 대비", frozenset({"month_over_month", "month_to_date", "same_days_last_month"})),
    ("지난달", frozenset({"last_month", "same_days_last_month", "month_over_month"})),
    ("지난 달", frozenset({"last_month", "same_days_last_month", "month_over_month"})),
    ("전월", frozenset({"last_month", "same_days_last_month", "month_over_month"})),
    ("이번 달 누계", frozenset({"month_to_date", "month_over_month"})),
    ("누계", frozenset({"month_to_date", "month_over_month"})),
    ("이번 달", frozenset({"month_to_date", "month", "projected", "forecast", "month_over_month"})),
    ("이달", frozenset({"month_to_date", "month", "projected", "forecast", "month_over_month"})),
    ("월말", frozenset({"projected", "forecast", "month"})),  # not 예상 alone: it is "expected" too
    ("예측", frozenset({"forecast"})),
    ("전주 대비", frozenset({"week_over_week", "day", "week_ago"})),
    ("같은 요일", frozenset({"week_over_week", "week_ago", "day"})),
    ("전주", frozenset({"week_ago", "week_over_week"})), ("지난주", frozenset({"week_ago", "week_over_week"})),
    ("일주일 전", frozenset({"week_ago", "week_over_week"})),
    ("어제", frozenset({"day", "week_over_week"})), ("당일", frozenset({"day", "week_over_week"})),
    ("기준선", frozenset({"baseline"})), ("평균", frozenset({"baseline", "mean"})),
    ("전일 대비", frozenset({"previous_day"})), ("전날", frozenset({"previous_day"})),
    ("오늘", frozenset({"today"})),
), key=lambda item: -len(item[0])))
UP_RE = re.compile(r"\b(?:up(?! to\b)|rose|risen|rises|rising|increase[sd]?|grew|grown|jump(?:ed|s)?|spiked"
                   r"|higher|climb(?:ed|s)?|surg(?:ed|es)|doubled|tripled)\b|증가|급증|상승|늘었|늘어", re.IGNORECASE)
DOWN_RE = re.compile(r"\b(?:down|fell|fallen|falls|drop(?:ped|s)?|decrease[sd]?|declin(?:ed|es)|lower|shr[au]nk"
                     r"|sav(?:ed|ings))\b|감소|하락|줄었|줄어", re.IGNORECASE)
OVER_BUDGET_RE = re.compile(r"\b(?:over|above|exceed(?:s|ed|ing)?|beyond)\s+(?:the\s+|its\s+|their\s+)?budget|"
                            r"\bexceed(?:s|ed|ing)?\b|예산\s*초과|초과", re.IGNORECASE)
WITHIN_BUDGET_RE = re.compile(r"\b(?:within|under|below|inside)\s+(?:the\s+|its\s+|their\s+)?budget|\bon track\b|"
                              r"예산\s*(?:내|이내|안)", re.IGNORECASE)
NO_DATA_RE = re.compile(r"\bno (?:cost )?data\b|데이터 없음|데이터가 없", re.IGNORECASE)
RESOLVED_RE = re.compile(r"\b(?:resolved|closed|fixed|recovered|mitigated|over now)\b|해결|종료|복구", re.IGNORECASE)
REASSURING_RE = re.compile(
    r"\bnothing (?:unusual|to (?:act on|report|worry about))|\bno action\b|\bno (?:issues|problems|anomalies|spikes)\b|"
    r"\ball (?:is |looks )?(?:well|normal|fine|good|clear)\b|\beverything (?:is |looks )?(?:fine|normal|ok|good)\b|"
    r"\b(?:safe|can be) (?:to )?ignored?\b|\bignore\b|\bdisregard\b|"
    r"\b(?:are|is|look|looks|remain|remains|stay|stays|seem|seems)\s+(?:all\s+)?(?:normal|fine|ok|okay|healthy)\b|"
    r"이상 없|특이 ?사항(?:이)? 없|문제 없|조치 ?(?:가 )?필요 ?(?:없|하지 않)|정상",
    re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Figure:
    start: int
    end: int
    number: Decimal  # as shown, without sign
    places: int
    scale: Decimal
    unit: str  # usd | pct | ratio | days | hours | count
    sign: int  # +1 / -1 when written, else 0
    text: str


@dataclass(frozen=True, slots=True)
class Marker:
    start: int
    end: int
    word: str
    kinds: frozenset[str] = frozenset()  # for a period word
    date: dt.date | None = None  # for a date
    month: tuple[int, int] | None = None  # for YYYY-MM


@dataclass(frozen=True, slots=True)
class Reading:
    text: str  # the claim with names and dates blanked (same length)
    backticked: tuple[str, ...]
    figures: tuple[Figure, ...]
    periods: tuple[Marker, ...]
    directions: tuple[tuple[int, int], ...]  # (position, +1/-1)
    times: tuple[tuple[int, int], ...]  # (hour, minute) written
    clauses: tuple[tuple[int, int], ...]


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def read(text: str, known_names: frozenset[str]) -> Reading:
    """Everything :mod:`claims` checks in a claim's wording."""
    work = text
    backticked = []
    for m in BACKTICKS_RE.finditer(text):
        inner = m.group(1).strip()
        if re.fullmatch(r"[-+$%.,\d\s×]+", inner):
            work = work[:m.start()] + " " + m.group(1) + " " + work[m.end():]  # a figure in backticks is a figure
        else:
            backticked.append(inner)
            work = _blank(work, m.start(), m.end())
    # Names that could hold a figure or a period word (``us-east-1``, ``Amazon EC2``); plain lowercase words
    # (a project called ``data``) stay, so "no data" is still read.
    for name in sorted((n for n in known_names if not n.isdigit() and not re.fullmatch(r"[a-z]+", n)),
                       key=len, reverse=True):
        for m in re.finditer(rf"(?<![\w-]){re.escape(name)}(?![\w-])", work):
            work = _blank(work, m.start(), m.end())
    periods: list[Marker] = []
    times = []
    for m in DATE_RE.finditer(work):
        try:
            periods.append(Marker(m.start(), m.end(), m.group(0), date=dt.date(*map(int, m.groups()[:3]))))
        except ValueError:
            periods.append(Marker(m.start(), m.end(), m.group(0), kinds=frozenset({"invalid"})))
        if m.group(4):
            times.append((int(m.group(4)), int(m.group(5))))
        work = _blank(work, m.start(), m.end())
    for m in MONTH_RE.finditer(work):
        periods.append(Marker(m.start(), m.end(), m.group(0), month=(int(m.group(1)), int(m.group(2)))))
        work = _blank(work, m.start(), m.end())
    for m in TIME_RE.finditer(work):
        times.append((int(m.group(1)), int(m.group(2))))
        work = _blank(work, m.start(), m.end())
    work = NAMEISH_RE.sub(lambda m: " " * len(m.group(0)), work)
    lowered = work.lower()
    taken = [False] * len(work)
    for word, kinds in PERIOD_WORDS:
        for m in re.finditer(rf"(?<![\w]){re.escape(word)}" + (r"(?![a-z])" if word.isascii() else ""), lowered):
            if any(taken[m.start():m.end()]):
                continue
            taken[m.start():m.end()] = [True] * (m.end() - m.start())
            periods.append(Marker(m.start(), m.end(), word, kinds=kinds))
    figures = tuple(_figures(work))
    directions = tuple(sorted([(m.start(), 1) for m in UP_RE.finditer(work)] +
                              [(m.start(), -1) for m in DOWN_RE.finditer(work)]))
    cuts = [0] + [m.start() for m in CLAUSE_RE.finditer(work)] + [len(work)]
    clauses = tuple((a, b) for a, b in zip(cuts, cuts[1:]) if b > a)
    return Reading(work, tuple(backticked), figures, tuple(sorted(periods, key=lambda p: p.start)), directions,
                   tuple(times), clauses)


def _figures(work: str) -> list[Figure]:
    out = []
    for m in NUMBER_RE.finditer(work):
        digits = m.group("int").replace(",", "") + (m.group("frac") or "")
        try:
            number = Decimal(digits)
        except InvalidOperation:  # pragma: no cover - the pattern only matches digits
            continue
        unit_text = (m.group("unit") or "").strip().lower()
        unit = "usd" if m.group("cur") else UNITS.get(unit_text, "count")
        end = m.end()
        if m.group("cur") and unit_text in ("%", "퍼센트"):
            unit = "pct"
        elif m.group("cur") and m.group("unit"):  # "$40.00 day over day": the word after a dollar figure is no unit
            end = m.start("unit")
        scale_text = (m.group("scale") or "").strip().lower()
        sign = {"+": 1, "-": -1, "−": -1}.get(m.group("sign") or "", 0)
        places = len(m.group("frac")) - 1 if m.group("frac") else 0
        out.append(Figure(m.start(), end, number, places, SCALES.get(scale_text, Decimal(1)), unit, sign,
                          work[m.start():end].strip()))
    return out


def clause_of(reading: Reading, position: int) -> tuple[int, int]:
    for start, end in reading.clauses:
        if start <= position < end:
            return start, end
    return 0, len(reading.text)


def nearest_figure(reading: Reading, start: int, end: int, whole_claim: bool) -> Figure | None:
    """The figure nearest to [start, end) in its clause; or, with ``whole_claim``, in the claim when its clause has none."""
    low, high = clause_of(reading, start)
    pool = [f for f in reading.figures if low <= f.start < high]
    if not pool and whole_claim:
        pool = list(reading.figures)
    if not pool:
        return None
    return min(pool, key=lambda f: (max(f.start - end, start - f.end, 0), f.start))
