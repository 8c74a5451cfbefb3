"""Every command and event of the platform, defined once."""

from faka_common.contracts import topics
from faka_common.contracts.accounts import AccountLinkRequested
from faka_common.contracts.delivery import DeliveryFailed, DeliverySucceeded
from faka_common.contracts.envelope import ContractError, Envelope, Message, registry
from faka_common.contracts.inventory import AllocationFailed, KeysAllocated, StockReserved, StockUnavailable
from faka_common.contracts.notification import NotificationFailed, NotificationSent
from faka_common.contracts.order import (
    OrderApproved,
    OrderCancelled,
    OrderDelivered,
    OrderPaid,
    OrderPlaced,
    OrderRejected,
)
from faka_common.contracts.risk import RiskDecided
from faka_common.contracts.shops import DEFAULT_SHOP_ID, ShopChanged

__all__ = [
    "DEFAULT_SHOP_ID",
    "AccountLinkRequested",
    "AllocationFailed",
    "ContractError",
    "DeliveryFailed",
    "DeliverySucceeded",
    "Envelope",
    "KeysAllocated",
    "Message",
    "NotificationFailed",
    "NotificationSent",
    "OrderApproved",
    "OrderCancelled",
    "OrderDelivered",
    "OrderPaid",
    "OrderPlaced",
    "OrderRejected",
    "RiskDecided",
    "ShopChanged",
    "StockReserved",
    "StockUnavailable",
    "registry",
    "topics",
]
