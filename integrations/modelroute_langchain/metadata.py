"""What a routed call tells LangChain about itself: the router run's metadata and the
answer's `response_metadata`, both from the `Decision` record.

Keys (with a `modelroute_` prefix in run metadata, nested under `"modelroute"` in
`response_metadata`): `route`, `request_id`, `outcome`, `requested_model` (the route's
model that answered), `responding_model` (the model the provider says served it),
`fallback_reasons` (every attempt that did not answer, in order), `attempts` (calls made)
and `cost_usd` (every call's cost summed). Model names, reasons and numbers only: never
error messages, prompts or credentials.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk

from modelroute.records import Decision

__all__ = ["add_run_metadata", "route_chunk", "summary", "with_route_metadata"]


def summary(decision: Decision) -> dict[str, Any]:
    """The decision's facts LangChain callers see."""
    answered = decision.answering_attempt
    return {
        "route": decision.route,
        "request_id": decision.request_id,
        "outcome": decision.outcome.value,
        "requested_model": answered.model if answered else None,
        "responding_model": (answered.response_model or answered.model) if answered else None,
        "fallback_reasons": list(decision.fallback_reasons),
        "attempts": len(decision.models_attempted),
        "cost_usd": decision.cost_usd,
    }


def add_run_metadata(run_manager: Any, decision: Decision | None) -> None:
    """Add the decision's facts to the router run's metadata before the run ends.

    Callbacks receive a run's metadata when it starts; tracers keep the run and send it
    when it ends (LangSmith included). Facts known only at the end are added to the run
    each tracer keeps (`run_map`), and to the run manager's own metadata dict, which
    LangChain hands to handlers as is when it is not empty.
    """
    if decision is None or run_manager is None:
        return
    facts = {f"modelroute_{k}": v for k, v in summary(decision).items() if v is not None}
    metadata = getattr(run_manager, "metadata", None)
    if isinstance(metadata, dict):
        metadata.update(facts)
    run_id = str(getattr(run_manager, "run_id", ""))
    for handler in getattr(run_manager, "handlers", ()):
        runs = getattr(handler, "run_map", None)
        run = runs.get(run_id) if isinstance(runs, dict) else None
        extra = getattr(run, "extra", None)
        if isinstance(extra, dict):
            extra.setdefault("metadata", {}).update(facts)


def with_route_metadata(message: AIMessage, decision: Decision) -> AIMessage:
    """`message` with the decision's facts under `response_metadata["modelroute"]`, and the
    responding model as `model_name` when the provider reported none."""
    facts = summary(decision)
    metadata = {**message.response_metadata, "modelroute": facts}
    if facts["responding_model"] and not metadata.get("model_name"):
        metadata["model_name"] = facts["responding_model"]
    return message.model_copy(update={"response_metadata": metadata})


def route_chunk(decision: Decision) -> AIMessageChunk:
    """The last chunk of a routed message stream: no content, only the decision's facts (a
    key no provider chunk carries, so merging the chunks keeps it intact)."""
    return AIMessageChunk(content="", response_metadata={"modelroute": summary(decision)})
