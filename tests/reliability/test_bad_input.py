"""Bad input never escapes as a traceback from deep inside, and never hangs.

Property-based (hypothesis) over the YAML config and the request shapes: malformed or
unknown fields, wrong types, empty message lists, huge prompts beyond every context window,
invalid UTF-8, negative limits. A config problem must be a `ConfigError` naming its path; a
routed request must end with an answer or a `ModelRouteError`; a request the caller built
wrong must fail where it is built, with a `ValueError`/`TypeError` that names the field.

Known product bugs go in `KNOWN_BUGS` (pinned by strict xfail tests), so the properties
still catch anything new; it is empty now that the five pinned bugs are fixed.
"""

from __future__ import annotations

import asyncio
import copy
import math
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelroute.backend import FakeBackend
from modelroute.catalog import Catalog, ModelInfo
from modelroute.errors import (
    AllAttemptsFailed,
    BadRequest,
    ConfigError,
    InvalidRequest,
    ModelRouteError,
)
from modelroute.reasons import FallbackReason
from modelroute.route import Route
from modelroute.router import Router
from modelroute.types import Request

# Each check takes milliseconds; the bound catches a hang or a pathological slow path, with
# room for a loaded machine (speed itself is measured in bench/).
HANG_S = 10.0

SETTINGS = settings(
    max_examples=150,
    deadline=20_000,  # ms per example: a hang fails the test instead of stalling CI
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=True,
)

BASE: dict[str, Any] = {
    "baseline": "m-strong",
    "default_route": "main",
    "models": {
        "m-a": {
            "target": "openai/m-a",
            "input_cost_per_mtok": 1.0,
            "output_cost_per_mtok": 4.0,
            "context_window": 8000,
        },
        "m-b": {"input_cost_per_mtok": 2.0, "output_cost_per_mtok": 8.0},
        "m-strong": {"input_cost_per_mtok": 5.0, "output_cost_per_mtok": 20.0},
    },
    "routes": {
        "main": {
            "primary": "m-a",
            "fallbacks": ["m-b"],
            "validators": ["non_empty", {"min_length": 2}],
            "retries": 1,
            "backoff": {"base_s": 0.0, "max_s": 0.0},
            "timeouts": {"attempt_s": 5, "deadline_s": 20},
        },
        "cheap": {
            "models": ["m-b", "m-a"],
            "strategy": {"type": "threshold", "thresholds": [0.5]},
        },
    },
    "rules": [{"route": "cheap", "when": {"tags_any": ["bulk"], "max_input_tokens": 500}}],
    "breaker": {"failure_threshold": 3, "cooldown_s": 10},
}

# Known bugs: (exception type, message fragment) of errors that escape untyped today.
KNOWN_BUGS: tuple[tuple[type[BaseException], str], ...] = ()


def _known(exc: BaseException) -> bool:
    return any(isinstance(exc, kind) and part in str(exc) for kind, part in KNOWN_BUGS)


def _where(exc: BaseException) -> str:
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    return f"{Path(frame.filename).name}:{frame.lineno}"


def _backend() -> FakeBackend:
    return FakeBackend(lambda model, request: f"answer from {model.name}")


# -- the config ---------------------------------------------------------------------------

junk = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*path, i))


PATHS = [p for p in _paths(BASE) if p]


def _mutate(config: dict[str, Any], path: tuple[Any, ...], op: str, value: Any) -> None:
    *parents, last = path
    node: Any = config
    for key in parents:
        node = node[key]
    if op == "replace":
        node[last] = value
    elif op == "delete":
        del node[last]
    elif op == "add_key":  # an unknown key next to `last`
        if isinstance(node, dict):
            node[f"{last}_typo" if isinstance(last, str) else "extra"] = value
    else:  # negate a number: negative limits, prices, counts
        if isinstance(node[last], int | float) and not isinstance(node[last], bool):
            node[last] = -node[last] - 1


def _check_config(config: Any) -> None:
    """Build a router from `config` and route one request through it."""
    start = time.monotonic()
    try:
        router = Router.from_config(config, backend=_backend())
        router.complete(Request.of("hello", tags=("bulk",)))
    except ConfigError as exc:
        assert str(exc), "a ConfigError without a message"
        problems = getattr(exc, "problems", None) or [exc]
        assert all(p.path for p in problems) or str(exc).startswith("config must"), (
            f"a ConfigError that names no path: {exc}"
        )
    except ModelRouteError:
        pass  # the config is sound; the request was refused or failed in a typed way
    except Exception as exc:
        if not _known(exc):
            pytest.fail(f"untyped {type(exc).__name__} at {_where(exc)}: {exc}\n{config!r}")
    assert time.monotonic() - start < HANG_S


