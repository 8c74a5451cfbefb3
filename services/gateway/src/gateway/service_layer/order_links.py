"""A buyer who lost the order's link asks for it by e-mail. The answer never says whether the order exists or
the address is its buyer's: the request is counted in its windows (per client address and per order number,
whatever the outcome) and answered, and only then passed on to the order service, so not even the time of
the answer depends on the order. The order service has the link e-mailed only when the address is the
order's, and the e-mail goes to the address the order was placed with."""

from __future__ import annotations

import logging

from faka_common.errors import DomainError

from gateway.adapters.owners import segment
from gateway.bootstrap import Gateway
from gateway.service_layer.rate_limits import link_email_keys, lookup_limits

log = logging.getLogger(__name__)

#: The window shared by order numbers that cannot exist (no order number contains "!").
MALFORMED = "!malformed"
#: The one answer, whatever the order and the address.
ACCEPTED = {"status": "accepted"}


async def count_request(gw: Gateway, order_no: str | None, client_ip: str | None) -> None:
    """Count one request in the client address's and the order number's windows (None: a malformed one);
    429 with Retry-After when one is full."""
    limits = lookup_limits(gw)
    await limits.take(link_email_keys(gw.settings, client_ip, order_no or MALFORMED))


async def pass_on(gw: Gateway, order_no: str, email: str) -> None:
    """Ask the order service to have the link e-mailed. It runs after the answer was sent, so a failure is
    logged (without the address) and the buyer simply asks again."""
    path = f"/internal/orders/{segment(order_no)}/link-emails"
    try:
        await gw.order.request("POST", path, json={"email": email}, platform=True)
    except DomainError as error:
        log.warning("order %s: link e-mail request not passed on (%s)", order_no, error.code)
