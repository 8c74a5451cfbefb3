"""The commission unit of work: for now only the messaging tables (inbox, outbox)."""

from faka_common.db.uow import UnitOfWork


class CommissionUnitOfWork(UnitOfWork):
    """No repositories yet; the inbox row is the record that a delivery was seen."""
