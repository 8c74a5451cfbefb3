"""People of the platform: the roles they act in, and the merchant service's account events. A secret (a
password, a one-time link's token, a session) never travels on Kafka: whoever must send a link asks the
merchant service for one over HTTP."""

from datetime import datetime
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from faka_common.contracts import topics
from faka_common.contracts.envelope import Message

#: What a person may do across the whole platform: admin (shops, staff, settings) or support (read, help).
PlatformRole = Literal["admin", "support"]
#: What a person may do in one shop: owner (everything, other owners too), manager (everything but owners),
#: operator (orders, manual queue, key import), support (orders read, after-sales), viewer (read only).
ShopRole = Literal["owner", "manager", "operator", "support", "viewer"]
#: What a shop's API token may be given to do (the gateway's role table says which routes each opens).
ApiTokenScope = Literal[
    "catalog:read",
    "catalog:write",
    "keys:import",
    "keys:export",
    "orders:read",
    "orders:write",
    "delivery:read",
    "delivery:write",
    "pricing:read",
    "pricing:write",
]
#: What a one-time link e-mailed to a person is for.
LinkPurpose = Literal["password_reset", "email_verification", "account_setup"]


class AccountLinkRequested(Message):
    """A person is to be e-mailed a one-time link: the notification service asks the merchant service for it
    (`POST /internal/accounts/{account_id}/links` with the purpose) and sends it to the address it answers."""

    type_name: ClassVar[str] = "AccountLinkRequested"
    topic: ClassVar[str] = topics.MERCHANT_EVENTS
    key_field: ClassVar[str] = "account_id"

    account_id: UUID
    purpose: LinkPurpose = Field(examples=["password_reset"])
    requested_at: datetime
    shop_id: UUID | None = Field(
        default=None,
        description="The shop that invited the person (its sender may send the link); null: the platform",
    )
