"""A limit store in Redis, shared by every process and host that points at it.

Each `reserve` and `settle` is one Lua script, so checks and writes are atomic: no two
calls can both pass the same under-limit reading. Every key gets a TTL (a rate bucket
until it is full again, a budget until its period is over plus a grace hour), so
nothing grows without bound. Timeouts are short and the client never retries: when
Redis is down, calls fail fast with `StoreUnavailable`, and for `down_for_s` seconds
after a failure the store does not even try (the guard then fails open or closed).

The async methods run the blocking client in a worker thread (`asyncio.to_thread`):
one connection pool serves every thread and event loop, and nothing is left open when
a loop closes. Needs the `redis` extra; redis-py is imported when the store is created.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from modelroute.limits.store import (
    BudgetCheck,
    BudgetSettle,
    BudgetState,
    RateCheck,
    Refusal,
    StoreUnavailable,
)

# KEYS: rate keys, then budget keys. ARGV: now, number of rate keys, then per rate key
# (amount, limit, window_s), then per budget key (amount, limit, ttl_ms, ticket,
# hold_until). A budget hash holds `spent`, `reserved` and one `h:<ticket>` field
# "<amount> <hold_until>" per reservation in flight.
# Returns {0} when admitted; {1, i, retry_after or '-1'} or {2, j, spent, reserved}.
RESERVE_LUA = """
local now = tonumber(ARGV[1])
local nrate = tonumber(ARGV[2])
local function fmt(x) return string.format('%.17g', x) end
local function reclaim(key)
  local fields = redis.call('HGETALL', key)
  local freed = 0
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 2) == 'h:' then
      local amount, untl = string.match(fields[i + 1], '^(%S+) (%S+)$')
      if tonumber(untl) <= now then
        redis.call('HDEL', key, fields[i])
        freed = freed + tonumber(amount)
      end
    end
  end
  if freed > 0 then return redis.call('HINCRBY', key, 'reserved', -freed) end
  return tonumber(redis.call('HGET', key, 'reserved')) or 0
end
local tats = {}
local a = 3
for i = 1, nrate do
  local amount, limit, window = tonumber(ARGV[a]), tonumber(ARGV[a+1]), tonumber(ARGV[a+2])
  a = a + 3
  if amount > limit then return {1, i, '-1'} end
  local tat = now
  local raw = redis.call('GET', KEYS[i])
  if raw then tat = math.max(tonumber(raw), now) end
  local new_tat = tat + amount * window / limit
  if new_tat - now > window * (1 + 1e-9) then return {1, i, fmt(new_tat - window - now)} end
  tats[i] = new_tat
end
local budget_args = a
for j = nrate + 1, #KEYS do
  local amount, limit = tonumber(ARGV[a]), tonumber(ARGV[a+1])
  a = a + 5
  local v = redis.call('HMGET', KEYS[j], 'spent', 'reserved')
  local spent, reserved = tonumber(v[1]) or 0, tonumber(v[2]) or 0
  if spent + reserved + amount > limit then
    reserved = reclaim(KEYS[j])
    if spent + reserved + amount > limit then return {2, j - nrate, fmt(spent), fmt(reserved)} end
  end
end
for i = 1, nrate do
  local ms = math.max(1, math.ceil((tats[i] - now) * 1000))
  redis.call('SET', KEYS[i], fmt(tats[i]), 'PX', ms)
end
a = budget_args
for j = nrate + 1, #KEYS do
  redis.call('HINCRBY', KEYS[j], 'reserved', ARGV[a])
  redis.call('HSET', KEYS[j], 'h:' .. ARGV[a+3], ARGV[a] .. ' ' .. ARGV[a+4])
  redis.call('PEXPIRE', KEYS[j], ARGV[a+2])
  a = a + 5
end
return {0}
"""

# KEYS: rate keys to refund, then budget keys. ARGV: now, number of rate keys, then per
# rate key (amount, limit, window_s), then per budget key (ticket, actual, ttl_ms,
# charge_unreserved 0/1).
SETTLE_LUA = """
local now = tonumber(ARGV[1])
local nrate = tonumber(ARGV[2])
local a = 3
for i = 1, nrate do
  local amount, limit, window = tonumber(ARGV[a]), tonumber(ARGV[a+1]), tonumber(ARGV[a+2])
  a = a + 3
  local raw = redis.call('GET', KEYS[i])
  if raw then
    local tat = tonumber(raw) - amount * window / limit
    if tat > now then
      local ms = math.max(1, math.ceil((tat - now) * 1000))
      redis.call('SET', KEYS[i], string.format('%.17g', tat), 'PX', ms)
    else
      redis.call('DEL', KEYS[i])
    end
  end
end
for j = nrate + 1, #KEYS do
  local field, actual = 'h:' .. ARGV[a], tonumber(ARGV[a+1])
  local ttl, unreserved = ARGV[a+2], ARGV[a+3]
  a = a + 4
  local hold = redis.call('HGET', KEYS[j], field)
  if hold then
    redis.call('HDEL', KEYS[j], field)
    local amount = tonumber(string.match(hold, '^(%S+)'))
    if redis.call('HINCRBY', KEYS[j], 'reserved', -amount) < 0 then
      redis.call('HSET', KEYS[j], 'reserved', 0)
    end
  end
  if (hold or unreserved == '1') and actual ~= 0 then
    redis.call('HINCRBY', KEYS[j], 'spent', actual)
  end
  if redis.call('EXISTS', KEYS[j]) == 1 then redis.call('PEXPIRE', KEYS[j], ttl) end
