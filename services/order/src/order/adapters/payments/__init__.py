"""Payment provider adapters behind one interface (create, verify, query, refund)."""
