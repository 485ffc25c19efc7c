"""modelroute: send each LLM call to the cheapest model that can handle it.

Public names are imported lazily (on first attribute access) so that `import modelroute`
stays cheap and pulls in no framework.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "Message": "modelroute.types",
    "Request": "modelroute.types",
    "Response": "modelroute.types",
    "Usage": "modelroute.types",
    "StreamChunk": "modelroute.types",
    "FallbackReason": "modelroute.reasons",
    "Attempt": "modelroute.records",
    "AttemptOutcome": "modelroute.records",
    "Decision": "modelroute.records",
    "RequestOutcome": "modelroute.records",
    "Verdict": "modelroute.records",
    "BreakerTransition": "modelroute.records",
    "ModelInfo": "modelroute.catalog",
    "Catalog": "modelroute.catalog",
    "Backend": "modelroute.backend",
    "FakeBackend": "modelroute.backend",
    "ModelRouteError": "modelroute.errors",
    "ConfigError": "modelroute.errors",
    "UnknownModelError": "modelroute.errors",
    "ProviderError": "modelroute.errors",
    "AllAttemptsFailed": "modelroute.errors",
    "StreamInterrupted": "modelroute.errors",
    "StreamRejected": "modelroute.errors",
    "InvalidRequest": "modelroute.errors",
    "Segment": "modelroute.records",
}

__all__ = [
    "AllAttemptsFailed",
    "Attempt",
    "AttemptOutcome",
    "Backend",
    "BreakerTransition",
    "Catalog",
    "ConfigError",
    "Decision",
    "FakeBackend",
    "FallbackReason",
    "InvalidRequest",
    "Message",
    "ModelInfo",
    "ModelRouteError",
    "ProviderError",
    "Request",
    "RequestOutcome",
    "Response",
    "Segment",
    "StreamChunk",
    "StreamInterrupted",
    "StreamRejected",
    "UnknownModelError",
    "Usage",
    "Verdict",
]

if TYPE_CHECKING:
    from modelroute.backend import Backend, FakeBackend
    from modelroute.catalog import Catalog, ModelInfo
    from modelroute.errors import (
        AllAttemptsFailed,
        ConfigError,
        InvalidRequest,
        ModelRouteError,
        ProviderError,
        StreamInterrupted,
        StreamRejected,
        UnknownModelError,
    )
    from modelroute.reasons import FallbackReason
    from modelroute.records import (
        Attempt,
        AttemptOutcome,
        BreakerTransition,
        Decision,
        RequestOutcome,
        Segment,
        Verdict,
    )
    from modelroute.types import Message, Request, Response, StreamChunk, Usage


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'modelroute' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