end
return 0
"""


def _ttl_ms(ttl_s: float) -> int:
    return max(1000, round(ttl_s * 1000))


def _rate_args(now: float, rates: Sequence[RateCheck]) -> list[Any]:
    out: list[Any] = [repr(now), len(rates)]
    for rc in rates:
        out += [rc.amount, rc.limit, repr(rc.window_s)]
    return out


def _refusal(reply: Sequence[Any]) -> Refusal | None:
    kind = int(reply[0])
    if kind == 0:
        return None
    index = int(reply[1]) - 1
    if kind == 1:
        retry = float(reply[2])
        return Refusal("rate", index, retry_after_s=None if retry < 0 else retry)
    return Refusal("budget", index, spent=int(float(reply[2])), reserved=int(float(reply[3])))


class RedisStore:
    """Limit state in Redis at `url` (e.g. `redis://127.0.0.1:6379/0`).

    `prefix` starts every key. `timeout_s` bounds connecting and each reply (seconds);
    at most `pool_size` connections per process, waiting at most
    `pool_timeout_s` for a free one. After a failure the store reports
    `StoreUnavailable` at once for `down_for_s` seconds, then tries again. For Redis
    Cluster put a hash tag in the prefix (e.g. `{modelroute}:`) so one script's keys
    share a slot.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "modelroute:",
        timeout_s: float = 0.5,
        pool_size: int = 16,
        pool_timeout_s: float = 1.0,
        down_for_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        import redis

        self.url = url
        self.prefix = prefix
        self.timeout_s = timeout_s
        self.pool_size = pool_size
        self.pool_timeout_s = pool_timeout_s
        self.down_for_s = down_for_s
        self._monotonic = monotonic
        self._down_until = 0.0
        pool = redis.BlockingConnectionPool.from_url(url, **self._pool_kwargs())
        self._client = redis.Redis(connection_pool=pool)
        self._reserve = self._client.register_script(RESERVE_LUA)
        self._settle = self._client.register_script(SETTLE_LUA)

    def _pool_kwargs(self) -> dict[str, Any]:
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        return {
            "max_connections": self.pool_size,
            "timeout": self.pool_timeout_s,
            "socket_timeout": self.timeout_s,
            "socket_connect_timeout": self.timeout_s,
            "retry": Retry(NoBackoff(), 0),
        }

    def __repr__(self) -> str:
        return f"RedisStore(prefix={self.prefix!r})"  # the URL may hold a password

    def key(self, name: str) -> str:
        """The Redis key of logical key `name`."""
        return self.prefix + name

    # -- the store protocol -------------------------------------------------------------

    def reserve(
        self, rates: Sequence[RateCheck], budgets: Sequence[BudgetCheck], now: float
    ) -> Refusal | None:
        """Apply every check or none, atomically in Redis."""
        keys, args = self._reserve_call(rates, budgets, now)
        return _refusal(self._run(lambda: self._reserve(keys=keys, args=args)))

    async def areserve(
        self, rates: Sequence[RateCheck], budgets: Sequence[BudgetCheck], now: float
    ) -> Refusal | None:
        """Async twin of `reserve`."""
        return await asyncio.to_thread(self.reserve, rates, budgets, now)

    def settle(
        self, refunds: Sequence[RateCheck], budgets: Sequence[BudgetSettle], now: float
    ) -> None:
        """Refund buckets and settle budgets, atomically in Redis."""
        keys, args = self._settle_call(refunds, budgets, now)
        self._run(lambda: self._settle(keys=keys, args=args))

    async def asettle(
        self, refunds: Sequence[RateCheck], budgets: Sequence[BudgetSettle], now: float
    ) -> None:
        """Async twin of `settle`."""
        await asyncio.to_thread(self.settle, refunds, budgets, now)

    def budget_state(self, key: str) -> BudgetState:
        """The current state of budget `key`."""
        spent, reserved = self._run(lambda: self._client.hmget(self.key(key), "spent", "reserved"))
        return BudgetState(int(spent or 0), int(reserved or 0))

    def rate_tat(self, key: str, now: float) -> float | None:
        """The stored `tat` of rate bucket `key` (None when the key has expired)."""
        raw = self._run(lambda: self._client.get(self.key(key)))
        return None if raw is None else float(raw)

    def close(self) -> None:
        """Close the connections."""
        self._client.close()

    # -- internals ----------------------------------------------------------------------

    def _reserve_call(
        self, rates: Sequence[RateCheck], budgets: Sequence[BudgetCheck], now: float
    ) -> tuple[list[str], list[Any]]:
        keys = [self.key(c.key) for c in rates] + [self.key(c.key) for c in budgets]
        args = _rate_args(now, rates)
        for c in budgets:
            args += [c.amount, c.limit, _ttl_ms(c.ttl_s), c.ticket, repr(c.hold_until)]
        return keys, args

    def _settle_call(
        self, refunds: Sequence[RateCheck], budgets: Sequence[BudgetSettle], now: float
    ) -> tuple[list[str], list[Any]]:
        keys = [self.key(c.key) for c in refunds] + [self.key(c.key) for c in budgets]
        args = _rate_args(now, refunds)
        for c in budgets:
            args += [c.ticket, c.actual, _ttl_ms(c.ttl_s), int(c.charge_unreserved)]
        return keys, args

    def _check_up(self) -> None:
        if self._monotonic() < self._down_until:
            raise StoreUnavailable("limit store (Redis) is down; not retrying yet")

    def _failed(self, exc: Exception) -> StoreUnavailable:
        self._down_until = self._monotonic() + self.down_for_s
        return StoreUnavailable(f"limit store (Redis) failed: {type(exc).__name__}: {exc}")

    def _run(self, op: Callable[[], Any]) -> Any:
        import redis

        self._check_up()
        try:
            return op()
        except (redis.RedisError, OSError) as exc:
            raise self._failed(exc) from None
