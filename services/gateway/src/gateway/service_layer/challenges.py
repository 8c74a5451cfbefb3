"""Checkout challenges (issue 12): when a shop's or the platform's `challenge` rule asks, an order is placed
only with a solved proof of work: a SHA-256 hashcash whose challenge the gateway issued.

A challenge is `1.<shop>.<expires>.<bits>.<random>.<mac>`: the MAC (HMAC-SHA256 under a key derived from the
gateway's service token) covers the shop, the client address, the expiry, the difficulty and the random part,
so it is checked without storage and in constant time; it lives `TTL_SECONDS`. A solution is a decimal
nonce such that SHA-256(`<challenge>:<nonce>`) starts with `bits` zero bits; it is good once (Redis SET NX
until the challenge expires).

Where the check runs: here, before the order service is asked, as one Redis script per order. The script
reads the shop's and the platform's challenge rules from the hashes the risk service publishes on every rule
change (and again on a sweep), counts the order in the rules' windows and, when a rule asks, takes the
solution's one use. No HTTP hop to the risk service per order, and no in-process copy to keep fresh: a
changed rule applies to the next order on every gateway. Redis out of reach lets the order through (logged):
risk still decides on it, and buyers keep buying."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from faka_common.contracts.risk_rules import rules_key
from faka_common.errors import DomainError
from faka_common.rate_limits import email_id
from pydantic import BaseModel, Field
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

from gateway.bootstrap import Gateway

log = logging.getLogger(__name__)

TTL_SECONDS = 120
ALGORITHM = "sha256-leading-zero-bits"
HOW = (
    "Find a decimal nonce such that SHA-256 of '<token>:<nonce>' starts with `difficulty` zero bits; send "
    "the order again with the headers X-Challenge: <token> and X-Challenge-Nonce: <nonce>"
)
TOKEN = re.compile(r"^1\.([0-9a-f]{32})\.([0-9]{10})\.([0-9]{1,2})\.([0-9a-f]{32})\.([0-9a-f]{64})$")
NONCE = re.compile(r"^[0-9]{1,20}$")

# KEYS: the shop's and the platform's published rules, the solution's used-marker. ARGV: now (ms), the
# order's member id, the windows' key prefix, the shop, the client address ('' unknown), the e-mail's id,
# the difficulty the request's valid solution has (0: none), how long its used-marker lives (ms).
# Returns {bits asked (0: none), 0 ask | 1 solution used already | 2 go}; an order that goes is counted.
CHECKPOINT = """
local now = tonumber(ARGV[1])
local scopes = {ARGV[4], 'platform'}
local need = 0
local counted = {}
for i = 1, 2 do
  local doc = redis.call('HGET', KEYS[i], 'challenges')
  if doc then
    for _, rule in ipairs(cjson.decode(doc)) do
      if rule.per == 'always' then
        need = math.max(need, rule.bits)
      else
        local value = ARGV[6]
        if rule.per == 'ip' then value = ARGV[5] end
        if value ~= '' then
          local key = ARGV[3] .. scopes[i] .. ':' .. rule.per .. ':' .. rule.window_ms .. ':' .. value
          redis.call('ZREMRANGEBYSCORE', key, '-inf', now - rule.window_ms)
          if redis.call('ZCARD', key) >= rule.limit then need = math.max(need, rule.bits) end
          counted[#counted + 1] = {key, rule.window_ms}
        end
      end
    end
  end
end
if need > 0 then
  if tonumber(ARGV[7]) < need then return {need, 0} end
  if not redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[8]) then return {need, 1} end
end
for _, window in ipairs(counted) do
  redis.call('ZADD', window[1], now, ARGV[2])
  redis.call('PEXPIRE', window[1], window[2])
