"""What the HTTP providers share: posting, timing out, and classing an answer as transient or permanent."""

from __future__ import annotations

from typing import Any

import httpx
from faka_common.outbound import UnsafeURL

from notification.domain.channels import PermanentChannelError, TransientChannelError


async def call(
    client: httpx.AsyncClient, provider: str, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    """The provider's answer; a connection fault or timeout is transient, an address the outgoing-URL
    guard refuses is permanent (the error names neither the credentials in the URL nor the content)."""
    try:
        return await client.request(method, url, **kwargs)
    except UnsafeURL as error:
        raise PermanentChannelError(f"{provider}: {error.message}") from error
    except httpx.TimeoutException as error:
        raise TransientChannelError(f"{provider} timed out ({type(error).__name__})") from error
    except httpx.HTTPError as error:
        raise TransientChannelError(f"{provider} unreachable ({type(error).__name__})") from error


def raise_for_status(provider: str, response: httpx.Response, detail: str = "") -> None:
    """5xx, 408 and 429 may pass later; any other 4xx will not."""
    status = response.status_code
    if status < 400:
        return
    reason = f"{provider} answered HTTP {status}" + (f": {detail}" if detail else "")
    if status >= 500 or status in (408, 429):
        raise TransientChannelError(reason)
    raise PermanentChannelError(reason)
