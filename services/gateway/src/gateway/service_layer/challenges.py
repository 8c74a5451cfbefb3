"""Checkout challenges (issue 12): when a shop's or the platform's `challenge` rule asks, an order is placed
only with a solved challenge the gateway issued: a proof of work (a SHA-256 hashcash) or a captcha (the
characters of an image drawn here, no third-party service).

A challenge is `<v>.<shop>.<expires>.<bits>.<random>.<mac>` (v 1: work, 2: captcha): the MAC (HMAC-SHA256
under a key derived from the gateway's service token) covers the kind, the shop, the client address, the
expiry, the difficulty and the random part, so who it was issued to and until when is checked without
storage and in constant time. A proof of work lives `TTL_SECONDS`; its solution is a decimal nonce such that
SHA-256(`<challenge>:<nonce>`) starts with `bits` zero bits, good once (Redis SET NX until the challenge
expires). A captcha lives `CAPTCHA_TTL_SECONDS` (a person reads and types); its answer is held in Redis only
(under the random part) and taken with GETDEL, so it is tried once, right or wrong, and compared
case-folded as digests in constant time; each image drawn counts in a window per shop and client address
(`CAPTCHAS_PER_WINDOW`), which throttles the guessing of a script and the drawing it costs (429 above).

Where the check runs: here, before the order service is asked, as one Redis script per order. The script
reads the shop's and the platform's challenge rules from the hashes the risk service publishes on every rule
change (and again on a sweep), counts the order in the rules' windows and, when a rule asks, takes the
solution's one use; an order it lets go is then taken in the placement's rate-limit windows
(`faka_common.rate_limits`' `take_all`, when they are kept in the same Redis), so a placement's Redis work is
one round trip. No HTTP hop to the risk service per order, and no in-process copy to keep fresh: a
changed rule applies to the next order on every gateway. Redis out of reach lets the order through (logged):
risk still decides on it, and buyers keep buying."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID, uuid4

from captcha.image import ImageCaptcha
from faka_common.contracts.risk_rules import rules_key
from faka_common.errors import DomainError
from faka_common.rate_limits import TAKE_ALL_FUNCTION, RedisTake, Window, email_id
from limits import RateLimitItemPerMinute
from pydantic import BaseModel, Field
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

from gateway.bootstrap import Gateway
from gateway.service_layer.rate_limits import lookup_limits, namespace

log = logging.getLogger(__name__)

Kind = Literal["proof_of_work", "captcha"]
VERSIONS: dict[Kind, str] = {"proof_of_work": "1", "captcha": "2"}
TTL_SECONDS = 120
CAPTCHA_TTL_SECONDS = 300
#: Images drawn per shop and client address in ten minutes (each wrong answer costs one).
CAPTCHAS_PER_WINDOW = 20
#: No 0/O, 1/I/L: what a person reads is what they type.
CAPTCHA_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CAPTCHA_LENGTH = 5
ALGORITHM = "sha256-leading-zero-bits"
CAPTCHA_ALGORITHM = "captcha-text"
HOW = (
    "Find a decimal nonce such that SHA-256 of '<token>:<nonce>' starts with `difficulty` zero bits; send "
    "the order again with the headers X-Challenge: <token> and X-Challenge-Nonce: <nonce>"
)
CAPTCHA_HOW = (
    "Read the characters in the image (letters are not case-sensitive); send the order again with the "
    "headers X-Challenge: <token> and X-Challenge-Answer: <the characters>. One try per image"
)
TOKEN = re.compile(r"^([12])\.([0-9a-f]{32})\.([0-9]{10})\.([0-9]{1,2})\.([0-9a-f]{32})\.([0-9a-f]{64})$")
NONCE = re.compile(r"^[0-9]{1,20}$")

# KEYS: the shop's and the platform's published rules, the solution's used-marker, then the placement's
# rate-limit windows (none: not taken here). ARGV: now (ms), the order's member id, the windows' key prefix,
# the shop, the client address ('' unknown), the e-mail's id, the difficulty the request's valid work has
# (0: none), how long its used-marker lives (ms), '1' when the request answered a captcha right, then
# `take_all`'s arguments for the placement's windows (`RedisTake`). Returns {bits asked (0: none), 1 when a
# captcha is asked, 0 ask | 1 solution used already | 2 go}; an order that goes is counted, then taken in
# the placement's windows, and `take_all`'s answer follows (0 taken, else the position of a full window).
CHECKPOINT = (
    TAKE_ALL_FUNCTION
    + """
