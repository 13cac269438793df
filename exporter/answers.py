"""What an AWS answer must be before anything is built from it: whole, in the API's protocol, of the model's shape.

botocore takes a 200 answer whose JSON body is cut short, shorter than its Content-Length or an HTML page
(a proxy's, a captive portal's) for an empty result (``{}``), so an account's data would vanish while its
collector says ``up 1``. Every such answer becomes one error instead, :class:`MalformedResponse`:

* :class:`CheckedParserFactory` (a botocore session's ``response_parser_factory``, installed by
  :mod:`exporter.aws` on every session it makes, :func:`checked_answers`) checks each 2xx body for the service's protocol before
  botocore parses it (:func:`check_body`), and turns what botocore's parser raises on a body it cannot read
  (ill-formed XML, truncated CBOR, a list where the model has a structure) into a MalformedResponse;
* :func:`reads_answer` wraps the collectors' parse functions: a missing key, a list that is not a list or an
  amount that is not a number in an answer botocore accepted is a MalformedResponse too, not a traceback.

The reason goes to the log line and the account's error (``MalformedResponse: GetCostAndUsage: …``); metric
labels carry only the class name.
"""

from __future__ import annotations

import decimal
import functools
import inspect
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from botocore.exceptions import ConnectionClosedError
from botocore.parsers import ResponseParserFactory

F = TypeVar("F", bound=Callable[..., Any])
MAX_REASON = 200
# What a parse function raises when an answer lacks a key, has a value of another type, or an unreadable one.
SHAPE_ERRORS = (KeyError, IndexError, TypeError, ValueError, AttributeError, ArithmeticError)
JSON_PROTOCOLS = frozenset({"json", "rest-json"})
XML_PROTOCOLS = frozenset({"query", "ec2", "rest-xml"})
CBOR_PROTOCOLS = frozenset({"smithy-rpc-v2-cbor"})


