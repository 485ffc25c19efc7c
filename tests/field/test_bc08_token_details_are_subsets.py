"""BC-08: cached, image and reasoning counts are parts of the totals, not extra tokens.

Route [m-mid] (input $2/M, cached input $0.50/M, output $8/M; no image or reasoning rate),
baseline m-strong (no cached rate). The provider server reports 10,000 prompt tokens of which
8,000 cached and 3,000 image, 1,000 completion tokens of which 600 reasoning, 11,000 in all;
without streaming and streaming with `include_usage` (usage on the final chunk).
"""

from __future__ import annotations

import pytest

from field_routing import FILTERS, MODES, ask, make_router, model
from helpers import PER_M
from modelroute.provider_server import ModelScript, ProviderServer, Usage
from modelroute.route import Route
from modelroute.types import Usage as RouteUsage
from modelroute_litellm.convert import usage_from

pytestmark = [pytest.mark.filterwarnings(f) for f in FILTERS]

REPORTED = Usage(
    prompt_tokens=10_000,
    completion_tokens=1_000,
    total_tokens=11_000,
    prompt_tokens_details={"cached_tokens": 8_000, "image_tokens": 3_000},
    completion_tokens_details={"reasoning_tokens": 600},
)
COST = 2_000 * 2.00 * PER_M + 8_000 * 0.50 * PER_M + 1_000 * 8.00 * PER_M  # $0.016
BASELINE = 10_000 * 5.00 * PER_M + 1_000 * 20.00 * PER_M  # $0.070
WRONG = (0.032, 0.0208)  # cached added on top; reasoning added on top


@pytest.mark.parametrize("provider_server", [{"m-mid": ModelScript(usage=REPORTED)}], indirect=True)
@pytest.mark.parametrize("mode", MODES)
def test_details_are_priced_inside_the_totals(provider_server: ProviderServer, mode: str) -> None:
    srv = provider_server
    router = make_router(
        srv, [Route("mid", ("m-mid",))], names=("m-mid", "m-strong"), baseline="m-strong"
    ).router
    out = ask(router, mode, "Describe the picture.")
    d = out.decision
    (attempt,) = d.attempts
    usage = attempt.usage
    assert usage == RouteUsage(
        input_tokens=10_000, output_tokens=1_000, cached_input_tokens=8_000, reasoning_tokens=600
    )
    assert usage.total_tokens == 11_000 != 19_600
    assert attempt.cost_usd == pytest.approx(COST, abs=1e-9)
    assert attempt.cost_usd == pytest.approx(0.016, abs=1e-9)
    assert d.cost_usd == pytest.approx(COST, abs=1e-9)
    assert all(abs(d.cost_usd - wrong) > 1e-6 for wrong in WRONG)
    assert d.baseline_cost_usd == pytest.approx(BASELINE, abs=1e-9)
    assert d.saving_usd == pytest.approx(0.054, abs=1e-9)
    logged = d.to_dict()["attempts"][0]["usage"]  # the JSONL decision log carries the same
    assert (logged["input_tokens"], logged["cached_input_tokens"]) == (10_000, 8_000)
    assert (logged["output_tokens"], logged["reasoning_tokens"]) == (1_000, 600)
    srv.wait_idle(5.0)
    assert srv.calls("m-mid") == 1


def test_cache_reads_reported_outside_input_give_the_same_cost() -> None:
    """Anthropic reports cache reads beside `input_tokens`, not inside it. Through LiteLLM's
    own Anthropic conversion, and as a raw Anthropic usage block, the same logical usage
    costs the same $0.016."""
    from litellm.llms.anthropic.chat.transformation import AnthropicConfig

    anthropic = {"input_tokens": 2_000, "cache_read_input_tokens": 8_000, "output_tokens": 1_000}
    via_litellm = usage_from(AnthropicConfig().calculate_usage(anthropic, None))
    raw = usage_from(anthropic)
    m_mid = model("m-mid")
    for usage in (via_litellm, raw):
        assert usage is not None
        assert (usage.input_tokens, usage.cached_input_tokens, usage.output_tokens) == (
            10_000,
            8_000,
            1_000,
        )
        assert m_mid.cost(usage) == pytest.approx(COST, abs=1e-9)
