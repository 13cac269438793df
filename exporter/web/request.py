"""A plain request parsed without ``email.parser``: the same result, for a fraction of the cost.

``http.server`` hands every request's header block to ``email.parser`` (about 100 µs for a Prometheus scrape's
five headers, more than serving the scrape's held bytes). A request whose header block is already in the read
buffer, each line a plain ``Name: value`` (no continuation lines, nothing ``email.parser`` would read as a body
or a defect), with a request line ``METHOD target HTTP/1.x`` not starting ``//``, is parsed here into the same
:class:`http.client.HTTPMessage` (each line through the message policy's own ``header_source_parse``, as the
parser stores them); anything else goes to ``http.server``'s own parsing, limits and error answers unchanged.

    class Handler(GuardedHandler, QuickRequest, BaseHTTPRequestHandler): ...
"""

from __future__ import annotations

import http.client
import re
from typing import Any

# What email.parser takes for a header line (its headerRE, less "From " lines and continuations), name not empty.
_HEADER_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]+:[^\r\n]*\r?\n")
_MAX_HEADERS = 100  # http.client's _MAXHEADERS: more goes to http.server, which answers 431
_MAX_LINE = 65536  # http.client's _MAXLINE


class QuickRequest:
    """Mixed in before ``BaseHTTPRequestHandler``: its ``parse_request`` for the plain case, the original otherwise."""

    rfile: Any
    raw_requestline: bytes
    protocol_version: str
    MessageClass: Any = http.client.HTTPMessage

    def parse_request(self) -> bool:
        parsed = self._parse_plain()
        return super().parse_request() if parsed is None else parsed  # type: ignore[misc]

    def _parse_plain(self) -> bool | None:
        """None when the request is not plain (nothing read yet), else parse_request's answer."""
        requestline = self.raw_requestline.decode("iso-8859-1").rstrip("\r\n")
        words = requestline.split()  # as http.server splits it (str.split: the same whitespace)
        if len(words) != 3 or words[2] not in ("HTTP/1.1", "HTTP/1.0") or words[1].startswith("//"):
            return None
        buffered = self.rfile.peek()
        if buffered.startswith(b"\r\n"):
            block, consumed = b"", 2  # no header at all
        else:
            at = buffered.find(b"\n\r\n")
            if at < 0:  # not all buffered (or ended otherwise): http.server reads it
                return None
            block, consumed = buffered[:at + 1], at + 3
        lines = _HEADER_LINE.findall(block)
        if len(lines) > _MAX_HEADERS or sum(map(len, lines)) != len(block) or any(len(x) > _MAX_LINE for x in lines):
            return None
        message = self.MessageClass()
        policy = message.policy
        for line in lines:
            message.set_raw(*policy.header_source_parse([line.decode("iso-8859-1")]))
        self.rfile.read(consumed)
        command, path, version = words
        self.command, self.path, self.request_version, self.headers = command, path, version, message
        self.requestline = requestline
        self.close_connection = not (version == "HTTP/1.1" and self.protocol_version >= "HTTP/1.1")
        connection = message.get("Connection", "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive" and self.protocol_version >= "HTTP/1.1":
            self.close_connection = False
        if message.get("Expect", "").lower() == "100-continue" and self.protocol_version >= "HTTP/1.1" \
                and version >= "HTTP/1.1":
            return bool(self.handle_expect_100())  # type: ignore[attr-defined]
        return True