local now = tonumber(ARGV[1])
local scopes = {ARGV[4], 'platform'}
local need, captcha = 0, 0
local counted = {}
local function ask(rule)
  if rule.kind == 'captcha' then captcha = 1 else need = math.max(need, rule.bits) end
end
for i = 1, 2 do
  local doc = redis.call('HGET', KEYS[i], 'challenges')
  if doc then
    for _, rule in ipairs(cjson.decode(doc)) do
      if rule.per == 'always' then
        ask(rule)
      else
        local value = ARGV[6]
        if rule.per == 'ip' then value = ARGV[5] end
        if value ~= '' then
          local key = ARGV[3] .. scopes[i] .. ':' .. rule.per .. ':' .. rule.window_ms .. ':' .. value
          redis.call('ZREMRANGEBYSCORE', key, '-inf', now - rule.window_ms)
          if redis.call('ZCARD', key) >= rule.limit then ask(rule) end
          counted[#counted + 1] = {key, rule.window_ms}
        end
      end
    end
  end
end
if ARGV[9] ~= '1' and (need > 0 or captcha == 1) then
  if captcha == 1 or tonumber(ARGV[7]) < need then return {need, captcha, 0} end
  if not redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[8]) then return {need, captcha, 1} end
end
for _, window in ipairs(counted) do
  redis.call('ZADD', window[1], now, ARGV[2])
  redis.call('PEXPIRE', window[1], window[2])
end
return {need, captcha, 2, take_all({unpack(KEYS, 4)}, {unpack(ARGV, 10)})}
"""
)


class Challenge(BaseModel):
    """What a 428 asks the client to solve."""

    kind: Kind = Field("proof_of_work", description="A proof of work, or a captcha's characters")
    token: str = Field(description="The challenge, as issued (send it back in X-Challenge)")
    difficulty: int = Field(
        description="Leading zero bits the hash must have (0 for a captcha)", examples=[16]
    )
    algorithm: str = Field(
        ALGORITHM, description="SHA-256 of '<token>:<nonce>', leading zero bits; or a captcha"
    )
    image: str | None = Field(
        default=None, description="The captcha's image (a data: URL of a PNG); none for a proof of work"
    )
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
    """A challenge and its nonce (work) or answer (captcha) as a request carries them (unchecked)."""

    token: str
    nonce: str
    answer: str = ""

    @classmethod
    def presented(cls, token: str | None, nonce: str | None, answer: str | None = None) -> Solution | None:
        if not token or not (nonce or answer):
            return None
        return cls(token[:200], (nonce or "")[:40], (answer or "")[:40])


@dataclass(frozen=True)
class Accepted:
    """A challenge whose MAC and expiry hold (and, for work, the work): what Redis still has to check."""

    random: str
    bits: int
    expires: int
    kind: Kind = "proof_of_work"


def challenge_key(service_token: str) -> bytes:
    """The challenges' HMAC key: derived from the gateway's service token (a secret every gateway replica
    holds and production refuses weak), under a label of its own, so no new secret is deployed."""
    return hmac.new(service_token.encode(), b"faka checkout challenge v1", hashlib.sha256).digest()


def _mac(key: bytes, version: str, shop: str, client: str, expires: int, bits: int, random: str) -> str:
    message = f"{version}|{shop}|{client}|{expires}|{bits}|{random}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _token(key: bytes, kind: Kind, shop_id: UUID, client: str, bits: int, expires: int) -> tuple[str, str]:
    """A signed challenge token and its random part."""
    version, random = VERSIONS[kind], secrets.token_hex(16)
    mac = _mac(key, version, shop_id.hex, client, expires, bits, random)
    return f"{version}.{shop_id.hex}.{expires}.{bits}.{random}.{mac}", random


def issue(key: bytes, shop_id: UUID, client: str, bits: int, now: float | None = None) -> Challenge:
    expires = int(now if now is not None else time.time()) + TTL_SECONDS
    token, _ = _token(key, "proof_of_work", shop_id, client, bits, expires)
    return Challenge(token=token, difficulty=bits, expires_at=datetime.fromtimestamp(expires, UTC))


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
    and (work) the nonce does its work; otherwise why not. A captcha's answer is checked in Redis."""
    found = TOKEN.fullmatch(solution.token)
    if found is None:
        return "the challenge's answer is malformed"
    version, shop, expires, bits, random, mac = found.groups()
    kind: Kind = "captcha" if version == VERSIONS["captcha"] else "proof_of_work"
    if not (solution.answer.strip() if kind == "captcha" else NONCE.fullmatch(solution.nonce)):
        return "the challenge's answer is malformed"
    if not hmac.compare_digest(mac, _mac(key, version, shop, client, int(expires), int(bits), random)):
        return "the challenge was not issued here for this shop and address"
    if shop != shop_id.hex:
        return "the challenge was not issued here for this shop and address"
    if int(expires) <= (now if now is not None else time.time()):
        return "the challenge has expired"
    if kind == "proof_of_work" and work(solution.token, solution.nonce) < int(bits):
        return "the nonce does not solve the challenge"
    return Accepted(random, int(bits), int(expires), kind)