end
return {need, 2}
"""


class Challenge(BaseModel):
    """What a 428 asks the client to solve."""

    token: str = Field(description="The challenge, as issued (send it back in X-Challenge)")
    difficulty: int = Field(description="Leading zero bits the hash must have", examples=[16])
    algorithm: str = Field(ALGORITHM, description="SHA-256 of '<token>:<nonce>', leading zero bits")
    expires_at: datetime
    how: str = HOW


class ChallengeAnswer(BaseModel):
    """428: the order needs a solved challenge first."""

    error: str = Field("challenge_required", examples=["challenge_required"])
    message: str
    challenge: Challenge


class ChallengeRequired(DomainError):
    status_code = 428
    code = "challenge_required"

    def __init__(self, message: str, challenge: Challenge) -> None:
        super().__init__(message)
        self.challenge = challenge

    def body(self) -> dict[str, Any]:
        return ChallengeAnswer(message=self.message, challenge=self.challenge).model_dump(mode="json")


@dataclass(frozen=True)
class Solution:
    """A challenge and its nonce as a request carries them (unchecked)."""

    token: str
    nonce: str

    @classmethod
    def presented(cls, token: str | None, nonce: str | None) -> Solution | None:
        return cls(token[:200], nonce[:40]) if token and nonce else None


@dataclass(frozen=True)
class Accepted:
    """A solution whose MAC, expiry and work hold: what the Redis script still has to check."""

    random: str
    bits: int
    expires: int


def challenge_key(service_token: str) -> bytes:
    """The challenges' HMAC key: derived from the gateway's service token (a secret every gateway replica
    holds and production refuses weak), under a label of its own, so no new secret is deployed."""
    return hmac.new(service_token.encode(), b"faka checkout challenge v1", hashlib.sha256).digest()


def _mac(key: bytes, shop: str, client: str, expires: int, bits: int, random: str) -> str:
    message = f"1|{shop}|{client}|{expires}|{bits}|{random}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def issue(key: bytes, shop_id: UUID, client: str, bits: int, now: float | None = None) -> Challenge:
    expires = int(now if now is not None else time.time()) + TTL_SECONDS
    random = secrets.token_hex(16)
    mac = _mac(key, shop_id.hex, client, expires, bits, random)
    return Challenge(
        token=f"1.{shop_id.hex}.{expires}.{bits}.{random}.{mac}",
        difficulty=bits,
        expires_at=datetime.fromtimestamp(expires, UTC),
    )


def leading_zero_bits(digest: bytes) -> int:
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


def work(token: str, nonce: str) -> int:
    """The leading zero bits of SHA-256('<token>:<nonce>')."""
    return leading_zero_bits(hashlib.sha256(f"{token}:{nonce}".encode()).digest())


def solve(token: str, bits: int) -> str:
    """The first nonce that does the work (what the storefront's script does in the browser)."""
    nonce = 0
    while work(token, str(nonce)) < bits:
        nonce += 1
    return str(nonce)


def accepted(
    key: bytes, solution: Solution, shop_id: UUID, client: str, now: float | None = None
) -> Accepted | str:
    """The solution's challenge if it was issued here for this shop and client address, has not expired
    and the nonce does its work; otherwise why not."""
    found = TOKEN.fullmatch(solution.token)
    if found is None or not NONCE.fullmatch(solution.nonce):
        return "the challenge's answer is malformed"
    shop, expires, bits, random, mac = found.groups()
    if not hmac.compare_digest(mac, _mac(key, shop, client, int(expires), int(bits), random)):
        return "the challenge was not issued here for this shop and address"
    if shop != shop_id.hex:
        return "the challenge was not issued here for this shop and address"
    if int(expires) <= (now if now is not None else time.time()):
        return "the challenge has expired"
    if work(solution.token, solution.nonce) < int(bits):
        return "the nonce does not solve the challenge"
    return Accepted(random, int(bits), int(expires))


class Checkpoint:
    """The gateway's Redis script and its keys (made on first use; kept on the gateway)."""

    def __init__(self, url: str, namespace: str, key: bytes, timeout: float = 0.5) -> None:
        pool = BlockingConnectionPool.from_url(
            url, max_connections=64, timeout=timeout, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._redis = Redis(connection_pool=pool)
        self._namespace = namespace
        self._script = self._redis.register_script(CHECKPOINT)
        self.key = key

    async def ask(
        self, shop_id: UUID, client: str, email: str, solved: Accepted | None, now: float
    ) -> tuple[int, int]:
        used = f"{self._namespace}risk:challenge-used:{solved.random if solved else 'none'}"
        keys = [rules_key(self._namespace, str(shop_id)), rules_key(self._namespace, "platform"), used]
        ttl_ms = max(1, int((solved.expires - now) * 1000)) if solved else 1
        args: list[str | int] = [
            int(now * 1000),
            uuid4().hex,
            f"{self._namespace}risk:challenge-count:",
            str(shop_id),
            client,
            email_id(email) if email else "",
            solved.bits if solved else 0,
            ttl_ms,
        ]
        bits, state = await self._script(keys=keys, args=args)
        return int(bits), int(state)

    async def aclose(self) -> None:
        await self._redis.aclose()


def checkpoint(gw: Gateway) -> Checkpoint:
    found = getattr(gw, "challenge_checkpoint", None)
    if not isinstance(found, Checkpoint):
        key = challenge_key(gw.settings.service_token.get_secret_value())
        found = Checkpoint(gw.settings.redis_url, gw.settings.kafka_namespace, key)
        setattr(gw, "challenge_checkpoint", found)  # noqa: B010
    return found


async def pass_checkout(
    gw: Gateway, shop_id: UUID, client_ip: str | None, email: str, solution: Solution | None
) -> None:
    """Let the order through, counted in the challenge rules' windows, or raise ChallengeRequired with a
    fresh challenge: no solution where one is asked, a wrong, expired or foreign one, or one used before."""
    point, client, now = checkpoint(gw), client_ip or "", time.time()
    solved = None if solution is None else accepted(point.key, solution, shop_id, client, now)
    good = solved if isinstance(solved, Accepted) else None
    try:
        bits, state = await point.ask(shop_id, client, email, good, now)
    except (RedisError, OSError) as error:
        log.warning("checkout challenges unchecked, Redis unreachable: %s", type(error).__name__)
        return
    if state == 2:
        return
    if state == 1:
        why = "this challenge was solved and used already: solve the new one"
    elif isinstance(solved, str):
        why = f"{solved}: solve the new one"
    elif isinstance(solved, Accepted):
        why = "the shop now asks for harder work: solve the new challenge"
    else:
        why = "this checkout asks for a proof of work first: solve the challenge and send the order again"
    raise ChallengeRequired(why, issue(point.key, shop_id, client, bits, now))
