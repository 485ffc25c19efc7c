"""What records may show of people and credentials: user pseudonyms and URLs without passwords.

User identifiers are redacted where records are made, not by each sink: with
`Router(redact_users=UserRedaction(key))` every `Decision` carries the pseudonym instead of
the user id, so the JSONL log, logging, OpenTelemetry spans and any other sink show the same
value, and none shows the id. The pseudonym is a keyed hash (HMAC-SHA256): the same user
gets the same pseudonym in every process that uses the same key, and without the key it
cannot be reversed by hashing guessed ids. Limits still count per real user (a request's
`user` is not changed); their store keys carry a keyed hash of it, never the id itself
(`modelroute.limits.keys`). The LiteLLM callback takes the same `UserRedaction`, so a user
gets the same pseudonym on both paths.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

MASK = "***"


def keyed_digest(key: bytes, value: str) -> str:
    """The hex HMAC-SHA256 of the UTF-8 bytes of `value` under `key` (64 hex digits): the
    pseudonyms of records (`UserRedaction`) and of limit keys (`modelroute.limits.keys`)."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class UserRedaction:
    """Replaces a user id by `prefix` + the first `length` hex digits of HMAC-SHA256(`key`, id).

    Keep `key` secret and stable (e.g. from an environment variable): a new key gives every
    user a new pseudonym.
    """

    key: bytes = field(repr=False)
    prefix: str = "user-"
    length: int = 16

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("a user redaction needs a non-empty key")
        if not 8 <= self.length <= 64:
            raise ValueError(f"length must be 8..64 hex digits, got {self.length}")

    @classmethod
    def from_secret(cls, secret: str) -> UserRedaction:
        """A redaction keyed with the UTF-8 bytes of `secret`."""
        return cls(secret.encode("utf-8"))

    def __call__(self, user: str | None) -> str | None:
        """The pseudonym of `user` (None stays None)."""
        if user is None:
            return None
        return self.prefix + keyed_digest(self.key, user)[: self.length]


def url_without_password(url: str) -> str:
    """`url` with the password of its user info masked (`http://u:***@host/v1`); other URLs,
    and text that is not a URL, are returned as they are."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{hostport}"))
