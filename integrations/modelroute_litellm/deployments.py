"""LiteLLM deployments and call kwargs, read as modelroute records.

Shared by the routing strategy, the callback and `routes.py`, so each LiteLLM shape is read
in one place:

- `model_info_for(deployment)`: a LiteLLM Router deployment (`{"model_name", "litellm_params",
  "model_info"}`) -> a modelroute `ModelInfo`: prices, context window and capabilities from
  the deployment's own `litellm_params` / `model_info`, else from LiteLLM's model map (read as
  data, `modelroute.catalog.litellm_model_map`), else modelroute's defaults.
- `request_from_kwargs(kwargs)`: LiteLLM's call kwargs (`messages`, `tools`, `response_format`,
  `max_tokens`, `user`, `metadata`...) -> a modelroute `Request`.
- `deployment_key` / `deployment_tier`: the breaker key and the classifier tier of a deployment.

Importing this module does not import LiteLLM.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modelroute.catalog import ModelInfo, litellm_model_map, model_info_from_map
from modelroute.types import JSONDict, Message, Request

TIER_KEY = "modelroute_tier"
"""`model_info` key giving a deployment's tier (0 = cheapest) for classifier routing."""

_REQUEST_KEYS = frozenset(
    {"model", "messages", "tools", "response_format", "max_tokens", "max_completion_tokens"}
    | {"temperature", "user", "metadata", "stream", "stream_options", "litellm_trace_id"}
    | {"litellm_call_id", "_context_compaction_state", "litellm_logging_obj", "input"}
)


def mapping(value: Any) -> Mapping[str, Any]:
    """`value` when it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def litellm_params(deployment: Mapping[str, Any]) -> Mapping[str, Any]:
    """The deployment's `litellm_params`."""
    return mapping(deployment.get("litellm_params"))


def deployment_model(deployment: Mapping[str, Any]) -> str:
    """The LiteLLM model a deployment calls, e.g. `openai/gpt-4o-mini`."""
    return str(litellm_params(deployment).get("model") or deployment.get("model_name") or "")


def deployment_id(deployment: Mapping[str, Any]) -> str | None:
    """The deployment's id (`model_info.id`; the Router sets one for every deployment)."""
    ident = mapping(deployment.get("model_info")).get("id")
    return str(ident) if ident else None


def deployment_key(deployment: Mapping[str, Any]) -> str:
    """The key of a deployment's circuit breaker and latency estimate: its LiteLLM model, the
    name its `Attempt` records carry (replicas of one model share them)."""
    return deployment_model(deployment)


def _map_entry(model: str) -> Mapping[str, Any]:
    data = litellm_model_map()
    entry = data.get(model)
    if entry is None and "/" in model:
        entry = data.get(model.split("/", 1)[1])
    return mapping(entry)


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def model_info_for(deployment: Mapping[str, Any]) -> ModelInfo:
    """A `ModelInfo` for one deployment, named by its LiteLLM model (`deployment_model`).

    Deployment fields win over LiteLLM's model map: `input_cost_per_token`,
    `output_cost_per_token` (USD per token) in `litellm_params` or `model_info`;
    `max_input_tokens`, `supports_function_calling`, `supports_vision`,
    `supports_response_schema` in `model_info`. The provider is the model's prefix.
    """
    model = deployment_model(deployment)
    params = litellm_params(deployment)
    info = mapping(deployment.get("model_info"))
    base = model_info_from_map(model, _map_entry(model))

    def pick(key: str, default: Any) -> Any:
        return _first(params.get(key), info.get(key), default)

    provider = model.split("/", 1)[0] if "/" in model else base.provider
    cached = pick("cache_read_input_token_cost", base.cached_input_cost_per_token)
    return ModelInfo(
        name=model,
        provider=str(params.get("custom_llm_provider") or provider or "") or None,
        target=model,
        input_cost_per_token=float(pick("input_cost_per_token", base.input_cost_per_token)),
        output_cost_per_token=float(pick("output_cost_per_token", base.output_cost_per_token)),
        cached_input_cost_per_token=None if cached is None else float(cached),
        max_input_tokens=_first(info.get("max_input_tokens"), base.max_input_tokens),
        max_output_tokens=_first(info.get("max_output_tokens"), base.max_output_tokens),
        supports_tools=bool(
            _first(info.get("supports_function_calling"), _map_flag(model, "function_calling"))
        ),
        supports_vision=bool(_first(info.get("supports_vision"), base.supports_vision)),
        supports_json_schema=bool(
            _first(info.get("supports_response_schema"), _map_flag(model, "response_schema"))
        ),
        api_base=params.get("api_base"),
    )


