"""Order status changes on Redis pub/sub: the order service announces each committed change, the gateway
pushes it to the buyers watching that order's page. Channel `<namespace>order:changed:<order_no>`, payload
the new status (nothing secret: the gateway reads the order itself, with the buyer's secret)."""


def changed_channel(prefix: str, order_no: str) -> str:
    return f"{prefix}order:changed:{order_no}"
