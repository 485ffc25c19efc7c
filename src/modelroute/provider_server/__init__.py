"""A local OpenAI-compatible provider server with fault injection, for tests, demos and benchmarks.

Needs the `server` extra (aiohttp); `import modelroute` never imports this package.

    from modelroute.provider_server import ModelScript, ProviderServer, rate_limited

    with ProviderServer({"m-a": ModelScript(answer="hi")}).running() as srv:
        srv.set_faults("m-a", [rate_limited(retry_after=2), 503])  # next two requests fail
        ...  # point an OpenAI client at srv.base_url
        assert srv.calls("m-a") == 3
"""

from modelroute.provider_server.app import FAULT_HEADER
from modelroute.provider_server.fault_helpers import (
    REFUSAL_TEXT,
    auth_error,
    content_filter,
    context_length_exceeded,
    empty_content,
    invalid_param,
    model_deprecated,
    model_not_found,
    null_content,
    openai_error_body,
    rate_limited,
    refusal,
    server_error,
    service_unavailable,
    status_fault,
    whitespace_content,
)
from modelroute.provider_server.fault_specs import (
    FAULT_NAMES,
    FaultSpec,
    FaultSpecError,
    parse_fault,
)
from modelroute.provider_server.faults import (
    ContentOverride,
    DropConnection,
    Fault,
    Healthy,
    HttpError,
    MalformedChunk,
    MalformedJson,
    NoDoneSentinel,
    NoResponse,
    OmitUsage,
    RejectPrefill,
    SlowFirstToken,
    StreamCut,
    StreamStall,
)
from modelroute.provider_server.request_log import RequestRecord
from modelroute.provider_server.runner import ProviderServer
from modelroute.provider_server.scripts import (
    AnswerRule,
    ModelScript,
    ScriptError,
    ToolCall,
    Usage,
    default_scripts,
    load_scripts,
    scripts_from_dict,
)

__all__ = [
    "FAULT_HEADER",
    "FAULT_NAMES",
    "REFUSAL_TEXT",
    "AnswerRule",
    "ContentOverride",
    "DropConnection",
    "Fault",
    "FaultSpec",
    "FaultSpecError",
    "Healthy",
    "HttpError",
    "MalformedChunk",
    "MalformedJson",
    "ModelScript",
    "NoDoneSentinel",
    "NoResponse",
    "OmitUsage",
    "ProviderServer",
    "RejectPrefill",
    "RequestRecord",
    "ScriptError",
    "SlowFirstToken",
    "StreamCut",
    "StreamStall",
    "ToolCall",
    "Usage",
    "auth_error",
    "content_filter",
    "context_length_exceeded",
    "default_scripts",
    "empty_content",
    "invalid_param",
    "load_scripts",
    "model_deprecated",
    "model_not_found",
    "null_content",
    "openai_error_body",
    "parse_fault",
    "rate_limited",
    "refusal",
    "scripts_from_dict",
    "server_error",
    "service_unavailable",
    "status_fault",
    "whitespace_content",
]
