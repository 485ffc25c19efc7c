"""How limit state is named in a store: key formats, with user and team ids pseudonymised.

    rate:<per>:<id>:<requests|tokens>:<window_s>     e.g. rate:user:k-3f9a...:requests:60
    budget:<per>:<id>:<day|month>:<period label>     e.g. budget:team:k-81c0...:day:2026-11-30

`<id>` of a `user` or `team` limit is `k-` + the first 32 hex digits of
HMAC-SHA256(secret, "<per>:<id>"), so a store (Redis) never holds the raw identifier; `task`
and `model` names and the `global` key `*` stay readable. The hash is deterministic: every
process configured with the same secret names the same key, so shared limits still hold.
Without a secret a built-in one is used: ids are then hidden from whoever reads the keys,
but not from someone who hashes guessed ids with the (public) default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from modelroute.limits.budget import Budget
from modelroute.limits.periods import PeriodWindow
from modelroute.limits.rate import RateLimit
from modelroute.limits.scopes import Scope
from modelroute.privacy import keyed_digest

DEFAULT_KEY_SECRET = b"modelroute-limit-keys-v1"
"""The secret used when none is configured (public: set your own, see the module docstring)."""

PSEUDONYMISED: frozenset[Scope] = frozenset({"user", "team"})
"""Scopes whose keys are people or groups of people: they appear in store keys only hashed."""

_DIGITS = 32  # 128 bits: two ids sharing one limit by collision is not a practical concern


@dataclass(frozen=True, slots=True)
class KeyNames:
    """Builds the store key names of rate buckets and budgets.

    `secret`: the HMAC key for user and team ids (bytes, or a str taken as UTF-8); keep it
    secret and the same in every process that shares a store. Raises ValueError (naming
    `secret`) when it is empty.
    """

    secret: bytes = field(default=DEFAULT_KEY_SECRET, repr=False)

    def __post_init__(self) -> None:
        if not self.secret:
            raise ValueError("secret: limit key names need a non-empty secret")

    @classmethod
    def of(cls, secret: str | bytes | None) -> KeyNames:
        """Names keyed with `secret` (None: the built-in default)."""
        if secret is None:
            return cls()
        return cls(secret.encode("utf-8") if isinstance(secret, str) else secret)

    def identity(self, per: Scope, key: str) -> str:
        """How key `key` of scope `per` appears in store keys (a pseudonym for user/team)."""
        if per not in PSEUDONYMISED:
            return key
        return "k-" + keyed_digest(self.secret, f"{per}:{key}")[:_DIGITS]

    def rate(self, limit: RateLimit, key: str, dimension: Literal["requests", "tokens"]) -> str:
        """The store key of `limit`'s `dimension` bucket for `key` (the raw scope key)."""
        return f"rate:{limit.per}:{self.identity(limit.per, key)}:{dimension}:{limit.window_s:g}"

    def budget(self, budget: Budget, key: str, window: PeriodWindow) -> str:
        """The store key of `budget` for `key` (the raw scope key) in period `window`."""
        ident = self.identity(budget.per, key)
        return f"budget:{budget.per}:{ident}:{budget.period}:{window.label}"
