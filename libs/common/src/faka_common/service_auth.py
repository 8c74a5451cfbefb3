"""Who calls an internal route: each service's own credential and the callers a service accepts.

A service calls another with `X-Internal-Caller: <its name>` and `X-Internal-Token: <its SERVICE_TOKEN>`.
The callee knows each caller it accepts by name and by the SHA-256 digest of that caller's token
(INTERNAL_CALLERS), so no service holds another's secret: a leaked callee configuration opens nothing,
and a leaked caller token opens only the routes that admit that caller. The tokens are random (the
production checks in settings.py refuse weak ones), so a plain SHA-256 is a sufficient verifier.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from faka_common.errors import Unauthorized

INTERNAL_CALLER_HEADER = "X-Internal-Caller"
INTERNAL_TOKEN_HEADER = "X-Internal-Token"

#: The platform's services, each a possible caller of another's internal routes.
SERVICES = ("gateway", "order", "inventory", "delivery", "notification", "risk", "commission", "merchant")
CALLER_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
DIGEST = re.compile(r"^[0-9a-f]{64}$")


def development_token(service: str) -> str:
    """`service`'s development SERVICE_TOKEN: derived from its name so `make up` and the tests need no
    configuration, and refused outside development (it is published here)."""
    return f"dev-service-token-{service}-change-me"


def token_digest(token: str) -> str:
    """The verifier a callee keeps of a caller's token (`printf %s "$TOKEN" | sha256sum`)."""
    return hashlib.sha256(token.encode()).hexdigest()


def development_callers() -> dict[str, str]:
    """Every service, with the digest of its development token: whom a service accepts in development."""
    return {service: token_digest(development_token(service)) for service in SERVICES}


@dataclass(frozen=True)
class ServiceCredential:
    """What a service presents on every internal call."""

    caller: str
    token: str = field(repr=False)

    @classmethod
    def development(cls, service: str) -> ServiceCredential:
        return cls(service, development_token(service))

    def headers(self) -> dict[str, str]:
        return {INTERNAL_CALLER_HEADER: self.caller, INTERNAL_TOKEN_HEADER: self.token}


class InternalCallers:
    """The callers a service knows, each with the digest of its token."""

    def __init__(self, digests: Mapping[str, str]) -> None:
        self._digests = {name: digest.lower() for name, digest in digests.items()}

    def __contains__(self, caller: object) -> bool:
        return caller in self._digests

    def authenticate(self, caller: str | None, token: str | None) -> str:
        """The caller's name once its token matches (compared in constant time); Unauthorized otherwise,
        with a message that names what is wrong and never holds the token."""
        if not caller or not token:
            raise Unauthorized(
                f"internal endpoint: send {INTERNAL_CALLER_HEADER} (the calling service's name) and "
                f"{INTERNAL_TOKEN_HEADER} (its SERVICE_TOKEN)"
            )
        if not CALLER_NAME.match(caller):
            raise Unauthorized(f"internal endpoint: {INTERNAL_CALLER_HEADER} is not a service name")
        expected = self._digests.get(caller)
        if expected is None:
            raise Unauthorized(f"internal endpoint: {caller!r} is not among this service's INTERNAL_CALLERS")
        if not hmac.compare_digest(token_digest(token), expected):
            raise Unauthorized(f"internal endpoint: {INTERNAL_TOKEN_HEADER} is not {caller}'s SERVICE_TOKEN")
        return caller


#: The callers that may reveal a paid order's keys or delivered content: the buyer's order page (gateway)
#: and the delivered notice (notification). Each reveal is audited with the caller's name.
KEY_READERS = frozenset({"gateway", "notification"})
