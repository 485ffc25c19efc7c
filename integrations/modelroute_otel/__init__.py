"""modelroute's OpenTelemetry adapter: spans and metrics for every routed request.

>>> from opentelemetry.sdk.trace import TracerProvider
>>> from modelroute_otel import OTelObserver
>>> observer = OTelObserver(tracer_provider=TracerProvider())  # Router(..., observers=[observer])

One route span (`modelroute.route {route}`) per request with one `chat {model}` child span
per provider call, GenAI semantic-convention attributes plus `modelroute.*` ones, the GenAI
client metrics plus modelroute's cost/fallback/request/breaker metrics, message content
only when opted in. `setup()` builds OTLP-exporting providers from the standard
`OTEL_*` variables. Needs the `otel` extra; never imports LiteLLM or LangChain.
"""

from __future__ import annotations

from modelroute_otel import attributes
from modelroute_otel.content import capture_from_env, redact
from modelroute_otel.metrics import DURATION_BUCKETS, SCOPE, TOKEN_BUCKETS
from modelroute_otel.observer import OTelObserver
from modelroute_otel.providers import Telemetry, parse_headers, setup
from modelroute_otel.transitions import BreakerTransitionSink

__all__ = [
    "DURATION_BUCKETS",
    "SCOPE",
    "TOKEN_BUCKETS",
    "BreakerTransitionSink",
    "OTelObserver",
    "Telemetry",
    "attributes",
    "capture_from_env",
    "parse_headers",
    "redact",
    "setup",
]