def captcha_text() -> str:
    return "".join(secrets.choice(CAPTCHA_ALPHABET) for _ in range(CAPTCHA_LENGTH))


def captcha_image(text: str) -> str:
    """The text drawn distorted on noise (the `captcha` package's image), as a data: URL of a PNG."""
    png = ImageCaptcha(width=200, height=70).generate(text).getvalue()
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _digest(answer: str) -> bytes:
    return hashlib.sha256("".join(answer.split()).upper().encode()).digest()


def answer_matches(given: str, expected: str) -> bool:
    """Case-insensitively and ignoring spaces, in time that tells nothing of how much matched."""
    return hmac.compare_digest(_digest(given), _digest(expected))


def captcha_key(namespace: str, random: str) -> str:
    """Where a captcha's answer waits for its one try (tests read it; nothing answers it to a client)."""
    return f"{namespace}risk:captcha:{random}"


def captcha_window(gw: Gateway, shop_id: UUID, client: str) -> Window:
    item = RateLimitItemPerMinute(CAPTCHAS_PER_WINDOW, 10)
    whose = "your address" if client else "this shop"
    return Window(item, (*namespace(gw.settings), "captcha", shop_id.hex, client or "-"), whose, "captchas")


class Checkpoint:
    """The gateway's Redis script and its keys (made on first use; kept on the gateway)."""

    def __init__(self, url: str, namespace: str, key: bytes, timeout: float = 0.5) -> None:
        pool = BlockingConnectionPool.from_url(
            url, max_connections=64, timeout=timeout, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self.url = url
        self._redis = Redis(connection_pool=pool)
        self._namespace = namespace
        self._script = self._redis.register_script(CHECKPOINT)
        self.key = key

    async def ask(
        self,
        shop_id: UUID,
        client: str,
        email: str,
        solved: Accepted | None,
        now: float,
        captcha: bool = False,
        take: RedisTake | None = None,
    ) -> tuple[int, bool, int, int]:
        """(bits asked, whether a captcha is asked, state, what `take_all` answered for `take` when the
        order goes: 0 taken or nothing to take, else the position of a full window): see CHECKPOINT."""
        work_done = solved if solved is not None and solved.kind == "proof_of_work" else None
        used = f"{self._namespace}risk:challenge-used:{work_done.random if work_done else 'none'}"
        keys = [rules_key(self._namespace, str(shop_id)), rules_key(self._namespace, "platform"), used]
        ttl_ms = max(1, int((work_done.expires - now) * 1000)) if work_done else 1
        args: list[str | int] = [
            int(now * 1000),
            uuid4().hex,
            f"{self._namespace}risk:challenge-count:",
            str(shop_id),
            client,
            email_id(email) if email else "",
            work_done.bits if work_done else 0,
            ttl_ms,
            "1" if captcha else "0",
        ]
        if take is not None:
            keys, args = [*keys, *take.keys], [*args, *take.args]
        bits, asks_captcha, state, *full = await self._script(keys=keys, args=args)
        return int(bits), bool(asks_captcha), int(state), int(full[0]) if full else 0

    async def redeem_captcha(self, solved: Accepted, shop_id: UUID, client: str, answer: str) -> str | None:
        """Take the captcha's one try: None when the answer is right, else why not."""
        held = await self._redis.getdel(captcha_key(self._namespace, solved.random))
        if held is None:
            return "this image was answered already or has expired"
        kept = json.loads(held)
        if kept["shop"] != shop_id.hex or kept["client"] != client:
            return "the challenge was not issued here for this shop and address"
        return None if answer_matches(answer, kept["answer"]) else "the characters do not match the image"

    async def draw_captcha(self, shop_id: UUID, client: str, now: float) -> Challenge:
        """A new captcha: its answer kept for one try until it expires, its image in the challenge."""
        expires = int(now) + CAPTCHA_TTL_SECONDS
        token, random = _token(self.key, "captcha", shop_id, client, 0, expires)
        text = captcha_text()
        image = await asyncio.to_thread(captcha_image, text)
        kept = json.dumps({"shop": shop_id.hex, "client": client, "answer": text})
        await self._redis.set(captcha_key(self._namespace, random), kept, ex=CAPTCHA_TTL_SECONDS)
        return Challenge(
            kind="captcha",
            token=token,
            difficulty=0,
            algorithm=CAPTCHA_ALGORITHM,
            image=image,
            expires_at=datetime.fromtimestamp(expires, UTC),
            how=CAPTCHA_HOW,
        )

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
    gw: Gateway,
    shop_id: UUID,
    client_ip: str | None,
    email: str,
    solution: Solution | None,
    placement: Sequence[Window] = (),
) -> bool:
    """Let the order through, counted in the challenge rules' windows, or raise ChallengeRequired with a
    fresh challenge: no solution where one is asked, a wrong, expired or foreign one, or one used before;
    RateLimited when the client had its share of captchas.

    An order let through is then taken in the `placement` windows (`Limiter.take`: RateLimited when one is
    full) by the same script, when they are kept in the checkpoint's Redis. Returns whether it was: False
    when they are kept elsewhere or Redis could not be reached, and the caller takes them."""
    point, client, now = checkpoint(gw), client_ip or "", time.time()
    solved = None if solution is None else accepted(point.key, solution, shop_id, client, now)
    good = solved if isinstance(solved, Accepted) else None
    limits = lookup_limits(gw)
    take = limits.redis_take(placement, point.url)
    wrong: str | None = None
    try:
        if good is not None and good.kind == "captcha" and solution is not None:
            wrong = await point.redeem_captcha(good, shop_id, client, solution.answer)
        typed = good is not None and good.kind == "captcha" and wrong is None
        bits, captcha, state, full = await point.ask(
            shop_id, client, email, good, now, captcha=typed, take=take
        )
        if state == 2:
            if take is not None:
                await limits.settle(take, full)
            return take is not None
        if captcha:
            await limits.take([captcha_window(gw, shop_id, client)])
            challenge = await point.draw_captcha(shop_id, client, now)
        else:
            challenge = issue(point.key, shop_id, client, bits, now)
    except (RedisError, OSError) as error:
        log.warning("checkout challenges unchecked, Redis unreachable: %s", type(error).__name__)
        return False
    if state == 1:
        why = "this challenge was solved and used already: solve the new one"
    elif wrong is not None:
        why = f"{wrong}: answer the new one"
    elif isinstance(solved, str):
        why = f"{solved}: solve the new one"
    elif captcha:
        why = "this checkout asks for the characters of an image first: send the order again with them"
    elif good is not None:
        why = "the shop now asks for harder work: solve the new challenge"
    else:
        why = "this checkout asks for a proof of work first: solve the challenge and send the order again"
    raise ChallengeRequired(why, challenge)