@SETTINGS
@given(
    path=st.sampled_from(PATHS),
    op=st.sampled_from(["replace", "delete", "add_key", "negate"]),
    value=junk,
)
def test_mutated_configs_fail_with_a_config_error_naming_the_path(
    path: tuple[Any, ...], op: str, value: Any
) -> None:
    config = copy.deepcopy(BASE)
    _mutate(config, path, op, value)
    _check_config(config)


@SETTINGS
@given(text=st.text(max_size=200))
def test_any_yaml_text_loads_or_fails_with_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "modelroute.yaml"
    path.write_text(text, encoding="utf-8")
    _check_config(path)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_config_file_that_is_not_utf8_is_a_config_error(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"modelroute{suffix}"
    raw = b"routes:\n  main: {models: [\xff\xfe]}\n"
    path.write_bytes(raw)
    with pytest.raises(ConfigError) as info:
        Router.from_config(path, backend=_backend())
    assert info.value.path == str(path)
    offset = raw.index(b"\xff")
    assert f"byte 0xff at offset {offset} (line 2)" in str(info.value)


@pytest.mark.parametrize(
    ("where", "patch", "path"),
    [
        (("routes", "main"), {"models": []}, "routes.main.models"),
        (("breaker",), {"cooldown_s": 30, "max_cooldown_s": 1}, "breaker.max_cooldown_s"),
    ],
    ids=["empty_route", "max_cooldown_below_cooldown"],
)
def test_cross_field_config_errors_name_their_path(
    where: tuple[str, ...], patch: dict[str, Any], path: str
) -> None:
    config = copy.deepcopy(BASE)
    _mutate(config, where, "replace", patch)
    with pytest.raises(ConfigError) as info:
        Router.from_config(config, backend=_backend())
    assert info.value.path == path


# -- requests -----------------------------------------------------------------------------

CATALOG = Catalog(
    [
        ModelInfo("m-a", input_cost_per_token=1e-6, max_input_tokens=8_000),
        ModelInfo("m-b", input_cost_per_token=2e-6, max_input_tokens=32_000),
    ]
)


def _router() -> Router:
    return Router([Route("r", ("m-a", "m-b"))], backend=_backend(), catalog=CATALOG)


def _check_request(
    build: Callable[[], Any], router: Router, *, stream: bool = False, name_the_field: bool = False
) -> None:
    """Build a request and route it; typed endings only, well within HANG_S. A refusal
    must come from where the request is built (and, with `name_the_field`, name a field)."""
    start = time.monotonic()
    try:
        request = build()
    except (ValueError, TypeError) as exc:
        # refused where the caller built it: the error must be raised at the boundary
        frames = [f.name for f in traceback.extract_tb(exc.__traceback__)]
        assert {"of", "from_dict", "__init__"} & set(frames[-2:]), (
            f"{type(exc).__name__} from deep inside ({_where(exc)}): {exc}"
        )
        if name_the_field:
            assert any(w in str(exc) for w in FIELD_WORDS), f"names no field: {exc!r}"
        return
    try:
        if stream:
            list(router.stream(request))
        else:
            router.complete(request)
    except ModelRouteError:
        pass
    except Exception as exc:
        pytest.fail(f"untyped {type(exc).__name__} at {_where(exc)}: {exc}")
    assert time.monotonic() - start < HANG_S


# Well-typed shapes with bad values: these must already be handled.
text = st.text(max_size=40)
part = st.fixed_dictionaries({"type": st.just("text"), "text": text})
good_message = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "system", "assistant"])},
    optional={"content": text | st.lists(part, max_size=3) | st.none(), "name": text},
)


@SETTINGS
@given(
    messages=st.lists(good_message, max_size=4) | text,
    max_tokens=st.none() | st.integers(-(10**9), 10**9),
    temperature=st.none() | st.floats(allow_nan=True, allow_infinity=True),
    tags=st.lists(text, max_size=3),
    stream=st.booleans(),
)
def test_well_typed_requests_end_typed(
    messages: Any, max_tokens: int | None, temperature: float | None, tags: list[str], stream: bool
) -> None:
    _check_request(
        lambda: Request.of(messages, max_tokens=max_tokens, temperature=temperature, tags=tags),
        _router(),
        stream=stream,
    )


# Any shape at all: wrong types anywhere in the messages.
anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10) | st.binary(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
any_message = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "tool"]) | anything},
    optional={key: anything for key in ("content", "name", "tool_calls", "tool_call_id", "x")},
)
FIELD_WORDS = ("message", "role", "content", "name", "tool_call")


