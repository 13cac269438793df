"""A config file's bytes → its text, or one problem that says where and why it is not a UTF-8 YAML text file.

Refused: a file over :data:`MAX_CONFIG_BYTES` (read no further than that), UTF-16 or UTF-32 (with or without
a byte order mark), NUL bytes (a binary file), bytes that are not UTF-8 (a Latin-1 ``é``), and the characters
YAML does not allow (control characters; a byte order mark anywhere but at the start). A UTF-8 byte order mark
at the start is allowed and dropped. Checking here, before YAML, makes the message the same whichever YAML
loader runs, with the line and column an editor shows (and the byte offset where the bytes are the problem).
"""

from __future__ import annotations

import os
import re

from exporter.config.validate import ConfigError

MAX_CONFIG_BYTES = 16 * 1024 * 1024  # ~150,000 accounts written out; 16x a 12,000-account file

_UTF8_BOM = b"\xef\xbb\xbf"
_WIDE_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"), (b"\xff\xfe", "UTF-16"),
              (b"\xfe\xff", "UTF-16"))
# YAML 1.1's printable characters (what PyYAML's reader and libyaml accept), without U+FEFF: libyaml skips a
# byte order mark at the start of any line, PyYAML's reader only at the start of the stream.
_NOT_ALLOWED = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFEFE\uFF00-\uFFFD\U00010000-\U0010FFFF]")
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # YAML's, so lines count as in its own errors


def read_config_text(path: str | os.PathLike[str]) -> str:
    """The file's text; :class:`ConfigError` (one problem) when it cannot be read or is not UTF-8 YAML text."""
    source = str(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(source, [f"cannot read: {exc.strerror or exc}"]) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(source, [f"larger than {MAX_CONFIG_BYTES // 2**20} MiB ({MAX_CONFIG_BYTES:,} bytes), "
                                   "the limit for a config file"])
    bom = len(_UTF8_BOM) if data.startswith(_UTF8_BOM) else 0
    problem = _not_text(data, bom)
    if problem:
        raise ConfigError(source, [problem])
    text = data[bom:].decode("utf-8")
    bad = _NOT_ALLOWED.search(text)
    if bad:
        raise ConfigError(source, [f"{_where(text, bad.start())}: character U+{ord(bad.group()):04X} is not "
                                   "allowed in YAML (a control character or a stray byte order mark)"])
    return text


def _not_text(data: bytes, bom: int) -> str | None:
    """Why ``data`` is not UTF-8 text (after a UTF-8 byte order mark of ``bom`` bytes), or None."""
    for wide_bom, encoding in _WIDE_BOMS:
        if data.startswith(wide_bom):
            return f"the file is {encoding} (it starts with a {encoding} byte order mark): save it as UTF-8"
    nul = data.find(b"\x00", bom)
    if nul >= 0:
        if len(data) >= bom + 2 and (data[bom] == 0) != (data[bom + 1] == 0):
            return "the file looks like UTF-16 (a NUL byte in every other byte): save it as UTF-8"
        return f"{_where_byte(data, bom, nul)}: a NUL byte; a config file is UTF-8 text, not a binary file"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (f"{_where_byte(data, bom, exc.start)}: not UTF-8 (byte 0x{data[exc.start]:02X}); save the file as "
                "UTF-8 (it may be Latin-1 or Windows-1252)")
    return None


def _where_byte(data: bytes, bom: int, offset: int) -> str:
    """``line L, column C (byte N)`` of the byte at ``offset`` (N counts from the file's first byte)."""
    before = data[bom:offset].decode("utf-8", "replace")
    return f"{_where(before, len(before))} (byte offset {offset})"


def _where(text: str, index: int) -> str:
    """``line L, column C`` (1-based) of ``text[index]``; columns count characters."""
    line, line_start = 1, 0
    for brk in _LINE_BREAK.finditer(text, 0, index):
        line, line_start = line + 1, brk.end()
    return f"line {line}, column {index - line_start + 1}"
