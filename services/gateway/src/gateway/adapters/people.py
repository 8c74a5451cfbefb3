"""People signing in to the console: merchant's platform-level people routes (sign-in, the session a token
opens, TOTP, passwords, one-time links). A session's token travels in the X-Session-Token header and bodies,
never in a URL; bodies are sent as ASCII JSON, so any string the gateway accepted reaches merchant intact."""

from __future__ import annotations

import json
from typing import Any

from faka_common.errors import DomainError, NotFound

from gateway.adapters.owners import Owner, json_body

SESSION_HEADER = "X-Session-Token"


class LinkInvalid(NotFound):
    code = "link_invalid"


class MerchantPeople:
    """The people routes of merchant, for the console; merchant's 4xx come back as its DomainErrors (a 429
    as RateLimited with the seconds to wait, as InternalClient raises it)."""

    def __init__(self, merchant: Owner) -> None:
        self._merchant = merchant

    async def sign_in(self, body: dict[str, Any]) -> Any:
        return await self._send("POST", "/internal/sign-in", body=body)

    async def complete_sign_in(self, body: dict[str, Any]) -> Any:
        return await self._send("POST", "/internal/sign-in/second-factor", body=body)

    async def session(self, token: str) -> Any:
        return await self._send("GET", "/internal/sessions/current", token=token)

    async def sign_out(self, token: str) -> None:
        await self._send("DELETE", "/internal/sessions/current", token=token)

    async def change_password(self, token: str, body: dict[str, Any]) -> None:
        await self._send("POST", "/internal/sessions/current/password", token=token, body=body)

    async def step_up(self, token: str, body: dict[str, Any]) -> Any:
        return await self._send("POST", "/internal/sessions/current/step-up", token=token, body=body)

    async def begin_totp(self, token: str) -> Any:
        return await self._send("POST", "/internal/sessions/current/totp", token=token)

    async def confirm_totp(self, token: str, body: dict[str, Any]) -> Any:
        return await self._send("POST", "/internal/sessions/current/totp/confirm", token=token, body=body)

    async def regenerate_recovery_codes(self, token: str) -> Any:
        return await self._send("POST", "/internal/sessions/current/recovery-codes", token=token)

    async def request_password_reset(self, body: dict[str, Any]) -> Any:
        return await self._send("POST", "/internal/password-resets", body=body)

    async def request_email_verification(self, token: str) -> Any:
        return await self._send("POST", "/internal/sessions/current/email-verification", token=token)

    async def redeem_link(self, body: dict[str, Any]) -> Any:
        """Merchant's 410 (unknown, used, expired, another purpose) is the gateway's 404 of any secret that
        opens nothing (as a wrong order token): a link that no longer works is no link."""
        try:
            return await self._send("POST", "/internal/links/redeem", body=body)
        except DomainError as error:
            if error.status_code == 410:
                raise LinkInvalid(error.message) from None
            raise

    async def _send(
        self, method: str, path: str, *, token: str | None = None, body: dict[str, Any] | None = None
    ) -> Any:
        headers = {} if token is None else {SESSION_HEADER: token}
        kwargs: dict[str, Any] = {}
        if body is not None:
            headers["Content-Type"] = "application/json"
            kwargs["content"] = json.dumps(body).encode()
        response = await self._merchant.request(method, path, headers=headers, **kwargs)
        return None if response.status_code == 204 else json_body(response)