@SETTINGS
@given(messages=st.lists(any_message | anything, max_size=3) | anything)
def test_any_request_shape_fails_where_it_is_built(messages: Any) -> None:
    _check_request(lambda: Request.of(messages), _router(), name_the_field=True)


@pytest.mark.parametrize(
    ("messages", "field", "problem"),
    [
        ([{"role": "user", "content": 5}], "messages[0].content", "got int"),
        ([{"role": "user", "content": b"\xff\xfe"}], "messages[0].content", "got bytes"),
        (
            [{"role": "user", "content": "ok"}, {"role": "user", "content": ["plain string"]}],
            "messages[1].content[0]",
            "got str",
        ),
        ({"role": "user", "content": "a dict, not a list"}, "messages", "got dict"),
        ([{"role": "user", "content": "ok"}, "a string"], "messages[1]", "got str"),
        ([{"role": 3, "content": "x"}], "messages[0].role", "got int"),
        ([{"role": "user", "content": [{"text": "x"}]}], "messages[0].content[0].type", ""),
        (
            [{"role": "user", "content": [{"type": "text", "text": 1}]}],
            "messages[0].content[0].text",
            "",
        ),
        ([{"role": "assistant", "tool_calls": "f()"}], "messages[0].tool_calls", "got str"),
        ([{"role": "assistant", "tool_calls": [1]}], "messages[0].tool_calls[0]", "got int"),
        ([{"role": "tool", "content": "x", "tool_call_id": 7}], "messages[0].tool_call_id", ""),
        ([{"role": "user", "content": "x", "name": ["a"]}], "messages[0].name", "got list"),
        ([{"content": "no role"}], "messages[0].role", "missing"),
    ],
    ids=[
        "content_int",
        "content_bytes",
        "content_str_parts",
        "dict_not_list",
        "str_items",
        "role_int",
        "part_without_type",
        "text_part_not_str",
        "tool_calls_str",
        "tool_call_not_dict",
        "tool_call_id_int",
        "name_list",
        "no_role",
    ],
)
def test_wrong_message_shapes_are_refused_naming_the_field(
    messages: Any, field: str, problem: str
) -> None:
    with pytest.raises(InvalidRequest) as info:
        Request.of(messages)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert problem in info.value.problem
    assert isinstance(info.value, ValueError) and isinstance(info.value, BadRequest)
    assert info.value.reason is FallbackReason.BAD_REQUEST


def test_a_message_built_directly_is_checked_too() -> None:
    from modelroute.types import Message

    with pytest.raises(InvalidRequest, match=r"^content: expected str or list"):
        Message("user", 5)  # type: ignore[arg-type]


def test_every_valid_openai_message_shape_is_accepted() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    request = Request.of(
        [
            {"role": "system", "content": "be brief", "name": "rules"},
            {"role": "user", "content": [{"type": "text", "text": "what is "}, image]},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "content": "42", "tool_call_id": "c1"},
            {"role": "assistant", "content": ({"type": "text", "text": "it is 42"},)},
            {"role": "user", "content": [{"type": "input_audio", "input_audio": {}}], "x": 1},
        ]
    )
    assert request.needs_vision
    assert request.messages[1].text == "what is "
    assert request.messages[2].tool_calls == (call,)
    assert request.messages[4].content == [{"type": "text", "text": "it is 42"}]
    vision = Catalog([ModelInfo("m-v", supports_vision=True, supports_tools=True)])
    out = Router([Route("r", ("m-v",))], backend=_backend(), catalog=vision).complete(request)
    assert out.text == "answer from m-v"


def test_empty_and_roleless_messages_are_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="at least one message"):
        Request.of([])
    with pytest.raises(ValueError, match="role"):
        Request.of([{"content": "no role"}])
    with pytest.raises(TypeError, match="bogus"):
        Request.of("hi", bogus=1)


@pytest.mark.parametrize(
    ("schema", "field"),
    [
        ({"type": 5}, "json_schema.type"),
        (
            {"type": "object", "properties": {"age": {"type": "integr"}}},
            "json_schema.properties.age.type",
        ),
        ({"$schema": 5}, "json_schema.$schema"),
        (True, "json_schema"),
    ],
    ids=["type_int", "nested_type", "schema_uri_int", "not_a_dict"],
)
@pytest.mark.parametrize("call", ["complete", "stream"])
def test_an_invalid_json_schema_is_refused_before_any_call(
    schema: Any, field: str, call: str
) -> None:
    router = _router()
    with pytest.raises(InvalidRequest) as info:
        getattr(router, call)(Request.of("hi", json_schema=schema))
    assert info.value.field == field
    assert router.backend.calls == []  # type: ignore[attr-defined]


