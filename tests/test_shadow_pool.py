"""Sync shadow copies run on at most `max_workers` daemon threads (`modelroute.shadow_pool`),
over real HTTP through LiteLLM: every copy queued behind the busy threads still runs, and
`abandon` drops (and counts) what is still pending, as interpreter exit does."""

from __future__ import annotations

import threading

import pytest

from litellm_helpers import local_model
from modelroute.catalog import Catalog
from modelroute.provider_server import ModelScript, ProviderServer
from modelroute.provider_server.faults import NoResponse
from modelroute.route import Route
from modelroute.router import Router
from modelroute.shadow import Shadow
from modelroute.shadow_pool import DaemonPool
from modelroute.sinks import MemorySink
from modelroute.types import Request
from modelroute_litellm import LiteLLMBackend

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:litellm")


def router_for(srv: ProviderServer) -> tuple[Router, MemorySink]:
    catalog = Catalog(local_model(name, srv.base_url) for name in ("m-a", "m-b"))
    sink = MemorySink()
    route = Route("r", ("m-a",), shadow=Shadow("m-b", fraction=1.0))
    backend = LiteLLMBackend(api_key="sk-local")
    return Router([route], backend=backend, catalog=catalog, sinks=[sink]), sink


def shadow_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("modelroute-shadow")]


def test_copies_beyond_the_worker_threads_wait_and_all_run(
    provider_server: ProviderServer,
) -> None:
    srv = provider_server
    router, sink = router_for(srv)
    answers = [router.complete(Request.of(f"question {i}", user="u1")) for i in range(5)]
    assert router.drain_shadows(timeout_s=60)

    copies = [d for d in sink.decisions if d.shadow_of is not None]
    assert sorted(d.shadow_of for d in copies) == sorted(a.decision.request_id for a in answers)
    assert all(d.responding_model == "m-b" for d in copies)
    assert srv.calls("m-b") == 5
    assert router.shadows.pool_threads <= router.shadows.max_workers == 2


def test_abandon_drops_running_and_queued_copies_on_daemon_threads() -> None:
    # its own server: the hanging copies end when it stops, and their threads are joined
    # before the test ends (a daemon thread still in LiteLLM at interpreter exit could hold
    # the import lock that the exit's own clean-up needs)
    scripts = {m: ModelScript() for m in ("m-a", "m-b")}
    with ProviderServer(scripts).running() as srv:
        srv.set_faults("m-b", [NoResponse()] * 3)  # each copy hangs until the server stops
        router, sink = router_for(srv)
        router.shadows.idle_s = 0.01  # threads end right after their last copy
        before = set(threading.enumerate())
        for i in range(3):
            router.complete(Request.of(f"question {i}", user="u1"))
        assert router.shadows.pending == 3  # two running, one queued behind them

        threads = [t for t in shadow_threads() if t not in before]
        assert len(threads) == router.shadows.pool_threads == 2
        assert all(t.daemon for t in threads)
        # both running copies reached the server (bounded wait on its request log)
        assert srv.wait_for(lambda log: sum(r.model == "m-b" for r in log) == 2, timeout=60)
        assert router.shadows.abandon(timeout_s=0) == 3
        assert (router.shadows.abandoned, router.shadows.pending) == (3, 0)
        assert [d.shadow_of for d in sink.decisions] == [None, None, None]  # no copy recorded
    for thread in threads:  # the server is gone: the running copies fail and end
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    # the queued copy was cancelled, never sent; the two running ones are recorded late
    assert srv.calls("m-b") == 2
    assert len([d for d in sink.decisions if d.shadow_of is not None]) == 2


@pytest.mark.parametrize(("workers", "idle"), [(0, 1.0), (1, 0.0)])
def test_the_pool_refuses_bad_sizes(workers: int, idle: float) -> None:
    with pytest.raises(ValueError, match=r"max_workers|idle_s"):
        DaemonPool(workers, "x", idle_s=idle)