def _map_flag(model: str, name: str) -> bool:
    """A capability from LiteLLM's map; True when the map does not know the model (a local or
    private model is assumed capable until its `model_info` says otherwise)."""
    entry = _map_entry(model)
    if not entry:
        return True
    return bool(entry.get(f"supports_{name}", False))


def deployment_tier(deployment: Mapping[str, Any]) -> float:
    """The deployment's tier: `model_info.modelroute_tier` when set, else its blended price
    (input + output USD per token), so cheaper deployments are lower tiers."""
    tier = mapping(deployment.get("model_info")).get(TIER_KEY)
    if isinstance(tier, int | float) and not isinstance(tier, bool):
        return float(tier)
    info = model_info_for(deployment)
    return info.input_cost_per_token + info.output_cost_per_token


def json_schema_of(response_format: Any) -> JSONDict | None:
    """The JSON schema of an OpenAI `response_format` of type `json_schema`, else None."""
    fmt = mapping(response_format)
    if fmt.get("type") != "json_schema":
        return None
    schema = mapping(fmt.get("json_schema")).get("schema")
    return dict(schema) if isinstance(schema, Mapping) else None


def _tags(metadata: Mapping[str, Any]) -> tuple[str, ...]:
    tags = metadata.get("tags")
    if isinstance(tags, Sequence) and not isinstance(tags, str):
        return tuple(str(t) for t in tags)
    return ()


def _messages(raw: Any) -> tuple[Message, ...]:
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        return ()
    return tuple(Message.from_dict(m) for m in raw if isinstance(m, Mapping) and "role" in m)


def request_from_kwargs(kwargs: Mapping[str, Any]) -> Request | None:
    """The modelroute `Request` of LiteLLM call kwargs, or None when they carry no chat
    messages (embeddings, ...).

    `response_format` of type `json_schema` becomes `json_schema`; `user` and the
    `metadata` keys `team`, `task`, `tags`, `prompt_version` become routing metadata;
    other provider kwargs (`top_p`, ...) go to `params`. LiteLLM's own bookkeeping keys
    are left out.
    """
    messages = _messages(kwargs.get("messages"))
    if not messages:
        return None
    metadata = mapping(kwargs.get("metadata"))
    tools = kwargs.get("tools")
    max_tokens = _first(kwargs.get("max_tokens"), kwargs.get("max_completion_tokens"))
    temperature = kwargs.get("temperature")
    params = {
        k: v
        for k, v in kwargs.items()
        if k not in _REQUEST_KEYS and not k.startswith("_") and not k.startswith("litellm_")
    }
    response_format = kwargs.get("response_format")
    schema = json_schema_of(response_format)
    if response_format is not None and schema is None:
        params["response_format"] = response_format
    user = kwargs.get("user") or metadata.get("user")
    return Request(
        messages=messages,
        max_tokens=int(max_tokens) if isinstance(max_tokens, int | float) else None,
        temperature=float(temperature) if isinstance(temperature, int | float) else None,
        tools=tuple(dict(t) for t in tools) if isinstance(tools, Sequence) and tools else None,
        json_schema=schema,
        params=params,
        user=str(user) if user else None,
        team=_str_or_none(metadata.get("team")),
        task=_str_or_none(metadata.get("task")),
        tags=_tags(metadata),
        prompt_version=_str_or_none(metadata.get("prompt_version")),
    )


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
