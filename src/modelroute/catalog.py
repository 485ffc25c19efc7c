"""Models, their prices, context windows and capabilities.

Prices and capabilities come from LiteLLM's model map, read as data: the JSON file
`model_prices_and_context_window_backup.json` inside the installed `litellm` package,
found with `importlib.util.find_spec` without importing LiteLLM (source: LiteLLM,
https://github.com/BerriAI/litellm). Entries can be overridden or added in config for
local and private models. Prices are USD per token.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from modelroute.errors import UnknownModelError
from modelroute.token_bound import BoundedTokenCounter, TokenBound, text_token_bound
from modelroute.types import Request, Usage

LITELLM_MAP_FILE = "model_prices_and_context_window_backup.json"

logger = logging.getLogger("modelroute")

_SNAPSHOT = re.compile(r"[-@](?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4}|\d{3})$")

TokenCounter = Callable[[str, Request], int]
"""(model name, request) -> estimated input tokens."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One model as the router sees it.

    `name` is the name routes use; `target` what the backend is asked for (for LiteLLM,
    e.g. `openai/gpt-4o-mini`); `provider` the provider label used in records and spans,
    taken from `target`'s first segment when not given (LiteLLM's `provider/model`
    convention: `openai/m-a` -> `openai`; a target without `/` leaves it None).
    Prices are USD per token; `max_input_tokens` is the context window in tokens.
    `supports_assistant_prefill`: the model continues a conversation that ends with an
    assistant message (LiteLLM's `supports_assistant_prefill`); a resumed stream uses it.
    `aliases` are other names a provider may report for this model in its answers (e.g. a
    local server's file name); dated snapshots of `name` or `target` need no alias.
    """

    name: str
    provider: str | None = None
    target: str | None = None
    input_cost_per_token: float = 0.0
    output_cost_per_token: float = 0.0
    cached_input_cost_per_token: float | None = None
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    supports_tools: bool = True
    supports_vision: bool = False
    supports_json_schema: bool = True
    supports_streaming: bool = True
    supports_assistant_prefill: bool = False
    api_base: str | None = field(default=None, repr=False)  # may hold a password
    api_key_env: str | None = None
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.provider is None:
            object.__setattr__(self, "provider", provider_of_target(self.target))

    @property
    def call_name(self) -> str:
        """The model name sent to the backend."""
        return self.target or self.name

    def reported_names(self) -> frozenset[str]:
        """Lower-case names a provider may report for this model: `name`, `target` with and
        without its provider prefix, and `aliases`."""
        names = {self.name, self.call_name, self.call_name.rsplit("/", 1)[-1], *self.aliases}
        return frozenset(n.lower() for n in names)

    def cost(self, usage: Usage) -> float:
        """USD cost of `usage` at this model's prices.

        Detail counts are parts of the totals: cache reads are the part of `input_tokens`
        priced at the cached rate (the input rate when the model has none), reasoning tokens
        are part of `output_tokens` and priced as output; nothing is added on top.
        """
        cached = min(usage.cached_input_tokens, usage.input_tokens)
        cached_price = (
            self.cached_input_cost_per_token
            if self.cached_input_cost_per_token is not None
            else self.input_cost_per_token
        )
        return (
            (usage.input_tokens - cached) * self.input_cost_per_token
            + cached * cached_price
            + usage.output_tokens * self.output_cost_per_token
        )

    def missing_capability(self, request: Request) -> str | None:
        """Name of the first capability `request` needs that this model lacks, else None."""
        # the model's flag first: a model that has the capability never looks at the request
        if not self.supports_tools and request.needs_tools:
            return "tools"
        if not self.supports_vision and request.needs_vision:
            return "vision"
        if not self.supports_json_schema and request.needs_json_schema:
            return "json_schema"
        return None


def provider_of_target(target: str | None) -> str | None:
    """The provider label of a LiteLLM-style `target` (`provider/model`): its first
    segment (`openai/gpt-4o` -> `openai`), or None when `target` is None or has no `/`."""
    if not target or "/" not in target:
        return None
    return target.split("/", 1)[0] or None


def model_family(name: str) -> str:
    """`name` lower-cased, without a provider prefix and a snapshot suffix (a date or a
    version number), to match a reported model with its catalog entry.

    >>> model_family("openai/gpt-4o-2024-08-06"), model_family("claude-3-5-sonnet@20241022")
    ('gpt-4o', 'claude-3-5-sonnet')
    """
    return _SNAPSHOT.sub("", name.rsplit("/", 1)[-1].lower())


@dataclass(frozen=True, slots=True)
class ServedModel:
    """The catalog's reading of the model name a provider reported for one call.

    `model` is the entry whose prices apply: the served model when the catalog knows it,
    else the requested one (`known` False: the real price is unknown, so the cost is a
    floor estimate). `substituted` is True when the reported name is neither a name of the
    requested model nor a snapshot of one: the provider says another model served the call.
    """

    model: ModelInfo
    substituted: bool
    known: bool


def estimate_tokens(model: str, request: Request) -> int:
    """Cheap input-token estimate: about 4 characters per token plus 4 per message."""
    chars = sum([len(m.text) for m in request.messages])
    return math.ceil(chars / 4) + 4 * len(request.messages)


@lru_cache(maxsize=1)
def litellm_model_map() -> Mapping[str, Mapping[str, Any]]:
    """LiteLLM's model map as installed, or {} when LiteLLM is not installed.

    The path can be overridden with `MODELROUTE_MODEL_MAP` (a JSON file of the same shape).
    """
    path = os.environ.get("MODELROUTE_MODEL_MAP")
    if not path:
        spec = importlib.util.find_spec("litellm")
        if spec is None or spec.origin is None:
            return {}
        path = os.path.join(os.path.dirname(spec.origin), LITELLM_MAP_FILE)
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as fh:
        data: dict[str, Mapping[str, Any]] = json.load(fh)
    data.pop("sample_spec", None)
    return data


def model_info_from_map(name: str, entry: Mapping[str, Any]) -> ModelInfo:
    """Build a ModelInfo from one LiteLLM model-map entry."""
    return ModelInfo(
        name=name,
        provider=entry.get("litellm_provider"),
        target=name,
        input_cost_per_token=float(entry.get("input_cost_per_token") or 0.0),
        output_cost_per_token=float(entry.get("output_cost_per_token") or 0.0),
        cached_input_cost_per_token=entry.get("cache_read_input_token_cost"),
        max_input_tokens=entry.get("max_input_tokens"),
        max_output_tokens=entry.get("max_output_tokens"),
        supports_tools=bool(entry.get("supports_function_calling", False)),
        supports_vision=bool(entry.get("supports_vision", False)),
        supports_json_schema=bool(entry.get("supports_response_schema", False)),
        supports_assistant_prefill=bool(entry.get("supports_assistant_prefill", False)),
    )


class Catalog:
    """Models by name. Lookups of unknown names raise `UnknownModelError`.

    `token_counter` estimates input tokens for context-window checks and budget
    reservations; the default is `estimate_tokens`, the LiteLLM adapter injects
    `litellm.token_counter`. Fit checks (`input_tokens_over`) skip the count when a cheap
    upper bound already fits: only for `estimate_tokens` and counters that declare one
    (`modelroute.token_bound.BoundedTokenCounter`); any other counter is always called.
    """

    def __init__(
        self, models: Iterable[ModelInfo] = (), token_counter: TokenCounter | None = None
    ) -> None:
        self._models: dict[str, ModelInfo] = {m.name: m for m in models}
        self.token_counter = token_counter or estimate_tokens
        self._warned: set[tuple[str, str]] = set()
        # (requested, reported) -> ServedModel: answers keep reporting the same few names;
        # emptied whenever a model is added or replaced
        self._served: dict[tuple[str, str], ServedModel] = {}

    @classmethod
    def from_litellm(cls, names: Iterable[str] = ()) -> Catalog:
        """A catalog of the named models from LiteLLM's model map.

        Raises UnknownModelError (path `models`) for a name the map lacks.
        """
        data = litellm_model_map()
        models = []
        for name in names:
            if name not in data:
                raise UnknownModelError("models", name)
            models.append(model_info_from_map(name, data[name]))
        return cls(models)

    def add(self, model: ModelInfo) -> None:
        """Add or replace a model."""
        self._models[model.name] = model
        self._served.clear()

    def override(self, name: str, **changes: Any) -> ModelInfo:
        """Replace fields of a known model; returns the new entry."""
        updated = replace(self.get(name), **changes)
        self._models[name] = updated
        self._served.clear()
        return updated

    def get(self, name: str, path: str = "model") -> ModelInfo:
        """The model named `name`; raises UnknownModelError naming `path`."""
        try:
            return self._models[name]
        except KeyError:
            raise UnknownModelError(path, name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._models

    def __iter__(self) -> Any:
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    def names(self) -> list[str]:
        """Model names in insertion order."""
        return list(self._models)

    def served_by(self, requested: ModelInfo, reported: str | None) -> ServedModel:
        """Which catalog model served a call to `requested`, by the name the provider reported.

        Exact names (`ModelInfo.reported_names`) win over families (`model_family`, which
        drops dated snapshots), and the requested model wins ties. A reported name the
        catalog does not know is priced at `requested`'s rates with `known` False, and
        logged once per (requested, reported) pair as a warning.
        """
        if not reported:
            return ServedModel(requested, substituted=False, known=True)
        if self._models.get(requested.name) is not requested:  # not this catalog's entry
            return self._match_served(requested, reported)
        key = (requested.name, reported)
        served = self._served.get(key)
        if served is None:
            served = self._served[key] = self._match_served(requested, reported)
        return served

    def _match_served(self, requested: ModelInfo, reported: str) -> ServedModel:
        name, family = reported.lower(), model_family(reported)

        def exact(model: ModelInfo) -> bool:
            return name in model.reported_names()

        def same_family(model: ModelInfo) -> bool:
            return family in {model_family(n) for n in model.reported_names()}

        for same in (exact, same_family):
            if same(requested):
                return ServedModel(requested, substituted=False, known=True)
            match = next((m for m in self._models.values() if same(m)), None)
            if match is not None:  # a dated entry of the requested model is no substitution
                return ServedModel(match, substituted=not same_family(requested), known=True)
        if (requested.name, reported) not in self._warned:
            self._warned.add((requested.name, reported))
            logger.warning(
                "model %r answered as %r, which the catalog does not know: priced at %r's "
                "rates as a floor; add it to the catalog, or as an alias if it is the same model",
                requested.name,
                reported,
                requested.name,
            )
        return ServedModel(requested, substituted=True, known=False)

    @property
    def token_counter(self) -> TokenCounter:
        """(model name, request) -> input tokens; setting it also picks its upper bound."""
        return self._token_counter

    @token_counter.setter
    def token_counter(self, counter: TokenCounter) -> None:
        self._token_counter = counter
        self._token_bound: TokenBound | None = (
            text_token_bound
            if counter is estimate_tokens
            else counter.upper_bound
            if isinstance(counter, BoundedTokenCounter)
            else None
        )

    def estimate_input_tokens(self, model: str, request: Request) -> int:
        """Estimated input tokens of `request` for `model` (the exact count of the counter)."""
        return self.token_counter(self.get(model).call_name, request)

    def input_tokens_over(self, model: str, request: Request, limit: int) -> int | None:
        """None when `request` fits in `limit` input tokens for `model`, else its estimated
        input tokens (an int > `limit`, the same as `estimate_input_tokens`).

        When the counter's upper bound (`token_counter`) is <= `limit`, the request fits
        without being counted. Raises UnknownModelError for an unknown `model`.
        """
        name = self.get(model).call_name
        if self._token_bound is not None:
            bound = self._token_bound(name, request)
            if bound is not None and bound <= limit:
                return None
        tokens = self.token_counter(name, request)
        return tokens if tokens > limit else None
