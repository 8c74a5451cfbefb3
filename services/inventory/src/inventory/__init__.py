"""Inventory service: the catalog and the card-key pools (import, reserve, allocate, reveal)."""