def test_a_valid_json_schema_still_judges_the_answers() -> None:
    schema = {"type": "object", "required": ["a"]}
    router = Router(
        [Route("r", ("m-a", "m-b"))],
        backend=FakeBackend(lambda model, request: '{"a": 1}' if model.name == "m-b" else "{}"),
        catalog=CATALOG,
    )
    out = router.complete(Request.of("hi", json_schema=schema))
    assert out.text == '{"a": 1}'
    assert [a.reason for a in out.decision.attempts] == ["invalid_output:json_schema", None]


def test_a_prompt_beyond_every_context_window_is_refused_without_a_call() -> None:
    router = _router()
    start = time.monotonic()
    with pytest.raises(AllAttemptsFailed) as info:
        router.complete("word " * 1_000_000)
    assert time.monotonic() - start < HANG_S
    assert [a.reason for a in info.value.attempts] == ["context_window", "context_window"]
    assert router.backend.calls == []  # type: ignore[attr-defined]


def _http_router(provider_server: Any, **backend_kwargs: Any) -> Router:
    from modelroute_litellm import LiteLLMBackend

    catalog = Catalog(ModelInfo(n, target=f"openai/{n}") for n in ("m-a", "m-b"))
    backend = LiteLLMBackend(
        api_base=provider_server.base_url, api_key="sk-bad-input", **backend_kwargs
    )
    return Router([Route("r", ("m-a", "m-b"))], backend=backend, catalog=catalog)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore:Item .* `ReadOnly` qualifier:UserWarning")
@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ("lone surrogate \ud800 here", "messages[0].content"),
        (
            [
                {"role": "system", "content": "fine"},
                {"role": "user", "content": [{"type": "text", "text": "bad \udfff"}]},
            ],
            "messages[1].content[0].text",
        ),
    ],
    ids=["prompt", "content_part"],
)
def test_a_lone_surrogate_is_refused_before_any_call(
    provider_server: Any, messages: Any, field: str
) -> None:
    """Detected up front (request_check): every model would fail the same way, so no attempt
    is made, nothing is retried, no breaker hears of it, and no sink records a failure."""
    router = _http_router(provider_server)
    with pytest.raises(InvalidRequest) as info:
        asyncio.run(router.acomplete(messages))
    assert info.value.field == field
    assert "lone surrogate U+D" in info.value.problem
    str(info.value).encode("utf-8")  # the message itself never carries the surrogate
    assert provider_server.calls("m-a") == provider_server.calls("m-b") == 0
    assert router.breakers.states(router.clock.now()) == {}  # no model was even planned


@pytest.mark.parametrize(
    ("kwargs", "field", "problem"),
    [
        (
            {"tools": [{"type": "function", "function": {"name": "f", "description": "\ud800"}}]},
            "tools[0].function.description",
            "text cannot",
        ),
        ({"params": {"stop": ["ok", "x\udc80"]}}, "params.stop[1]", "U+DC80 at character 1"),
        ({"json_schema": {"type": "object", "\ud800": {}}}, "json_schema", "a key cannot"),
    ],
    ids=["tool_description", "param", "schema_key"],
)
def test_a_lone_surrogate_anywhere_sent_is_refused_naming_it(
    kwargs: dict[str, Any], field: str, problem: str
) -> None:
    router = _router()
    with pytest.raises(InvalidRequest) as info:
        router.complete(Request.of("a fine prompt", **kwargs))
    assert (info.value.field, problem in info.value.problem) == (field, True)
    assert router.backend.calls == []  # type: ignore[attr-defined]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore:Item .* `ReadOnly` qualifier:UserWarning")
def test_an_unencodable_call_over_http_is_the_callers_bad_request(provider_server: Any) -> None:
    """What the request check cannot see (here the backend's own extra kwargs) fails in the
    HTTP client before a byte is sent: modelroute_litellm maps it to the terminal BadRequest,
    not ProviderUnavailable (which would retry, fall back and count against every breaker)."""
    router = _http_router(provider_server, extra_kwargs={"stop": ["lone \ud800"]})
    with pytest.raises(AllAttemptsFailed) as info:
        asyncio.run(router.acomplete("a fine prompt"))
    assert isinstance(info.value.__cause__, BadRequest)
    assert [a.reason for a in info.value.attempts] == ["bad_request"]
    assert provider_server.calls("m-a") == provider_server.calls("m-b") == 0


def test_nan_and_negative_sampling_values_do_not_break_routing() -> None:
    # passed through to the provider, which judges them (a 400 is a terminal BadRequest)
    out = _router().complete(Request.of("hi", temperature=math.nan, max_tokens=-1))
    assert out.text == "answer from m-a"
