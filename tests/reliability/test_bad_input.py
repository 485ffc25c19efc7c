"""Bad input never escapes as a traceback from deep inside, and never hangs.

Property-based (hypothesis) over the YAML config and the request shapes: malformed or
unknown fields, wrong types, empty message lists, huge prompts beyond every context window,
invalid UTF-8, negative limits. A config problem must be a `ConfigError` naming its path; a
routed request must end with an answer or a `ModelRouteError`; a request the caller built
wrong must fail where it is built, with a `ValueError`/`TypeError` that names the field.

Known product bugs are listed in `KNOWN_BUGS` and pinned by strict xfail tests, so the
properties still catch anything new and the pins fail once the bugs are fixed.
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
from modelroute.errors import AllAttemptsFailed, BadRequest, ConfigError, ModelRouteError
from modelroute.route import Route
from modelroute.router import Router
from modelroute.types import Request

SETTINGS = settings(
    max_examples=150,
    deadline=5000,  # ms per example: a hang fails the test instead of stalling CI
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
KNOWN_BUGS: tuple[tuple[type[BaseException], str], ...] = (
    # route.py Route.__post_init__: an empty model list is a ValueError without its path
    (ValueError, "has no models"),
    # breaker.py BreakerConfig.__post_init__: cross-field check outside the config schema
    (ValueError, "BreakerConfig."),
)


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
    assert time.monotonic() - start < 5


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


@pytest.mark.xfail(
    strict=True,
    raises=UnicodeDecodeError,
    reason="BUG config.py _read_file: a config file that is not UTF-8 raises a raw "
    "UnicodeDecodeError, not a ConfigError naming the file",
)
def test_a_config_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "modelroute.yaml"
    path.write_bytes(b"routes:\n  main: {models: [\xff\xfe]}\n")
    with pytest.raises(ConfigError):
        Router.from_config(path, backend=_backend())


@pytest.mark.parametrize(
    ("where", "patch", "path"),
    [
        (("routes", "main"), {"models": []}, "routes.main.models"),
        (("breaker",), {"cooldown_s": 30, "max_cooldown_s": 1}, "breaker.max_cooldown_s"),
    ],
    ids=["empty_route", "max_cooldown_below_cooldown"],
)
@pytest.mark.xfail(
    strict=True,
    raises=ValueError,
    reason="BUG route.py Route.__post_init__ / breaker.py BreakerConfig.__post_init__: these "
    "raise a plain ValueError from deep inside instead of a ConfigError naming the path",
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
    """Build a request and route it; typed endings only, well within two seconds. A refusal
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
    assert time.monotonic() - start < 2


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


@pytest.mark.xfail(
    strict=True,
    reason="BUG types.py Message.from_dict/Request.of: messages of the wrong shape (content an "
    "int, bytes or a list of strings, a message that is a string, a dict instead of a list) "
    "are accepted and fail later inside routing (Message.text / has_image) with TypeError or "
    "AttributeError that names no field",
)
@SETTINGS
@given(messages=st.lists(any_message | anything, max_size=3) | anything)
def test_any_request_shape_fails_where_it_is_built(messages: Any) -> None:
    _check_request(lambda: Request.of(messages), _router(), name_the_field=True)


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": 5}],
        [{"role": "user", "content": b"\xff\xfe"}],
        [{"role": "user", "content": ["plain string part"]}],
        {"role": "user", "content": "a dict, not a list"},
        ["a list of strings"],
    ],
    ids=["content_int", "content_bytes", "content_str_parts", "dict_not_list", "str_items"],
)
@pytest.mark.xfail(
    strict=True, reason="BUG types.py: see test_any_request_shape_fails_where_it_is_built"
)
def test_wrong_message_shapes_are_refused_naming_the_field(messages: Any) -> None:
    with pytest.raises((ValueError, TypeError)) as info:
        Request.of(messages)
    assert any(word in str(info.value) for word in ("message", "content", "role"))


def test_empty_and_roleless_messages_are_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="at least one message"):
        Request.of([])
    with pytest.raises(ValueError, match="role"):
        Request.of([{"content": "no role"}])
    with pytest.raises(TypeError, match="bogus"):
        Request.of("hi", bogus=1)


@pytest.mark.xfail(
    strict=True,
    reason="BUG: an invalid JSON schema on the request is not checked up front: every model "
    "is called and paid for, then each answer is rejected as invalid_output:json_schema",
)
def test_an_invalid_json_schema_is_refused_before_any_call() -> None:
    router = _router()
    with pytest.raises((ValueError, TypeError, ConfigError)):
        router.complete(Request.of("hi", json_schema={"type": 5}))
    assert router.backend.calls == []  # type: ignore[attr-defined]


def test_a_prompt_beyond_every_context_window_is_refused_without_a_call() -> None:
    router = _router()
    start = time.monotonic()
    with pytest.raises(AllAttemptsFailed) as info:
        router.complete("word " * 1_000_000)
    assert time.monotonic() - start < 2
    assert [a.reason for a in info.value.attempts] == ["context_window", "context_window"]
    assert router.backend.calls == []  # type: ignore[attr-defined]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore:Item .* `ReadOnly` qualifier:UserWarning")
@pytest.mark.xfail(
    strict=True,
    reason="BUG modelroute_litellm/errors.py map_exception: a prompt that cannot be encoded "
    "(a lone surrogate, i.e. invalid UTF-8) fails in the client before any byte is sent, yet "
    "is mapped to ProviderUnavailable (reason unavailable: retried, falls back, counts "
    "against every breaker) instead of BadRequest; no Attempt matches a server call",
)
def test_invalid_utf8_over_http_is_the_callers_bad_request(provider_server: Any) -> None:
    from modelroute_litellm import LiteLLMBackend

    catalog = Catalog(ModelInfo(n, target=f"openai/{n}") for n in ("m-a", "m-b"))
    router = Router(
        [Route("r", ("m-a", "m-b"))],
        backend=LiteLLMBackend(api_base=provider_server.base_url, api_key="sk-bad-input"),
        catalog=catalog,
    )
    with pytest.raises(AllAttemptsFailed) as info:
        asyncio.run(router.acomplete("lone surrogate \ud800 here"))
    assert isinstance(info.value.__cause__, BadRequest)
    assert [a.reason for a in info.value.attempts] == ["bad_request"]


def test_nan_and_negative_sampling_values_do_not_break_routing() -> None:
    # passed through to the provider, which judges them (a 400 is a terminal BadRequest)
    out = _router().complete(Request.of("hi", temperature=math.nan, max_tokens=-1))
    assert out.text == "answer from m-a"