class MalformedResponse(Exception):
    """An AWS answer that is not what the API's model says: cut short, not in the protocol's format, or of
    the wrong shape. ``operation`` (e.g. ``GetCostAndUsage``) is filled in by whoever knows it first."""

    def __init__(self, reason: str, operation: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.operation = operation

    def __str__(self) -> str:
        return f"{self.operation}: {self.reason}" if self.operation else self.reason


def describe(exc: BaseException) -> str:
    """A short reason for a parse failure, without the answer's content."""
    if isinstance(exc, KeyError):
        text = f"missing key {exc}"
    elif isinstance(exc, decimal.InvalidOperation):
        text = "a value that is not a number"
    else:
        # botocore's ResponseParserError quotes the body it could not read: that may hold credentials.
        text = f"{type(exc).__name__}: " + re.split(r"Further retries may succeed|\bb['\"]", str(exc))[0]
    text = " ".join(text.split()).rstrip(" :,")
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


# ------------------------------------------------------------------------- the body, before botocore parses


def _looks_like_html(body: bytes) -> bool:
    # By the body, not the Content-Type: some AWS look-alikes (moto) label every answer text/html.
    return body.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html"))


def check_body(protocol: str, response: Mapping[str, Any], shape: Any) -> None:
    """Raise :class:`MalformedResponse` unless a 2xx answer's body is whole and in ``protocol``'s format.

    Cheap where it can be: the Content-Length and the body's first bytes first; JSON bodies are decoded once more
    here (botocore's JSON parser swallows a decoding error and answers ``{}``); XML and CBOR bodies are left
    to botocore's parsers, which raise on what they cannot read (see :class:`CheckedParser`)."""
    body: bytes = response.get("body") or b""
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    declared = str(headers.get("content-length", "")).strip()
    if declared.isdigit() and len(body) < int(declared):
        raise MalformedResponse(f"answer cut short: {len(body)} of {declared} bytes (Content-Length)")
    content_type = str(headers.get("content-type", "")).split(";")[0].strip().lower()
    if _looks_like_html(body):
        raise MalformedResponse(f"an HTML page ({content_type or 'no content type'}), not an AWS answer")
    expects_body = shape is not None and bool(getattr(shape, "members", None))
    if protocol in JSON_PROTOCOLS:
        if protocol == "rest-json" and (not body or shape is None or shape.serialization.get("payload")):
            return  # a REST answer may carry everything in headers, or a raw payload
        if not body.strip():
            if expects_body:
                raise MalformedResponse("empty body where a JSON object was expected")
            return
        try:
            decoded = json.loads(body)
        except ValueError as exc:
            raise MalformedResponse(f"not valid JSON ({describe(exc)}; {len(body)} bytes)") from exc
        if not isinstance(decoded, dict):
            raise MalformedResponse(f"a JSON {type(decoded).__name__}, not an object")
    elif protocol in CBOR_PROTOCOLS:
        if not body:
            if expects_body:
                raise MalformedResponse("empty body where a CBOR map was expected")
            return
        if body[0] >> 5 != 5:  # major type 5: a map
            raise MalformedResponse("not a CBOR map")
    elif protocol in XML_PROTOCOLS and expects_body and not body.strip():
        raise MalformedResponse("empty body where an XML document was expected")


class CheckedParser:
    """botocore's parser for one protocol, with :func:`check_body` in front and its failures as
    :class:`MalformedResponse`."""

    def __init__(self, parser: Any, protocol: str):
        self._parser = parser
        self.protocol = protocol

    def parse(self, response: Mapping[str, Any], shape: Any) -> Any:
        if response.get("status_code", 200) < 300:
            check_body(self.protocol, response, shape)
        try:
            return self._parser.parse(response, shape)
        except Exception as exc:  # noqa: BLE001 - whatever the parser raises, the body is what it could not read
            raise MalformedResponse(f"unreadable {self.protocol} answer ({describe(exc)})") from exc

    def __getattr__(self, name: str) -> Any:  # anything else botocore asks of a parser
        return getattr(self._parser, name)


class CheckedParserFactory(ResponseParserFactory):
    """botocore's ``response_parser_factory`` component, handing out :class:`CheckedParser`s."""

    def create_parser(self, protocol_name: str) -> Any:
        return CheckedParser(super().create_parser(protocol_name), protocol_name)


def checked_answers(session: Any) -> None:
    """Every client of the botocore ``session`` checks its answers: a 2xx body cut short, an HTML page or one
    that is not the protocol's format raises :class:`MalformedResponse` instead of parsing to an empty success."""
    session.register_component("response_parser_factory", CheckedParserFactory())


def cut_short(exc: BaseException | None) -> bool:
    """A connection closed before the body's Content-Length was read, as some botocore versions report it
    (others hand the short body to the parser, which :func:`checked_answers` then refuses)."""
    return isinstance(exc, ConnectionClosedError) and "IncompleteRead" in repr(exc.kwargs.get("error"))


def malformed_after_call(stats: Any, service: str, exception: BaseException | None = None,
                         event_name: str = "", **_: Any) -> None:
    """botocore's ``after-call-error`` (``stats``: an :class:`exporter.telemetry.ApiStats`): a malformed answer is
    named after the operation that got it (the first to see it: an AssumeRole during a Cost Explorer call is
    AssumeRole's) and counted once as ``MalformedResponse``; a body cut short is one too, whichever way
    botocore reports it."""
    operation = event_name.rsplit(".", 1)[-1]
    if isinstance(exception, MalformedResponse):
        if exception.operation is None:  # raised while parsing: the response-received count never ran
            exception.operation = operation
            stats.record(service, operation, "MalformedResponse")
        return
    if cut_short(exception):
        raise MalformedResponse(f"answer cut short ({exception.kwargs.get('error')})", operation) from exception


# -------------------------------------------------------------------- the collectors' parse functions


def reads_answer(operation: str) -> Callable[[F], F]:
    """Decorates a function that builds records from ``operation``'s answers (a generator function too):
    an answer of the wrong shape raises :class:`MalformedResponse` naming the operation, not a KeyError."""

    def decorate(fn: F) -> F:
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def generate(*args: Any, **kwargs: Any) -> Any:
                try:
                    return (yield from fn(*args, **kwargs))
                except SHAPE_ERRORS as exc:
                    raise MalformedResponse(describe(exc), operation) from exc
            return generate  # type: ignore[return-value]

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except SHAPE_ERRORS as exc:
                raise MalformedResponse(describe(exc), operation) from exc
        return call  # type: ignore[return-value]

    return decorate
