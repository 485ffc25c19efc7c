"""Whole-config checks: every problem of a config at once, each with its path.

A config is checked before anything is built, so a router never starts with a chain that
loops, names a model or route that does not exist, or lists a model twice. Schema errors
(wrong types, misspelled keys) come from pydantic; the cross-reference checks here need the
whole config. Misspelled names get a suggestion (`did you mean 'm-b'?`).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelroute.breaker import BreakerConfig
from modelroute.errors import ConfigError

if TYPE_CHECKING:
    from pydantic import ValidationError


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One problem: `path` in the config (e.g. `routes.r1.fallbacks[2]`) and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InvalidConfig(ConfigError):
    """A config with one or more problems; `problems` lists them all, in config order.

    `path` and `message` are the first problem's, so code reading a single `ConfigError`
    keeps working.
    """

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        if not problems:
            raise ValueError("InvalidConfig needs at least one problem")
        self.problems = tuple(problems)
        super().__init__(problems[0].path, problems[0].message)
        if len(problems) > 1:
            lines = "\n".join(f"  {p}" for p in problems)
            self.args = (f"{len(problems)} problems in the config:\n{lines}",)


def suggestion(name: str, choices: Iterable[str], *more: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for the closest of `choices` (then of `more`), else ""."""
    for pool in (choices, *more):
        close = difflib.get_close_matches(name, list(pool), n=1, cutoff=0.6)
        if close:
            return f" (did you mean {close[0]!r}?)"
    return ""


def format_loc(loc: Sequence[int | str]) -> str:
    """`routes.r1.fallbacks[0]` from pydantic's `("routes", "r1", "fallbacks", 0)`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def schema_problems(exc: ValidationError, keys: Collection[str]) -> list[ConfigProblem]:
    """Every pydantic error as a problem; a misspelled key gets the closest of `keys`."""
    problems = []
    for error in exc.errors():
        value = error.get("input")
        message = error["msg"]
        if not isinstance(value, dict | list):
            message += f" (got {value!r})"
        last = error["loc"][-1] if error["loc"] else None
        if error["type"] == "extra_forbidden" and isinstance(last, str):
            message += suggestion(last, keys)
        problem = ConfigProblem(format_loc(error["loc"]), message)
        if problem not in problems:
            problems.append(problem)
    return problems


def chain_problems(
    chains: Mapping[str, Sequence[tuple[str, str]]],
    configured: Collection[str],
    known: Collection[str],
) -> Iterator[ConfigProblem]:
    """Unknown and repeated models in each route's chain of (path, model) pairs.

    `configured` are the config's own model names (searched first for suggestions), `known`
    every name a route may use (configured ones plus LiteLLM's model map).
    """
    for chain in chains.values():
        first_at: dict[str, str] = {}
        for path, model in chain:
            if model not in known:
                hint = suggestion(model, configured, known)
                yield ConfigProblem(path, f"unknown model {model!r}{hint}")
            elif model in first_at:
                yield ConfigProblem(
                    path,
                    f"{model!r} is already at {first_at[model]}: a model cannot fall back "
                    "to itself, each model is tried at most once",
                )
            else:
                first_at[model] = path


def route_ref_problems(
    refs: Iterable[tuple[str, str]], routes: Collection[str]
) -> Iterator[ConfigProblem]:
    """Each (path, route name) that names no route."""
    for path, name in refs:
        if name not in routes:
            yield ConfigProblem(path, f"unknown route {name!r}{suggestion(name, routes)}")


def overflow_cycles(overflow: Mapping[str, str | None]) -> Iterator[ConfigProblem]:
    """Each cycle of `overflow_route` hops once, at the path of its first route in order,
    naming it in full, e.g. `overflow cycle r1 → r2 → r3 → r1`."""
    reported: set[str] = set()
    for start in overflow:
        path, seen = [start], {start}
        nxt = overflow.get(start)
        while nxt is not None and nxt in overflow and nxt not in seen:
            path.append(nxt)
            seen.add(nxt)
            nxt = overflow.get(nxt)
        if nxt != start or start in reported:
            continue
        reported.update(path)
        hops = " → ".join([*path, start])
        yield ConfigProblem(
            f"routes.{start}.overflow_route",
            f"overflow cycle {hops}: a request too long for one route must end somewhere",
        )


def decode_utf8(raw: bytes, source: str) -> str:
    """The text of config file `source` (its bytes `raw`). Raises `ConfigError` at path
    `source` naming the byte offset (and line) of the first byte that is not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        message = (
            f"not UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start} (line {line}); "
            "save the file as UTF-8"
        )
        raise ConfigError(source, message) from None


def breaker_problems(settings: Mapping[str, Any]) -> list[ConfigProblem]:
    """What `BreakerConfig(**settings)` rejects beyond the schema's per-field bounds (the
    cross-field rules, e.g. `max_cooldown_s >= cooldown_s`), at `breaker.<field>`."""
    try:
        BreakerConfig(**settings)
    except ValueError as exc:
        text = str(exc)
        for name in BreakerConfig.__dataclass_fields__:
            prefix = f"BreakerConfig.{name} "
            if text.startswith(prefix):
                return [ConfigProblem(f"breaker.{name}", text.removeprefix(prefix))]
        return [ConfigProblem("breaker", text)]
    return []
