"""HTTP basic auth against bcrypt hashes, as the Prometheus exporter-toolkit checks it.

A bcrypt check costs tens of milliseconds by design, too much for every scrape, so a successful check is
remembered: per user, a keyed digest (HMAC with a random per-process key, never the password) of the hash and
the password that matched, compared in constant time. A changed hash (the file was edited) no longer matches
its digest. Failed checks are not remembered (nothing to gain, and a guesser would fill the memory); they run
one at a time, so a flood of bad passwords costs one core, not all of them. An unknown user costs a bcrypt
check too, so a response's timing does not tell which users exist.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
from collections.abc import Mapping

import bcrypt

BCRYPT_MAX_BYTES = 72  # bcrypt reads no further; a longer password is refused, never cut and compared


class BasicAuth:
    def __init__(self, users: Mapping[str, str]):
        self.users = {name: hashed.encode() for name, hashed in users.items()}
        # Unknown users are checked against a real hash, then refused (the same work as a wrong password).
        self._decoy = self.users[min(self.users)] if self.users else b""
        self._key = os.urandom(32)
        self._matched: dict[str, bytes] = {}
        self._bcrypt = threading.Lock()

    def allows(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header carries a configured user and that user's password."""
        credentials = parse_basic(authorization)
        if credentials is None:
            return False
        user, password = credentials
        hashed = self.users.get(user)
        if len(password) > BCRYPT_MAX_BYTES:
            return False
        digest = hmac.new(self._key, (hashed or b"") + b"\0" + password, hashlib.sha256).digest()
        if hashed is not None and hmac.compare_digest(self._matched.get(user, b""), digest):
            return True
        with self._bcrypt:
            try:
                ok = bcrypt.checkpw(password, hashed or self._decoy) and hashed is not None
            except ValueError:  # bcrypt's own refusals (its input rules); a refusal here too
                ok = False
        if ok:
            self._matched[user] = digest
        return ok


def parse_basic(authorization: str | None) -> tuple[str, bytes] | None:
    """(user, password) from ``Basic base64(user:password)``; None for anything else. The user is UTF-8
    text (it is compared with the file's names), the password stays bytes (bcrypt takes bytes)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
        user, colon, password = decoded.partition(b":")
        if not colon:
            return None
        return user.decode("utf-8"), password
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
